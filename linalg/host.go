package linalg

import (
	"fmt"
	"os"
	"sync"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	gonumlapack "gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// The host linear algebra is chosen once, when the package is initialized:
// OpenBLAS when the process can load it, gonum's pure Go otherwise.
//
// OpenBLAS is looked for at run time with dlopen, without cgo or build
// tags (a CGO_ENABLED=0 binary uses it too), on Linux (amd64, arm64):
// libopenblas.so.0, then libopenblas.so, for BLAS, and LAPACKE's symbols
// in it or else in liblapacke.so.3, then liblapacke.so (Debian packages
// libopenblas0-pthread and liblapacke). With OpenBLAS, gonum's blas64
// calls its level 2 and 3 routines (openblasBLAS: Gram, CrossGram, the
// triangular solves of Cholesky); with LAPACKE too, gonum's lapack64 calls
// LAPACK's Cholesky factorization and inversion (openblasLAPACK) and
// SymEigen calls dsyevd. Everything else is gonum's, which itself calls
// the host BLAS. Setting the environment variable LQF_HOST_BLAS=gonum
// keeps everything gonum's pure Go (and does not load OpenBLAS); other
// values are ignored.
//
// Threads: OpenBLAS runs each call on its own thread pool
// (OPENBLAS_NUM_THREADS threads, all cores by default). lqf's own code
// calls the host linear algebra from one goroutine at a time, but several
// goroutines may call it at once (tests, programs built on lqf), which
// relies on a thread-safe OpenBLAS: Debian's libopenblas0-pthread and
// -openmp are; a serial build must have been built with USE_LOCKING=1.

// hostBLASEnv names the environment variable that forces gonum.
const hostBLASEnv = "LQF_HOST_BLAS"

// Shared objects tried in order: OpenBLAS's runtime library (Debian
// package libopenblas0-pthread), then the C interface to LAPACK (package
// liblapacke), unless OpenBLAS exports LAPACKE itself.
var (
	openblasNames = []string{"libopenblas.so.0", "libopenblas.so"}
	lapackeNames  = []string{"liblapacke.so.3", "liblapacke.so"}
)

var (
	// hostName is what HostLinearAlgebra returns.
	hostName string
	// hostLAPACKE is what SymEigen calls, nil when it is gonum's.
	hostLAPACKE *lapackeLib

	openblasOnce sync.Once
	openblasLoad *openblasLib
	openblasErr  error
)

func init() {
	name := "openblas"
	if os.Getenv(hostBLASEnv) == "gonum" {
		name = "gonum"
	}
	if UseHostLinearAlgebra(name) != nil {
		UseHostLinearAlgebra("gonum")
	}
}

// HostLinearAlgebra names the BLAS/LAPACK implementation in use:
// "openblas" when OpenBLAS was found (and LQF_HOST_BLAS is not "gonum"),
// otherwise "gonum" (gonum's pure Go).
func HostLinearAlgebra() string { return hostName }

// loadedOpenBLAS loads OpenBLAS (and LAPACKE) on the first call and
// returns the result of that one attempt.
func loadedOpenBLAS() (*openblasLib, error) {
	openblasOnce.Do(func() { openblasLoad, openblasErr = loadOpenBLAS() })
	return openblasLoad, openblasErr
}

// UseHostLinearAlgebra makes "openblas" or "gonum" the host linear
// algebra (blas64, lapack64 and SymEigen), or returns an error and changes
// nothing when OpenBLAS cannot be loaded. It must not run concurrently
// with host linear algebra: tests and benchmarks call it to compare the
// two in one process.
func UseHostLinearAlgebra(name string) error {
	switch name {
	case "gonum":
		blas64.Use(gonum.Implementation{})
		lapack64.Use(gonumlapack.Implementation{})
		hostLAPACKE = nil
	case "openblas":
		lib, err := loadedOpenBLAS()
		if err != nil {
			return err
		}
		useOpenBLAS(lib)
	default:
		return fmt.Errorf("linalg: unknown host linear algebra %q (openblas or gonum)", name)
	}
	hostName = name
	return nil
}

// useOpenBLAS routes blas64 to lib and, when lib has LAPACKE, lapack64 and
// SymEigen too (gonum's LAPACK otherwise).
func useOpenBLAS(lib *openblasLib) {
	blas64.Use(openblasBLAS{lib: lib})
	if lib.lapacke != nil {
		lapack64.Use(openblasLAPACK{lib: lib.lapacke})
	} else {
		lapack64.Use(gonumlapack.Implementation{})
	}
	hostLAPACKE = lib.lapacke
}

package linalg

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/mat"
)

// TestHostLinearAlgebraDefault: without LQF_HOST_BLAS, the package uses
// OpenBLAS exactly when it can load it.
func TestHostLinearAlgebraDefault(t *testing.T) {
	if os.Getenv(hostBLASEnv) == "gonum" {
		t.Skipf("%s=gonum is set", hostBLASEnv)
	}
	want := "openblas"
	if _, err := loadedOpenBLAS(); err != nil {
		want = "gonum"
		t.Logf("OpenBLAS not found: %v", err)
	}
	if got := HostLinearAlgebra(); got != want {
		t.Fatalf("HostLinearAlgebra() = %q, want %q", got, want)
	}
	if _, ok := blas64.Implementation().(openblasBLAS); ok != (want == "openblas") {
		t.Errorf("blas64 uses %T under %q", blas64.Implementation(), want)
	}
}

// TestHostBLASEnvForcesGonum runs itself in a child process with
// LQF_HOST_BLAS=gonum, where the package must start on gonum's pure Go
// without loading OpenBLAS.
func TestHostBLASEnvForcesGonum(t *testing.T) {
	const child = "LINALG_TEST_FORCED_GONUM"
	if os.Getenv(child) == "1" {
		if got := HostLinearAlgebra(); got != "gonum" {
			t.Errorf("HostLinearAlgebra() = %q under %s=gonum", got, hostBLASEnv)
		}
		if _, ok := blas64.Implementation().(gonum.Implementation); !ok {
			t.Errorf("blas64 uses %T under %s=gonum", blas64.Implementation(), hostBLASEnv)
		}
		if hostLAPACKE != nil || openblasLoad != nil || openblasErr != nil {
			t.Errorf("OpenBLAS was looked for under %s=gonum", hostBLASEnv)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostBLASEnvForcesGonum$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), hostBLASEnv+"=gonum", child+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestHostBLASEnvForcesGonum") {
		t.Fatalf("child process with %s=gonum: %v\n%s", hostBLASEnv, err, out)
	}
}

// TestMissingLibraries: without OpenBLAS loading fails (and the package
// stays on gonum); with OpenBLAS but no LAPACKE, BLAS is OpenBLAS's while
// LAPACK and SymEigen are gonum's, and still correct.
func TestMissingLibraries(t *testing.T) {
	needOpenBLAS(t)
	names, lnames := openblasNames, lapackeNames
	defer func() { openblasNames, lapackeNames = names, lnames }()
	openblasNames = []string{"libopenblas-missing.so.0"}
	if lib, err := loadOpenBLAS(); err == nil || lib != nil {
		t.Fatalf("loading a missing OpenBLAS gave %v, %v", lib, err)
	}
	openblasNames, lapackeNames = names, []string{"liblapacke-missing.so.3"}
	lib, err := loadOpenBLAS()
	if err != nil {
		t.Fatal(err)
	}
	if lib.lapacke != nil {
		t.Skipf("%s exports LAPACKE itself", lib.path)
	}
	defer UseHostLinearAlgebra(HostLinearAlgebra())
	useOpenBLAS(lib)
	if _, ok := blas64.Implementation().(openblasBLAS); !ok || hostLAPACKE != nil {
		t.Fatalf("blas64 uses %T, SymEigen's LAPACKE is %v", blas64.Implementation(), hostLAPACKE)
	}
	s := randomSym(40, 13)
	v, w, err := SymEigen(s)
	if err != nil {
		t.Fatal(err)
	}
	var rebuilt mat.Dense
	rebuilt.Mul(v, mat.NewDiagDense(40, w))
	rebuilt.Mul(&rebuilt, v.T())
	if e := MaxRelError(rebuilt.RawMatrix().Data, mat.DenseCopyOf(s).RawMatrix().Data); e > 1e-12 {
		t.Errorf("V diag(w) V^T differs from s by %.3g", e)
	}
}

// TestHostLinearAlgebraAgree computes Gram, CrossGram, SolveKernel,
// ShiftedCholesky's solves and inverse, and SymEigen under gonum and under
// OpenBLAS, switched at run time on the same inputs, and requires
// max |openblas - gonum| / max |gonum| <= 1e-9 for each. Gram's sizes
// leave partial column blocks and row tiles.
func TestHostLinearAlgebraAgree(t *testing.T) {
	lib := needOpenBLAS(t)
	if lib.lapacke == nil {
		t.Log("without LAPACKE, Cholesky and SymEigen are gonum's on OpenBLAS's BLAS")
	}
	rng := rand.New(rand.NewPCG(11, 11))
	ra, rb, p := gramRows+19, 70, gramColumns+53
	ja, jb := make([]float32, ra*p), make([]float32, rb*p)
	for i := range ja {
		ja[i] = float32(rng.NormFloat64())
	}
	for i := range jb {
		jb[i] = float32(rng.NormFloat64())
	}
	r := make([]float64, ra)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	rhs := mat.NewDense(ra, 3, nil)
	for i := range ra {
		for j := range 3 {
			rhs.Set(i, j, rng.NormFloat64())
		}
	}
	sym := randomSym(150, 12)

	names := []string{"Gram", "CrossGram", "SolveKernel", "Cholesky.SolveVecTo", "Cholesky.SolveTo",
		"Cholesky.InverseTo", "SymEigen values", "SymEigen vectors"}
	compute := func(t *testing.T) [][]float64 {
		k := Gram(ja, ra, p)
		x := CrossGram(ja, ra, jb, rb, p)
		dw, err := SolveKernel(ja, ra, p, k, r, 1)
		if err != nil {
			t.Fatal(err)
		}
		chol, err := ShiftedCholesky(k, 1)
		if err != nil {
			t.Fatal(err)
		}
		var v mat.VecDense
		var s mat.Dense
		var inv mat.SymDense
		if err := chol.SolveVecTo(&v, mat.NewVecDense(ra, r)); err != nil {
			t.Fatal(err)
		}
		if err := chol.SolveTo(&s, rhs); err != nil {
			t.Fatal(err)
		}
		if err := chol.InverseTo(&inv); err != nil {
			t.Fatal(err)
		}
		vectors, values, err := SymEigen(sym)
		if err != nil {
			t.Fatal(err)
		}
		return [][]float64{k.RawSymmetric().Data, x.RawMatrix().Data, dw, v.RawVector().Data,
			s.RawMatrix().Data, inv.RawSymmetric().Data, values, signed(vectors)}
	}
	defer UseHostLinearAlgebra(HostLinearAlgebra())
	if err := UseHostLinearAlgebra("gonum"); err != nil {
		t.Fatal(err)
	}
	want := compute(t)
	if err := UseHostLinearAlgebra("openblas"); err != nil {
		t.Fatal(err)
	}
	got := compute(t)
	for i, name := range names {
		if e := MaxRelError(got[i], want[i]); e > 1e-9 || math.IsNaN(e) {
			t.Errorf("%s: max |openblas - gonum| / max |gonum| = %.3g", name, e)
		}
	}
}

// signed returns the entries of v with each column's sign chosen to make
// its largest entry positive, which fixes the eigenvectors of distinct
// eigenvalues.
func signed(v *mat.Dense) []float64 {
	r, c := v.Dims()
	out := make([]float64, 0, r*c)
	for j := range c {
		col := mat.Col(nil, j, v)
		big := 0
		for i, x := range col {
			if math.Abs(x) > math.Abs(col[big]) {
				big = i
			}
		}
		if col[big] < 0 {
			for i := range col {
				col[i] = -col[i]
			}
		}
		out = append(out, col...)
	}
	return out
}

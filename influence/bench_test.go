package influence

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// BenchmarkExactLeaveOneOut times exact leave-one-out for every training
// sample (NewExact + LeaveOneOut: N samples, C = 10 classes, 100 test
// outputs) and, in the same run, one naive retraining without one sample,
// and reports loo_seconds, retrain_one_seconds and speedup_vs_naive =
// N retrain_one_seconds / loo_seconds (the cost of N retrainings).
//
// The timing depends only on the dimensions, so the kernel is synthetic:
// K = G G^T / d with G a seeded Gaussian [N*C + 100, d] matrix, d = 2000
// (training rows first, test rows last), and rho = 1, which keeps the
// condition number of K + rho I near 11 at N*C = 10,000.
//
// It also reports peak_rss_GiB, the process's peak resident memory
// during NewExact + LeaveOneOut (the benchmark's kernel, test kernel and G
// included), beside kernel_and_inverse_GiB, the two n x n arrays.
//
// nc=2000 is quick; nc=10000 and nc=20000 need OpenBLAS, which
// package linalg uses when it is installed (LQF_HOST_BLAS=gonum forces
// gonum's pure Go), to take seconds to minutes rather than hours on 2 cores:
//
//	go test -run '^$' -bench 'ExactLeaveOneOut/nc=[12]0000' -benchtime 1x ./influence/
func BenchmarkExactLeaveOneOut(b *testing.B) {
	for _, n := range []int{200, 1000, 2000} {
		b.Run(fmt.Sprintf("nc=%d", n*10), func(b *testing.B) {
			benchmarkLeaveOneOut(b, n, 10, 100)
		})
	}
}

func benchmarkLeaveOneOut(b *testing.B, n, c, m int) {
	const d, ridge = 2000, 1.0
	rows := n * c
	rng := rand.New(rand.NewPCG(1, uint64(rows)))
	g := mat.NewDense(rows+m, d, nil)
	for i := range g.RawMatrix().Data {
		g.RawMatrix().Data[i] = rng.NormFloat64()
	}
	gTrain, gTest := g.Slice(0, rows, 0, d), g.Slice(rows, rows+m, 0, d)
	k := mat.NewSymDense(rows, nil)
	k.SymOuterK(1.0/d, gTrain)
	kx := mat.NewDense(m, rows, nil)
	kx.Mul(gTest, gTrain.T())
	kx.Scale(1.0/d, kx)
	r := make([]float64, rows)
	for i := range r {
		r[i] = rng.NormFloat64()
	}

	var (
		e   *Exact
		loo [][]float64
		err error
	)
	resetPeakMemory(b)
	start, iters := time.Now(), 0
	for b.Loop() {
		if e, err = NewExact(k, r, c, ridge); err != nil {
			b.Fatal(err)
		}
		if loo, err = e.LeaveOneOut(kx); err != nil {
			b.Fatal(err)
		}
		iters++
	}
	looSeconds := time.Since(start).Seconds() / float64(iters)
	peak := peakMemory(b)

	start = time.Now()
	retrained, err := retrainWithout(k, kx, r, c, ridge, 0)
	if err != nil {
		b.Fatal(err)
	}
	retrain := time.Since(start).Seconds()

	// Sanity check outside the timings: sample 0's row of D.
	full, err := e.Predict(kx)
	if err != nil {
		b.Fatal(err)
	}
	var maxErr, maxVal float64
	for t := range m {
		maxErr = math.Max(maxErr, math.Abs(loo[0][t]-(full[t]-retrained[t])))
		maxVal = math.Max(maxVal, math.Abs(loo[0][t]))
	}
	if maxErr > 1e-8*maxVal {
		b.Fatalf("leave-one-out of sample 0 differs from retraining by %.3g (max change %.3g)", maxErr, maxVal)
	}
	b.ReportMetric(looSeconds, "loo_seconds")
	b.ReportMetric(retrain, "retrain_one_seconds")
	b.ReportMetric(float64(n)*retrain/looSeconds, "speedup_vs_naive")
	b.ReportMetric(float64(peak)/(1<<30), "peak_rss_GiB")
	predicted := ExactMemory(n, c, 0, 0)
	b.ReportMetric(float64(predicted.Kernel+predicted.Inverse)/(1<<30), "kernel_and_inverse_GiB")
}

// resetPeakMemory resets the process's peak resident memory (Linux:
// writing 5 to /proc/self/clear_refs), so that peakMemory measures what
// follows.
func resetPeakMemory(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak memory not reset: %v", err)
	}
}

// peakMemory is the process's peak resident memory in bytes since
// resetPeakMemory (VmHWM of /proc/self/status), 0 where unknown.
func peakMemory(b *testing.B) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	b.Log("no VmHWM in /proc/self/status")
	return 0
}

// retrainWithout re-solves the closed form without sample i the naive way
// (copy of the reduced system, Cholesky in place, solve) and returns the
// test outputs k(x)^T a.
func retrainWithout(k *mat.SymDense, kx *mat.Dense, r []float64, c int, ridge float64, i int) ([]float64, error) {
	rows := k.SymmetricDim()
	_, keep, err := splitRows([]int{i}, rows/c, c)
	if err != nil {
		return nil, err
	}
	nr := len(keep)
	a := make([]float64, nr*nr)
	gather(a, k.RawSymmetric().Data, rows, keep, keep)
	for j := range nr {
		a[j*nr+j] += ridge
	}
	t, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: nr, Stride: nr, Data: a})
	if !ok {
		return nil, errors.New("reduced system not positive definite")
	}
	// Two triangular solves rather than Potrs, whose row-major LAPACKE
	// wrapper would transpose the whole factor.
	coef := gatherVec(r, keep)
	blas64.Trsv(blas.Trans, t, vec(coef))
	blas64.Trsv(blas.NoTrans, t, vec(coef))
	m, _ := kx.Dims()
	all := make([]int, m)
	for t := range all {
		all[t] = t
	}
	kxR := make([]float64, m*nr)
	gather(kxR, kx.RawMatrix().Data, rows, all, keep)
	out := make([]float64, m)
	blas64.Gemv(blas.NoTrans, 1, general(m, nr, kxR), vec(coef), 0, vec(out))
	return out, nil
}

package influence

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

// BenchmarkLargeNApproximations measures how well candidate large-N
// approximations of exact leave-one-out agree with it (Pearson over every
// training sample and test output, as kfac_vs_exact_pearson), on the
// committed Leaky-ReLU backbone with N training and 20 test images of
// fashion (10 classes, lambda 1e-4): nc=2000 (N = 200) and nc=10000
// (N = 1,000). Each candidate replaces the kernel K (and the test kernel)
// by an approximation K' and takes its exact leave-one-out (NewExact):
//
//   - sketch_k: Jacobian rows count-sketched to k dimensions (countSketch,
//     O(P) per row), K' = (J S)(J S)^T: the projected ridge problem;
//   - nystrom_m: m landmark samples (m C rows L), K' = K_nL K_LL^+ K_Ln,
//     test kernel likewise;
//   - fic_m: nystrom_m plus the exact C x C block of every sample on the
//     diagonal (K' = Q + blockdiag(K - Q)), with the exact test kernel.
//
// Beside them, kfac is K-FAC's eq. 8 (kfac.Recommended factors, the
// default leverage correction, the exact residuals), as in Validate. The
// metrics are pearson/<candidate>; the time is that of the whole study.
// Run it with
//
//	go test -run '^$' -bench LargeNApproximations -benchtime 1x -timeout 2h ./influence/
func BenchmarkLargeNApproximations(b *testing.B) {
	for _, n := range []int{200, 1000} {
		b.Run(fmt.Sprintf("nc=%d", n*10), func(b *testing.B) { benchmarkApproximations(b, n) })
	}
}

func benchmarkApproximations(b *testing.B, nTrain int) {
	const nTest, lambda = 20, 1e-4
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	base, err := pretrained.Load(be, model.LeakyReLU)
	if err != nil {
		b.Fatal(err)
	}
	task, err := data.TaskByName("fashion")
	if err != nil {
		b.Fatal(err)
	}
	sp, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: nTrain, ValPerClass: 1, MaxTest: nTest})
	if err != nil {
		b.Fatal(err)
	}
	net, err := base.ReplaceHead(be, sp.Train.NumClasses, 1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		k, err := model.NewKernel(be, net, sp.Train, model.DefaultAlpha, nil)
		if err != nil {
			b.Fatal(err)
		}
		kx, jx, err := k.Cross(be, sp.Test, nil)
		if err != nil {
			b.Fatal(err)
		}
		ridge := linalg.RidgeTerm(lambda, k.N)
		loo := func(kk *mat.SymDense, kt *mat.Dense) []float64 {
			e, err := NewExact(kk, k.R, k.C, ridge)
			if err != nil {
				b.Fatal(err)
			}
			d, err := e.LeaveOneOut(kt)
			if err != nil {
				b.Fatal(err)
			}
			return flatten(d)
		}
		ex, err := NewExact(k.K, k.R, k.C, ridge)
		if err != nil {
			b.Fatal(err)
		}
		d, err := ex.LeaveOneOut(kx)
		if err != nil {
			b.Fatal(err)
		}
		exact := flatten(d)
		report := func(name string, approx []float64) {
			r := stat.Correlation(approx, exact, nil)
			b.ReportMetric(r, "pearson/"+name)
			b.Logf("%s: pearson %.4f", name, r)
		}

		f, err := kfac.Compute(be, net, sp.Train, kfac.Recommended())
		if err == nil {
			err = f.CorrectEigenvalues(be, net, sp.Train, kfac.Recommended())
		}
		if err != nil {
			b.Fatal(err)
		}
		e := make([]float64, k.N*k.C) // residuals of the exact solution: rho a
		for r, a := range ex.Coefficients() {
			e[r] = ridge * a
		}
		kf, err := NewKFAC(be, net, f, sp.Train, lambda, e, KFACOptions{})
		if err != nil {
			b.Fatal(err)
		}
		approx, err := kf.Query(be, sp.Test)
		if err != nil {
			b.Fatal(err)
		}
		report("kfac", flatten(approx))

		rows, tRows := k.N*k.C, sp.Test.Len()*k.C
		for _, dim := range []int{512, 2048, 8192, 32768} {
			s := newCountSketch(k.P, dim, 1)
			phi, phix := sketchRows(s, k.J, rows, k.P), sketchRows(s, jx, tRows, k.P)
			kk := mat.NewSymDense(rows, nil)
			kk.SymOuterK(1, phi)
			var kt mat.Dense
			kt.Mul(phix, phi.T())
			report(fmt.Sprintf("sketch_%d", dim), loo(kk, &kt))
		}
		rng := rand.New(rand.NewPCG(3, 3))
		for _, share := range []int{10, 25, 50} { // landmarks, % of N
			m := k.N * share / 100
			landmarks := rowsOfSamples(rng.Perm(k.N)[:m], k.C)
			phi, phix := nystromFeatures(k.K, kx, landmarks)
			q := mat.NewSymDense(rows, nil)
			q.SymOuterK(1, phi)
			var qt mat.Dense
			qt.Mul(phix, phi.T())
			report(fmt.Sprintf("nystrom_%d", m), loo(q, &qt))
			for i := range k.N { // the exact diagonal blocks
				for a := i * k.C; a < (i+1)*k.C; a++ {
					for c := a; c < (i+1)*k.C; c++ {
						q.SetSym(a, c, k.K.At(a, c))
					}
				}
			}
			report(fmt.Sprintf("fic_%d", m), loo(q, kx))
		}
	}
}

// sketchRows applies s to each of the rows rows of J [rows, p] (float32).
func sketchRows(s *countSketch, J []float32, rows, p int) *mat.Dense {
	out := mat.NewDense(rows, s.m, nil)
	x := make([]float64, p)
	for i := range rows {
		for j, v := range J[i*p : (i+1)*p] {
			x[j] = float64(v)
		}
		s.apply(x, out.RawRowView(i))
	}
	return out
}

// rowsOfSamples lists the kernel rows i*c..i*c+c-1 of the samples.
func rowsOfSamples(samples []int, c int) []int {
	var rows []int
	for _, i := range samples {
		for a := range c {
			rows = append(rows, i*c+a)
		}
	}
	return rows
}

// nystromFeatures returns Nystrom features of the training and test rows
// for the landmark rows L: Phi = K_nL U Lambda^-1/2 with K_LL = U Lambda
// U^T (eigenvalues below 1e-10 of the largest dropped), so that
// Phi Phi^T = K_nL K_LL^+ K_Ln.
func nystromFeatures(k *mat.SymDense, kx *mat.Dense, landmarks []int) (phi, phix *mat.Dense) {
	l := len(landmarks)
	w := mat.NewSymDense(l, nil)
	for a, ra := range landmarks {
		for c, rc := range landmarks {
			w.SetSym(a, c, k.At(ra, rc))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(w, true) {
		panic("nystromFeatures: eigendecomposition failed")
	}
	vals := eig.Values(nil)
	var u mat.Dense
	eig.VectorsTo(&u)
	var keep []int
	for j, v := range vals {
		if v > 1e-10*vals[l-1] {
			keep = append(keep, j)
		}
	}
	t := mat.NewDense(l, len(keep), nil)
	for jj, j := range keep {
		for a := range l {
			t.Set(a, jj, u.At(a, j)/math.Sqrt(vals[j]))
		}
	}
	cols := func(src mat.Matrix, rows int) *mat.Dense {
		out := mat.NewDense(rows, l, nil)
		for r := range rows {
			for c, rc := range landmarks {
				out.Set(r, c, src.At(r, rc))
			}
		}
		return out
	}
	n := k.SymmetricDim()
	tr, _ := kx.Dims()
	phi, phix = new(mat.Dense), new(mat.Dense)
	phi.Mul(cols(k, n), t)
	phix.Mul(cols(kx, tr), t)
	return phi, phix
}

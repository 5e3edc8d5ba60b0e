package influence

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/internal/lqftest"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// TestKFACMatchesItsDefinition computes K-FAC leave-one-out through the
// whitened, streamed gradients and compares it with the same formula
// evaluated directly from brute-force Jacobian rows and
// kfac.DampedInverse.Apply: g(x) H^-1 g_i^T (I - S_i)^-1 e_i with
// H^-1 = (2/N)(F_kfac + lambda I)^-1.
func TestKFACMatchesItsDefinition(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	net, sp, err := lqftest.Setup(be, 7, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, n := sp.Train.NumClasses, sp.Train.Len()
	f, err := kfac.Compute(be, net, sp.Train, kfac.Options{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	f0, err := net.Logits(be, sp.Train)
	if err != nil {
		t.Fatal(err)
	}
	e := linalg.Residuals(f0, sp.Train.Labels, c, model.DefaultAlpha)
	const lambda = 5.0 // leverages well below 1: nothing is clamped
	var got [][]float64
	trows := sp.Test.Len() * c
	var maxVal float64
	for _, lev := range []Leverage{LeverageExact, LeverageNone, LeveragePaper} {
		k, err := NewKFAC(be, net, f, sp.Train, lambda, e, KFACOptions{BatchSize: 2, Leverage: lev})
		if err != nil {
			t.Fatal(err)
		}
		got, err = k.Query(be, sp.Test)
		if err != nil {
			t.Fatal(err)
		}

		// Brute force.
		inv, err := f.Invert(lambda)
		if err != nil {
			t.Fatal(err)
		}
		Jtr, p, err := net.JacobianRows(be, sp.Train, nil)
		if err != nil {
			t.Fatal(err)
		}
		Jte, _, err := net.JacobianRows(be, sp.Test, nil)
		if err != nil {
			t.Fatal(err)
		}
		hinv := func(row []float32) []float64 { // H^-1 g^T
			v := make([]float64, p)
			for j, x := range row {
				v[j] = float64(x)
			}
			out, err := inv.Apply(net, v)
			if err != nil {
				t.Fatal(err)
			}
			for j := range out {
				out[j] *= 2 / float64(n)
			}
			return out
		}
		dot := func(a []float32, b []float64) float64 {
			s := 0.0
			for j, x := range a {
				s += float64(x) * b[j]
			}
			return s
		}
		var maxErr float64
		maxVal = 0
		self := k.SelfInfluence()
		for i := range n {
			cols := make([][]float64, c) // H^-1 g_i^T
			S := mat.NewDense(c, c, nil)
			for a := range c {
				cols[a] = hinv(Jtr[(i*c+a)*p : (i*c+a+1)*p])
			}
			for a := range c {
				for b := range c {
					S.Set(a, b, dot(Jtr[(i*c+a)*p:(i*c+a+1)*p], cols[b]))
				}
			}
			var m mat.Dense
			switch lev {
			case LeverageExact:
				m.Sub(eye(c), S)
			case LeveragePaper:
				m.Add(eye(c), S)
			default:
				m.CloneFrom(eye(c))
			}
			var w mat.VecDense
			if err := w.SolveVec(&m, mat.NewVecDense(c, e[i*c:(i+1)*c])); err != nil {
				t.Fatal(err)
			}
			var sw mat.VecDense
			sw.MulVec(S, &w)
			for a := range c {
				maxErr = math.Max(maxErr, math.Abs(self[i][a]-sw.AtVec(a)))
				maxVal = math.Max(maxVal, math.Abs(sw.AtVec(a)))
			}
			for r := range trows {
				want := 0.0
				for a := range c {
					want += dot(Jte[r*p:(r+1)*p], cols[a]) * w.AtVec(a)
				}
				maxErr = math.Max(maxErr, math.Abs(got[i][r]-want))
				maxVal = math.Max(maxVal, math.Abs(want))
			}
		}
		t.Logf("%s: K-FAC leave-one-out vs its definition: max difference %.3g (max value %.3g), %d clamped", lev, maxErr, maxVal, k.Clamped())
		if k.Clamped() != 0 {
			t.Errorf("%s: %d samples clamped: the test wants none", lev, k.Clamped())
		}
		if maxVal == 0 || maxErr > 1e-4*maxVal {
			t.Errorf("%s: K-FAC leave-one-out differs from its definition by %.3g (max value %.3g)", lev, maxErr, maxVal)
		}
	}

	// A count sketch keeps inner products unbiased: averaged over seeds,
	// sketched queries approach the whole ones.
	const seeds = 40
	var mean [][]float64
	for s := range seeds {
		ks, err := NewKFAC(be, net, f, sp.Train, lambda, e, KFACOptions{Sketch: 64, Seed: uint64(s), BatchSize: 4, Leverage: LeveragePaper})
		if err != nil {
			t.Fatal(err)
		}
		d, err := ks.Query(be, sp.Test)
		if err != nil {
			t.Fatal(err)
		}
		if mean == nil {
			mean = make([][]float64, n)
			for i := range mean {
				mean[i] = make([]float64, trows)
			}
		}
		for i := range d {
			for r, v := range d[i] {
				mean[i][r] += v / seeds
			}
		}
	}
	var sketchErr float64
	for i := range mean {
		for r, v := range mean[i] {
			sketchErr = math.Max(sketchErr, math.Abs(v-got[i][r]))
		}
	}
	t.Logf("mean of %d sketches (dimension 64) vs whole: max difference %.3g (max value %.3g)", seeds, sketchErr, maxVal)
	if sketchErr > 0.1*maxVal {
		t.Errorf("sketched queries average to %.3g away from the whole ones (max value %.3g)", sketchErr, maxVal)
	}

	if _, err := NewKFAC(be, net, f, sp.Train.Subset([]int{0, 1}), lambda, e[:2*c], KFACOptions{}); err == nil {
		t.Error("NewKFAC accepted factors computed on another training set")
	}
	if _, err := NewKFAC(be, net, f, sp.Train, 0, e, KFACOptions{}); err == nil {
		t.Error("NewKFAC accepted lambda = 0")
	}
	if _, err := NewKFAC(be, net, f, sp.Train, lambda, e, KFACOptions{Leverage: "bogus"}); err == nil {
		t.Error("NewKFAC accepted an unknown leverage correction")
	}
}

func eye(n int) *mat.Dense {
	m := mat.NewDense(n, n, nil)
	for i := range n {
		m.Set(i, i, 1)
	}
	return m
}

// TestLeverageSignAgainstExactLOO checks the sign of eq. 8's leverage
// correction where the curvature is exact: one block covering every
// parameter (BlockInfluence) gives T = K_t (K + rho I)^-1 and S_i the
// exact leverage matrices, so applying each correction to the exact
// residuals must reproduce exact leave-one-out (Exact, block Woodbury on
// (K + rho I)^-1, an independent computation) only with the sign of a
// rank-C downdate: (I - S_i)^-1, which is also the zero value of Leverage.
// The paper's (I + S_i)^-1 must miss it by far more than rounding.
func TestLeverageSignAgainstExactLOO(t *testing.T) {
	d := loadNTK(t)
	ex, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ex.LeaveOneOut(d.Kx)
	if err != nil {
		t.Fatal(err)
	}
	bi, err := NewBlockInfluence(d.J, d.Jx, d.p, d.c, exactResiduals(t, d), d.ridge, []model.Block{{Start: 0, End: d.p}})
	if err != nil {
		t.Fatal(err)
	}
	c, m := bi.classes, bi.tests
	n := len(bi.e) / c
	// apply is BlockInfluence.LeaveOneOut for any leverage correction.
	apply := func(lev Leverage) ([]float64, float64) {
		out := make([]float64, n*m)
		maxLev := 0.0
		for i := range n {
			S := mat.NewSymDense(c, append([]float64(nil), bi.s[i*c*c:(i+1)*c*c]...))
			var eig mat.EigenSym
			if !eig.Factorize(S, false) {
				t.Fatal("eigen-decomposition failed")
			}
			for _, s := range eig.Values(nil) {
				maxLev = math.Max(maxLev, s)
			}
			w, clamped, err := leverageSolve(lev, S, bi.e[i*c:(i+1)*c])
			if err != nil {
				t.Fatal(err)
			}
			if clamped {
				t.Errorf("%q: sample %d clamped with the exact curvature", lev, i)
			}
			for a, wa := range w {
				for j, x := range bi.t[(i*c+a)*m : (i*c+a+1)*m] {
					out[i*m+j] += x * wa
				}
			}
		}
		return out, maxLev
	}
	relErr := func(got []float64) float64 {
		num, den := 0.0, 0.0
		for k, w := range flat(want) {
			num = math.Max(num, math.Abs(got[k]-w))
			den = math.Max(den, math.Abs(w))
		}
		return num / den
	}
	exact, maxLev := apply(LeverageExact)
	def, _ := apply("")
	paper, _ := apply(LeveragePaper)
	none, _ := apply(LeverageNone)
	t.Logf("largest leverage %.3g; relative error vs exact LOO: (I - S)^-1 %.3g, default %.3g, (I + S)^-1 %.3g, none %.3g",
		maxLev, relErr(exact), relErr(def), relErr(paper), relErr(none))
	if maxLev < 0.05 || maxLev >= 1 {
		t.Fatalf("largest leverage %g: the problem does not separate the signs (want it in [0.05, 1))", maxLev)
	}
	assertClose(t, "(I - S_i)^-1 vs exact leave-one-out", exact, flat(want), 1e-8)
	assertClose(t, "default leverage vs exact leave-one-out", def, flat(want), 1e-8)
	if e := relErr(paper); !(e > 1e-3) {
		t.Errorf("(I + S_i)^-1 matches exact leave-one-out to %.3g: the test cannot tell the signs apart", e)
	}
}

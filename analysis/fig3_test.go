package analysis

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
)

// fig3Spectrum builds a spectrum with Ritz values lambda, 1 and top.
func fig3Spectrum(lambda, top float64) *kfac.Spectrum {
	return &kfac.Spectrum{Values: []float64{lambda, 1, top}, Weights: []float64{0.9, 0.05, 0.05}, Min: lambda, Max: top}
}

func TestSummarizeFig3(t *testing.T) {
	var raw []json.RawMessage
	for _, top := range []float64{100, 300} {
		r := fig3Result{Task: nearTask, SpectraReport: &kfac.SpectraReport{
			W0: fig3Spectrum(1e-4, top), NLFT: fig3Spectrum(1e-4, top/10), Preconditioned: fig3Spectrum(0.5, top/100),
			Lambda: 1e-4, Steps: 3, TrainSize: 30}}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	env := &Env{Dir: t.TempDir()}
	s, err := summarizeFig3(env, raw)
	if err != nil {
		t.Fatal(err)
	}
	// kappa at w0: (100/1e-4 + 300/1e-4) / 2 = 2e6; after NLFT 2e5;
	// preconditioned (1 + 3) / 2 / 0.5 = 4; range kappa top/1.
	for key, want := range map[string]float64{"kappa_w0": 2e6, "kappa_nlft": 2e5, "kappa_preconditioned": 4,
		"max_eigenvalue_w0": 200, "range_kappa_w0": 200, "range_kappa_nlft": 20} {
		if got := s.Values[key]; math.Abs(got-want) > 1e-9*want {
			t.Errorf("%s = %g, want %g", key, got, want)
		}
	}
	if len(s.Rows) != 3 || !strings.HasPrefix(s.Rows[0][3], "2e+06 ± ") || s.Rows[0][1] != "200 ± 141.4" {
		t.Errorf("rows %q", s.Rows)
	}
	if !strings.Contains(s.Finding, "NLFT lowers kappa") {
		t.Errorf("finding %q", s.Finding)
	}
	for _, f := range s.Figures {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("figure %s: %v", f, err)
		}
	}
	if len(s.Figures) != 1 {
		t.Errorf("figures %q", s.Figures)
	}
	if _, err := summarizeFig3(env, []json.RawMessage{json.RawMessage(`{"task":"x"}`)}); err == nil {
		t.Error("a result without spectra was accepted")
	}
}

// TestFig3Density checks that the smoothed density integrates to the
// weight of the positive Ritz values and peaks at them.
func TestFig3Density(t *testing.T) {
	s := &kfac.Spectrum{Values: []float64{-1, 1e-2, 10}, Weights: []float64{0.2, 0.5, 0.3}, Min: -1, Max: 10}
	var ts []float64
	for x := -6.0; x <= 5; x += 0.001 {
		ts = append(ts, x)
	}
	d, err := fig3Density(s, ts, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	integral, peak := 0.0, 0
	for i, v := range d {
		integral += v * 0.001
		if v > d[peak] {
			peak = i
		}
	}
	if math.Abs(integral-0.8) > 1e-3 {
		t.Errorf("integral %g, want 0.8", integral)
	}
	if math.Abs(ts[peak]-(-2)) > 0.01 {
		t.Errorf("peak at %g, want -2", ts[peak])
	}
	if k := fig3RangeKappa(s, 1e-4); k != 10/1e-2 {
		t.Errorf("range kappa %g", k)
	}
	if k := fig3RangeKappa(s, 10); !math.IsNaN(k) {
		t.Errorf("range kappa without values above 10 lambda: %g", k)
	}
	if _, err := fig3Density(&kfac.Spectrum{}, ts, 0.1); err == nil {
		t.Error("empty spectrum accepted")
	}
}

// fig3TinyProblem returns a random J [n c, p] (float32 values), logits
// z0, weights w and labels for n samples of c classes.
func fig3TinyProblem(n, c, p int, seed uint64) (J []float32, z0, w []float64, labels []int32) {
	rng := rand.New(rand.NewPCG(seed, 3))
	J = make([]float32, n*c*p)
	for i := range J {
		J[i] = float32(rng.NormFloat64())
	}
	z0 = make([]float64, n*c)
	for i := range z0 {
		z0[i] = rng.NormFloat64()
	}
	w = make([]float64, p)
	for i := range w {
		w[i] = 0.3 * rng.NormFloat64()
	}
	for i := range n {
		labels = append(labels, int32(i%c))
	}
	return J, z0, w, labels
}

// fig3LinearLogits returns z0 + J w as float32.
func fig3LinearLogits(J []float32, z0, w []float64, p int) []float32 {
	z := make([]float32, len(z0))
	for r := range z0 {
		s := z0[r]
		for j := range p {
			s += float64(J[r*p+j]) * w[j]
		}
		z[r] = float32(s)
	}
	return z
}

// TestFig3CEApplyFiniteDifference checks the cross-entropy Gauss-Newton
// product on a model linear in w, z = z0 + J w, whose Hessian of
// (1/N) sum_i CE(z_i, y_i) + lambda/2 ||w||^2 it equals exactly, against
// central differences of the gradient (1/N) sum_i J_i^T (p_i - y_i) +
// lambda w computed in float64. Without the -p p^T term of the softmax
// covariance the product is off by far more than the tolerance.
func TestFig3CEApplyFiniteDifference(t *testing.T) {
	const n, c, p, lambda = 3, 4, 9, 0.05
	J, z0, w, labels := fig3TinyProblem(n, c, p, 1)
	grad := func(w []float64) []float64 {
		g := make([]float64, p)
		for j := range g {
			g[j] = lambda * w[j]
		}
		for i := range n {
			z := make([]float64, c)
			m := math.Inf(-1)
			for k := range c {
				z[k] = z0[i*c+k]
				for j := range p {
					z[k] += float64(J[(i*c+k)*p+j]) * w[j]
				}
				m = math.Max(m, z[k])
			}
			s := 0.0
			for k := range c {
				z[k] = math.Exp(z[k] - m)
				s += z[k]
			}
			for k := range c {
				r := z[k] / s
				if int32(k) == labels[i] {
					r--
				}
				for j := range p {
					g[j] += float64(J[(i*c+k)*p+j]) * r / n
				}
			}
		}
		return g
	}
	// Probabilities from float64 logits (fig3Softmax takes float32).
	probs := make([]float64, n*c)
	for i := range n {
		s := 0.0
		for k := range c {
			z := z0[i*c+k]
			for j := range p {
				z += float64(J[(i*c+k)*p+j]) * w[j]
			}
			probs[i*c+k] = math.Exp(z)
			s += probs[i*c+k]
		}
		for k := range c {
			probs[i*c+k] /= s
		}
	}
	if _, loss := fig3Softmax(fig3LinearLogits(J, z0, w, p), labels, c); !(loss > 0) {
		t.Fatalf("loss %g", loss)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	v := make([]float64, p)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	const eps = 1e-5
	wp, wm := slices.Clone(w), slices.Clone(w)
	for j := range w {
		wp[j] += eps * v[j]
		wm[j] -= eps * v[j]
	}
	gp, gm := grad(wp), grad(wm)
	fd := make([]float64, p)
	for j := range fd {
		fd[j] = (gp[j] - gm[j]) / (2 * eps)
	}
	got := fig3CEApply(J, n*c, p, c, probs, v, lambda)
	relErr := func(a, b []float64) float64 {
		d, s := 0.0, 0.0
		for j := range a {
			d += (a[j] - b[j]) * (a[j] - b[j])
			s += b[j] * b[j]
		}
		return math.Sqrt(d / s)
	}
	const tol = 1e-6
	if e := relErr(got, fd); e > tol {
		t.Errorf("G_CE v against finite differences: relative error %g > %g", e, tol)
	}
	// The product without the softmax covariance's -p p^T term.
	diag := make([]float64, p)
	for j := range diag {
		diag[j] = lambda * v[j]
	}
	for r := range n * c {
		u := 0.0
		for j := range p {
			u += float64(J[r*p+j]) * v[j]
		}
		for j := range p {
			diag[j] += float64(J[r*p+j]) * probs[r] * u / n
		}
	}
	if e := relErr(diag, fd); e < 1000*tol {
		t.Errorf("the product without -p p^T is within %g of the finite differences: the test cannot tell", e)
	}
}

// TestFig3CEEigenvalues checks the kernel form of the cross-entropy
// Gauss-Newton spectrum against the eigenvalues of the dense matrix built
// from its product, column by column.
func TestFig3CEEigenvalues(t *testing.T) {
	const n, c, p = 3, 4, 20
	J, z0, w, labels := fig3TinyProblem(n, c, p, 4)
	probs, _ := fig3Softmax(fig3LinearLogits(J, z0, w, p), labels, c)
	dense := mat.NewSymDense(p, nil)
	for j := range p {
		e := make([]float64, p)
		e[j] = 1
		col := fig3CEApply(J, n*c, p, c, probs, e, 0)
		for i := 0; i <= j; i++ {
			dense.SetSym(i, j, col[i])
		}
	}
	_, all, err := linalg.SymEigen(dense)
	if err != nil {
		t.Fatal(err)
	}
	want := fig3Nonzero(all)
	got, err := fig3CEEigenvalues(linalg.Gram(J, n*c, p), probs, n, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n*(c-1) || len(want) != n*(c-1) {
		t.Fatalf("ranks %d (kernel form) and %d (dense), want %d", len(got), len(want), n*(c-1))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9*want[0] {
			t.Errorf("eigenvalue %d: %g, dense %g", i, got[i], want[i])
		}
	}
}

// TestFig3RangeEigenvalues checks the compression to range(J) against a
// direct eigendecomposition: without a preconditioner, the eigenvalues
// of (2/N) J^T J + lambda I above lambda; with an SPD P, the eigenvalues
// of Q^T P^-1/2 H P^-1/2 Q for an orthonormal basis Q of P^-1/2 J^T.
func TestFig3RangeEigenvalues(t *testing.T) {
	const rows, p, n, lambda = 5, 12, 5, 0.1
	J, _, _, _ := fig3TinyProblem(rows, 1, p, 7)
	jd := mat.NewDense(rows, p, nil)
	for i, v := range J {
		jd.Set(i/p, i%p, float64(v))
	}
	var jtj mat.Dense
	jtj.Mul(jd.T(), jd)
	h := mat.NewSymDense(p, nil)
	for i := range p {
		for j := i; j < p; j++ {
			v := 2 / float64(n) * jtj.At(i, j)
			if i == j {
				v += lambda
			}
			h.SetSym(i, j, v)
		}
	}
	check := func(name string, got, want []float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d eigenvalues, want %d", name, len(got), len(want))
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-9*want[len(want)-1] {
				t.Errorf("%s: eigenvalue %d %g, want %g", name, i, got[i], want[i])
			}
		}
		if k, kw := got[len(got)-1]/got[0], want[len(want)-1]/want[0]; math.Abs(k-kw) > 1e-8*kw {
			t.Errorf("%s: kappa on range %g, want %g", name, k, kw)
		}
	}
	// No preconditioner: eig((2/N) J^T J) nonzero = eig((2/N) J J^T).
	_, all, err := linalg.SymEigen(h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fig3RangeEigenvalues(J, slices.Clone(jd.RawMatrix().Data), rows, p, n, lambda)
	if err != nil {
		t.Fatal(err)
	}
	check("identity", got, all[p-rows:])

	// An SPD preconditioner P = R R^T + I.
	rng := rand.New(rand.NewPCG(8, 3))
	rm := mat.NewDense(p, p, nil)
	for i := range p {
		for j := range p {
			rm.Set(i, j, rng.NormFloat64())
		}
	}
	pre := mat.NewSymDense(p, nil)
	var rrt mat.Dense
	rrt.Mul(rm, rm.T())
	for i := range p {
		for j := i; j < p; j++ {
			v := rrt.At(i, j)
			if i == j {
				v++
			}
			pre.SetSym(i, j, v)
		}
	}
	power := func(e float64) *mat.Dense {
		vecs, vals, err := linalg.SymEigen(pre)
		if err != nil {
			t.Fatal(err)
		}
		d := mat.NewDense(p, p, nil)
		for i, v := range vals {
			d.Set(i, i, math.Pow(v, e))
		}
		var a, out mat.Dense
		a.Mul(vecs, d)
		out.Mul(&a, vecs.T())
		return &out
	}
	half, inv := power(-0.5), power(-1)
	var z, m1, m mat.Dense
	z.Mul(half, jd.T())
	m1.Mul(half, h)
	m.Mul(&m1, half)
	var qr mat.QR
	qr.Factorize(&z)
	var q mat.Dense
	qr.QTo(&q)
	qk := q.Slice(0, p, 0, rows)
	var mq, tq mat.Dense
	mq.Mul(&m, qk)
	tq.Mul(qk.T(), &mq)
	ts := mat.NewSymDense(rows, nil)
	for i := range rows {
		for j := i; j < rows; j++ {
			ts.SetSym(i, j, (tq.At(i, j)+tq.At(j, i))/2)
		}
	}
	_, want, err := linalg.SymEigen(ts)
	if err != nil {
		t.Fatal(err)
	}
	var w mat.Dense
	w.Mul(jd, inv) // W = J P^-1 (P symmetric)
	got, err = fig3RangeEigenvalues(J, slices.Clone(w.RawMatrix().Data), rows, p, n, lambda)
	if err != nil {
		t.Fatal(err)
	}
	check("preconditioned", got, want)
}

func TestFig3Plateau(t *testing.T) {
	var falling, flat []float64
	for i := range 30 {
		falling = append(falling, math.Exp(-0.2*float64(i)))
		flat = append(flat, 0.5+math.Exp(-float64(i)))
	}
	if fig3Plateau(falling[:19]) || fig3Plateau(falling) {
		t.Error("a loss falling 2x in 10 epochs is not a plateau")
	}
	if !fig3Plateau(flat) {
		t.Error("a flat loss is a plateau")
	}
}

// TestSummarizeFig3CrossEntropy checks the cross-entropy rows, keys and
// the split of K-FAC's improvement.
func TestSummarizeFig3CrossEntropy(t *testing.T) {
	curv := func(top0, topK, rangeMin, mseRange float64) *fig3Curvature {
		top := make([]float64, fig3TopK)
		for i := range top {
			top[i] = top0 + (topK-top0)*float64(i)/float64(fig3TopK-1)
		}
		return &fig3Curvature{Top: top, Rank: 20, KappaTopK: top0 / topK, KappaRange: top0 / rangeMin, KappaFull: top0 / 1e-4,
			Lanczos: fig3Spectrum(1e-4, top0), MSEMax: 2 * top0, MSERangeKappa: mseRange, TrainLoss: 0.7}
	}
	r := fig3Result{Task: nearTask, SpectraReport: &kfac.SpectraReport{
		W0: fig3Spectrum(1e-4, 100), NLFT: fig3Spectrum(1e-4, 200), Preconditioned: fig3Spectrum(0.5, 50),
		KappaW0: 1e6, KappaNLFT: 2e6, KappaPrecond: 100, Lambda: 1e-4, Steps: 3, TrainSize: 30},
		CE: &fig3CE{TopK: fig3TopK, W0: curv(10, 1, 0.01, 400), NLFT: curv(2, 1, 0.001, 300),
			NLFTLoss: []float64{0.5, 0.1, 0.05}, NLFTMaxEpochs: 150, KFACRangeKappa: 200}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s, err := summarizeFig3(&Env{Dir: t.TempDir()}, []json.RawMessage{b})
	if err != nil {
		t.Fatal(err)
	}
	// K-FAC: 1e6/100 = 1e4 in all, 400/200 = 2 of it on range(J), 5e3
	// from the rest.
	for key, want := range map[string]float64{"ce_kappa_topk_w0": 10, "ce_kappa_topk_nlft": 2, "ce_max_eigenvalue_w0": 10,
		"ce_max_eigenvalue_nlft": 2, "ce_kappa_range_w0": 1000, "ce_kappa_full_w0": 1e5, "nlft_epochs": 3, "nlft_final_loss": 0.05,
		"nlft_initial_loss": 0.7, "mse_range_kappa_exact_w0": 400, "mse_range_kappa_exact_nlft": 300, "kfac_range_kappa_w0": 200,
		"kfac_improvement": 1e4, "kfac_improvement_range": 2, "kfac_improvement_null": 5e3, "ce_lanczos_max_rel_error_w0": 0} {
		if got := s.Values[key]; math.Abs(got-want) > 1e-9*want {
			t.Errorf("%s = %g, want %g", key, got, want)
		}
	}
	if len(s.Rows) != 5 || s.Rows[3][0] != fig3CEOperators[0] || s.Rows[3][6] != "10" {
		t.Errorf("rows %q", s.Rows)
	}
	for _, want := range []string{"NLFT run to a plateau (3 epochs, training loss 0.7 -> 0.05, 0.5 ten epochs earlier", "lowers kappa over the top 10 eigenvalues from 10 at w0 to 2", "mostly on J's null space"} {
		if !strings.Contains(s.Finding, want) {
			t.Errorf("finding lacks %q: %s", want, s.Finding)
		}
	}
	v := judgeFig3(Measured{values: s.Values})
	if v.Outcome != Reproduced {
		t.Errorf("verdict %v", v)
	}
}

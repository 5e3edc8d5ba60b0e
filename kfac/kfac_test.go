package kfac

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/backend/backendtest"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// testBackend returns the process's shared backend (backend.Shared).
func testBackend(t testing.TB) backends.Backend { return backendtest.Shared(t) }

// tinySetup is a small Leaky-ReLU network and a few real images.
func tinySetup(t *testing.T, n int) (*model.Network, *data.Set) {
	t.Helper()
	be := testBackend(t)
	cfg := model.DefaultConfig(3)
	cfg.StemWidth, cfg.StageWidths, cfg.Activation = 3, []int{3, 4, 4}, model.LeakyReLU
	net, err := model.NewNetwork(be, cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	task, _ := data.TaskByName("mnist-5-9")
	sp, err := task.Load(data.SplitOptions{Seed: 2, MaxTrain: 20, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return net, sp.Train.Subset(idx)
}

// bruteFisher returns F = (2/N) J^T J from per-sample Jacobian rows, and
// the offset of each parameter in the flat order.
func bruteFisher(t *testing.T, net *model.Network, set *data.Set) (*mat.Dense, map[string]int) {
	J, p, err := net.JacobianRows(testBackend(t), set, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := len(J) / p
	j := mat.NewDense(rows, p, nil)
	for i := range rows {
		for k := range p {
			j.Set(i, k, float64(J[i*p+k]))
		}
	}
	var f mat.Dense
	f.Mul(j.T(), j)
	f.Scale(2/float64(set.Len()), &f)
	_, off := offsets(net)
	return &f, off
}

// offsets returns the number of parameters and the offset of each
// (scope/name) in the flat order of Network.TrainableVariables.
func offsets(net *model.Network) (int, map[string]int) {
	off := map[string]int{}
	o := 0
	for _, v := range net.TrainableVariables() {
		off[v.ScopeAndName()] = o
		o += v.Shape().Size()
	}
	return o, off
}

// TestLanczosMatchesDenseSpectrum: Lanczos on the matrix-free Gauss-Newton
// products (model.GaussNewton) and on the K-FAC-preconditioned operator
// finds the extreme eigenvalues of the dense matrices built from the
// brute-force Fisher.
func TestLanczosMatchesDenseSpectrum(t *testing.T) {
	be := testBackend(t)
	net, set := tinySetup(t, 6)
	F, _ := bruteFisher(t, net, set)
	p, _ := F.Dims()
	const lambda = 1e-3
	gn, err := model.NewGaussNewton(be, net, set)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Compute(be, net, set, Options{BatchSize: 6})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := f.Invert(lambda)
	if err != nil {
		t.Fatal(err)
	}
	hDense := func(v []float64) []float64 {
		out := make([]float64, p)
		for i := range p {
			for j := range p {
				out[i] += F.At(i, j) * v[j]
			}
			out[i] += lambda * v[i]
		}
		return out
	}
	precond := func(h func([]float64) []float64) func([]float64) ([]float64, error) {
		return func(v []float64) ([]float64, error) {
			a, err := inv.ApplyPower(net, v, -0.5)
			if err != nil {
				return nil, err
			}
			return inv.ApplyPower(net, h(a), -0.5)
		}
	}
	denseEig := func(op func([]float64) ([]float64, error)) (float64, float64) {
		m := mat.NewSymDense(p, nil)
		for j := range p {
			e := make([]float64, p)
			e[j] = 1
			col, err := op(e)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i <= j; i++ {
				m.SetSym(i, j, (col[i]+m.At(i, j))/map[bool]float64{true: 1, false: 1}[i == j])
			}
		}
		var e mat.EigenSym
		e.Factorize(m, false)
		v := e.Values(nil)
		return v[0], v[len(v)-1]
	}
	gnOp := func(v []float64) ([]float64, error) { return gn.Apply(v, lambda) }
	for name, c := range map[string]struct {
		lanczos, dense func([]float64) ([]float64, error)
	}{
		"gauss-newton":   {gnOp, func(v []float64) ([]float64, error) { return hDense(v), nil }},
		"preconditioned": {precond(func(v []float64) []float64 { h, _ := gn.Apply(v, lambda); return h }), precond(hDense)},
	} {
		s, err := Lanczos(c.lanczos, p, 250, 1)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := denseEig(c.dense)
		t.Logf("%s: Lanczos [%.6g, %.6g], dense [%.6g, %.6g]", name, s.Min, s.Max, lo, hi)
		if math.Abs(s.Max-hi) > 1e-5*hi || math.Abs(s.Min-lo) > 1e-3*lo {
			t.Errorf("%s: Lanczos extremes [%.6g, %.6g], dense eigenvalues [%.6g, %.6g]", name, s.Min, s.Max, lo, hi)
		}
	}
}

// TestCheckConvergence runs the K-FAC vs SGD comparison on a tiny, well
// conditioned problem: every run (graph SGD, graph K-FAC, host exact
// blocks) reaches the closed-form optimum's objective, no epoch's objective
// is below it (it is the minimum), and the host iteration reproduces the
// graph's plain SGD epoch by epoch.
func TestCheckConvergence(t *testing.T) {
	be := testBackend(t)
	net, set := tinySetup(t, 6)
	opts := ConvergenceOptions{Lambda: 0.1, Gap: 1e-3, MaxEpochs: 250, Momentum: 0.9,
		SGDRates: []float64{0.02}, KFACRates: []float64{0.05}, BlockRates: []float64{0.05},
		Factors: Options{Expand: true, EigenCorrection: true}, Seed: 1}
	rep, err := CheckConvergence(be, net, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sgd %d epochs, kfac %d epochs, exact blocks %d epochs, optimum %.6g", rep.SGDEpochs, rep.KFACEpochs, rep.ExactBlocksEpochs, rep.Optimum)
	if rep.Factors != "KFC, EK-FAC" || rep.Blocks != len(model.LayerBlocks(net)) {
		t.Errorf("report says factors %q, %d blocks", rep.Factors, rep.Blocks)
	}
	for _, r := range append(append(append([]RateResult{}, rep.SGD...), rep.KFAC...), rep.ExactBlocks...) {
		if r.Diverged || r.Epochs == 0 {
			t.Errorf("lr %g: diverged %v, epochs %d, gaps %v", r.LearningRate, r.Diverged, r.Epochs, r.Gaps)
		}
		for e, g := range r.Gaps {
			if g < -1e-6 {
				t.Errorf("lr %g epoch %d: objective below the closed-form optimum (gap %.3g)", r.LearningRate, e+1, g)
			}
		}
	}

	// The host iteration with no preconditioner is the graph's SGD.
	k := tinyProblem(t, net, set)
	host, err := hostHeavyBall(k.J, k.P, set.Len(), k.R, opts, opts.SGDRates[0],
		func(g []float64) ([]float64, error) { return g, nil }, rep.Optimum)
	if err != nil {
		t.Fatal(err)
	}
	graph := rep.SGD[0].Gaps
	if host.Epochs != rep.SGD[0].Epochs {
		t.Errorf("host SGD reaches the gap in %d epochs, graph SGD in %d", host.Epochs, rep.SGD[0].Epochs)
	}
	for e := range min(len(graph), len(host.Gaps)) {
		// Objectives (1 + gap) * optimum agree to float32 round-off.
		if d := math.Abs(host.Gaps[e]-graph[e]) / (1 + graph[e]); d > 1e-4 {
			t.Errorf("epoch %d: host gap %.6g, graph gap %.6g", e+1, host.Gaps[e], graph[e])
		}
	}
}

// tinyProblem returns the kernel form of the tiny problem (Jacobian rows,
// residuals, NTK).
func tinyProblem(t *testing.T, net *model.Network, set *data.Set) *model.Kernel {
	t.Helper()
	k, err := model.NewKernel(testBackend(t), net, set, model.DefaultAlpha, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestHostHeavyBallNewtonStep: preconditioned by the exact Gauss-Newton
// matrix plus lambda (one block over all parameters), one step with
// eta = 1 and no momentum is Newton's step on a quadratic and lands on the
// closed-form optimum, computed independently in kernel form.
func TestHostHeavyBallNewtonStep(t *testing.T) {
	net, set := tinySetup(t, 6)
	k := tinyProblem(t, net, set)
	J, p, residual := k.J, k.P, k.R
	n, rows, lambda := set.Len(), len(residual), 0.05
	exact, err := k.Solve(lambda)
	if err != nil {
		t.Fatal(err)
	}
	optimum := k.Objective(exact, lambda)
	eb, err := NewExactBlocks(J, rows, p, n, []model.Block{{Start: 0, End: p}})
	if err != nil {
		t.Fatal(err)
	}
	opts := ConvergenceOptions{Lambda: lambda, Gap: 1e-9, MaxEpochs: 3}
	r, err := hostHeavyBall(J, p, n, residual, opts, 1, func(g []float64) ([]float64, error) { return eb.ApplyPower(g, lambda, -1) }, optimum)
	if err != nil {
		t.Fatal(err)
	}
	if r.Epochs != 1 {
		t.Errorf("Newton step: gap %v after %d epochs, want <= 1e-9 after 1", r.Gaps, r.Epochs)
	}
	if _, err := CheckConvergence(testBackend(t), net, set, ConvergenceOptions{Lambda: lambda, Gap: 1e-3, MaxEpochs: 1, Momentum: 1,
		SGDRates: []float64{0.1}, KFACRates: []float64{0.1}}); err == nil || !strings.Contains(err.Error(), "momentum") {
		t.Errorf("momentum 1: error %v, want one naming the momentum", err)
	}
}

// TestRowSpaceKappa: the condition number of (2/N) J J^T + lambda equals
// the ratio of the extreme eigenvalues of the P x P curvature
// (2/N) J^T J + lambda over the row space of J (its top rows eigenvalues,
// J having full row rank), from a dense eigendecomposition.
func TestRowSpaceKappa(t *testing.T) {
	const rows, p, n, lambda = 6, 10, 3, 0.01
	rng := rand.New(rand.NewPCG(3, 4))
	J := make([]float32, rows*p)
	for i := range J {
		J[i] = float32(rng.NormFloat64())
	}
	got, err := rowSpaceKappa(linalg.Gram(J, rows, p), n, lambda)
	if err != nil {
		t.Fatal(err)
	}
	h := mat.NewSymDense(p, nil)
	for a := range p {
		for b := a; b < p; b++ {
			s := 0.0
			for r := range rows {
				s += float64(J[r*p+a]) * float64(J[r*p+b])
			}
			s *= 2.0 / n
			if a == b {
				s += lambda
			}
			h.SetSym(a, b, s)
		}
	}
	var e mat.EigenSym
	if !e.Factorize(h, false) {
		t.Fatal("eigendecomposition failed")
	}
	v := e.Values(nil) // ascending: p-rows copies of lambda, then the row space
	want := v[p-1] / v[p-rows]
	if math.Abs(v[p-rows-1]-lambda) > 1e-12 || math.Abs(got-want) > 1e-9*want {
		t.Errorf("kappa %.12g, want %.12g (eigenvalues %v)", got, want, v)
	}
}

// TestFinetuneLinearizationsAgreeWithKFAC: LQF preconditioned by K-FAC
// gives the same iterates whether it evaluates f0 + J dw by the JVP pass or
// on Jacobian features computed once (finetune.LinearizeJacobian): same final
// losses and the same dw, to float32 rounding.
func TestFinetuneLinearizationsAgreeWithKFAC(t *testing.T) {
	be := testBackend(t)
	net, _ := tinySetup(t, 1)
	task, _ := data.TaskByName("mnist-5-9")
	splits, err := task.Load(data.SplitOptions{Seed: 2, MaxTrain: 18, ValPerClass: 2, MaxTest: 6})
	if err != nil {
		t.Fatal(err)
	}
	var tangents [][]float64
	var losses [][]float64
	for _, lin := range []finetune.Linearization{finetune.LinearizeJVP, finetune.LinearizeJacobian} {
		o := finetune.DefaultOptions(finetune.LQF)
		o.LearningRates, o.Lambdas, o.Epochs, o.BatchSize, o.Seed = []float64{0.003}, []float64{1e-3}, 3, 6, 3
		o.Curvature = CurvatureFunc(Options{Expand: true, EigenCorrection: true, Seed: 3}, RecommendedDamping)
		o.Linearization = lin
		r, p, err := finetune.Run(be, net, splits, o)
		if err != nil {
			t.Fatalf("%s: %v", lin, err)
		}
		if r.Linearization != lin {
			t.Errorf("result says linearization %q, want %q", r.Linearization, lin)
		}
		dw, err := p.(model.LinearizedNetwork).Tangent()
		if err != nil {
			t.Fatal(err)
		}
		tangents, losses = append(tangents, dw), append(losses, r.EpochLoss)
	}
	if e := linalg.MaxRelError(losses[1], losses[0]); e > 1e-4 || math.IsNaN(e) || len(losses[0]) != 3 {
		t.Errorf("epoch losses differ by %.2e: %v vs %v", e, losses[1], losses[0])
	}
	if e := linalg.MaxRelError(tangents[1], tangents[0]); e > 1e-4 || math.IsNaN(e) {
		t.Errorf("dw differs by %.2e (relative)", e)
	}
}

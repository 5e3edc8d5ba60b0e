package influence

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// ValidateOptions configures Validate.
type ValidateOptions struct {
	Lambda   float64 // LQF weight decay (mean-form objective)
	Alpha    float64 // target scale; default model.DefaultAlpha
	Removals int     // random training samples retrained without; default 20
	Subsets  int     // random half subsets of the LDS; default 50
	Unlearn  int     // samples removed together by unlearning; default N/10 (at least 2)
	// BanzhafSamples is the number of random subsets of the Banzhaf
	// attribution; default 400.
	BanzhafSamples int
	// NLFT trains the non-linear comparison models of lds_nlft on every
	// subset. With LearningRate 0 it takes the paper's NLFT settings
	// (Appendix A.2: cross-entropy, SGD with learning rate 0.01, momentum
	// 0.9, weight decay 1e-4, batches of 28) for NLFT.Epochs epochs
	// (0: 10), seeded by Seed.
	NLFT model.TrainOptions
	// KFAC configures the factors of the K-FAC approximation.
	KFAC     kfac.Options
	Seed     uint64
	Progress io.Writer
}

// Validation reports how attribution of the LQF model agrees with
// retraining; the JSON keys are those of `lqf influence validate`.
type Validation struct {
	TrainSize int     `json:"train_size"`
	TestSize  int     `json:"test_size"`
	Classes   int     `json:"classes"`
	Lambda    float64 `json:"lambda"`
	Ridge     float64 `json:"ridge"`

	// Exact leave-one-out vs retraining the closed form without sample i,
	// over every test output of Removals random samples; the error is
	// max |predicted - actual| / max |actual|. Actual outputs come from
	// the GoMLX linearized pass with the retrained dw.
	ExactVsRetrainPearson     float64 `json:"exact_vs_retrain_pearson"`
	ExactVsRetrainMaxRelError float64 `json:"exact_vs_retrain_max_rel_error"`
	Removed                   []int   `json:"removed"`
	// Predicted and Actual are the pairs behind the two numbers above (for
	// a scatter plot).
	Predicted []float64 `json:"predicted"`
	Actual    []float64 `json:"actual"`

	// K-FAC leave-one-out (whole gradients, the exact residuals, the
	// default leverage correction of paper eq. 8) vs exact, over every
	// training sample and test output; ...ByLeverage for every correction.
	KFACVsExactPearson           float64            `json:"kfac_vs_exact_pearson"`
	KFACVsExactPearsonByLeverage map[string]float64 `json:"kfac_vs_exact_pearson_by_leverage"`
	// KFACSelfPearson compares self-influence (default correction).
	KFACSelfPearson float64 `json:"kfac_self_influence_pearson"`
	KFACClamped     int     `json:"kfac_clamped"` // with LeverageExact

	// CurvatureCeilingPearson locates K-FAC's error: the Pearson
	// correlation with exact leave-one-out of eq. 8 computed with the exact
	// curvature restricted the way K-FAC restricts it (BlockInfluence).
	// Keys: "exact_h_no_leverage" (the influence function: exact H, no
	// leverage term), "layer_blocks_exact_leverage" and
	// "layer_blocks_no_leverage" (exact per-layer blocks, LayerBlocks: K-FAC
	// and EK-FAC with exact Kronecker factors).
	CurvatureCeilingPearson map[string]float64 `json:"curvature_ceiling_pearson"`
	LayerBlocksClamped      int                `json:"layer_blocks_clamped"`

	// Linear datamodeling scores: mean over test images of the Spearman
	// correlation, across Subsets random halves of the training set,
	// between the sum of the attributions of a half's samples and the
	// output of the model retrained on that half: the LQF closed form
	// (same rho) for lds_lqf, non-linear fine-tuning for lds_nlft. The
	// output is the linear margin f_y(x) - mean_{c != y} f_c(x) of the test
	// image's true class y. The attributions are the Banzhaf values of the
	// LQF model (Banzhaf, BanzhafSamples subsets drawn independently of
	// the evaluation halves); the _loo keys use exact leave-one-out.
	LDSLQF     float64  `json:"lds_lqf"`
	LDSNLFT    *float64 `json:"lds_nlft,omitempty"` // nil: NLFT skipped
	LDSLQFLOO  float64  `json:"lds_lqf_loo"`
	LDSNLFTLOO *float64 `json:"lds_nlft_loo,omitempty"`
	// BanzhafSamples is the number of subsets behind the Banzhaf values.
	BanzhafSamples int `json:"banzhaf_samples"`

	// Unlearning Unlearn samples at once by Woodbury vs retraining on the
	// others: max difference of the test outputs and of dw, relative to
	// the largest retrained change from w0.
	UnlearnVsRetrainMaxRelError float64 `json:"unlearn_vs_retrain_max_rel_error"`
	Unlearned                   int     `json:"unlearned"`

	Seconds map[string]float64 `json:"seconds"`
}

// Validate checks attribution on the training set of splits against
// retraining. leaky is the Leaky-ReLU backbone LQF linearizes; relu the
// backbone NLFT fine-tunes (LDS of NLFT); both get a new head for the task
// with the same seed. Test outputs are those of splits.Test.
func Validate(be backends.Backend, leaky, relu *model.Network, splits *data.Splits, opts ValidateOptions) (*Validation, error) {
	if opts.Alpha == 0 {
		opts.Alpha = model.DefaultAlpha
	}
	if opts.Removals == 0 {
		opts.Removals = 20
	}
	if opts.Subsets == 0 {
		opts.Subsets = 50
	}
	if opts.BanzhafSamples == 0 {
		opts.BanzhafSamples = 400
	}
	if opts.NLFT.LearningRate == 0 {
		opts.NLFT = model.TrainOptions{Loss: model.CrossEntropy, LearningRate: 0.01, Momentum: 0.9, Lambda: 1e-4,
			BatchSize: 28, Epochs: cmp.Or(opts.NLFT.Epochs, 10), Seed: opts.Seed}
	}
	train, test := splits.Train, splits.Test
	n, c := train.Len(), train.NumClasses
	if opts.Unlearn == 0 {
		opts.Unlearn = max(2, n/10)
	}
	if opts.Removals > n || opts.Unlearn >= n || n < 4 {
		return nil, fmt.Errorf("influence: %d training samples are too few for %d removals and unlearning %d", n, opts.Removals, opts.Unlearn)
	}
	if test.Len() == 0 {
		return nil, errors.New("influence: validation needs test images")
	}
	v := &Validation{TrainSize: n, TestSize: test.Len(), Classes: c, Lambda: opts.Lambda, Seconds: map[string]float64{}}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x76616c69))
	net, err := leaky.ReplaceHead(be, c, opts.Seed)
	if err != nil {
		return nil, err
	}
	clock := time.Now()
	lap := func(name string) {
		v.Seconds[name] = time.Since(clock).Seconds()
		clock = time.Now()
	}
	p, err := NewProblem(be, net, train, opts.Lambda, opts.Alpha, opts.Progress)
	if err != nil {
		return nil, err
	}
	v.Ridge = p.Ridge()
	kTest, Jt, err := p.TestKernel(be, test, opts.Progress)
	if err != nil {
		return nil, err
	}
	f0Test, err := net.Logits(be, test)
	if err != nil {
		return nil, err
	}
	loo, err := p.Exact.LeaveOneOut(kTest)
	if err != nil {
		return nil, err
	}
	lap("exact")

	// Exact leave-one-out vs retraining without i.
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	dwAll, err := p.Retrain(all)
	if err != nil {
		return nil, err
	}
	fAll, err := p.Outputs(be, dwAll, test)
	if err != nil {
		return nil, err
	}
	v.Removed = rng.Perm(n)[:opts.Removals]
	bar := progress.New(opts.Progress, "retrain without i", len(v.Removed), "fit")
	for _, i := range v.Removed {
		dw, err := p.Retrain(slices.Delete(slices.Clone(all), i, i+1))
		if err != nil {
			return nil, err
		}
		f, err := p.Outputs(be, dw, test)
		if err != nil {
			return nil, err
		}
		for m := range f {
			v.Predicted = append(v.Predicted, loo[i][m])
			v.Actual = append(v.Actual, float64(fAll[m])-float64(f[m]))
		}
		bar.Add(1)
	}
	bar.Finish()
	v.ExactVsRetrainPearson = stat.Correlation(v.Predicted, v.Actual, nil)
	v.ExactVsRetrainMaxRelError = linalg.MaxRelError(v.Predicted, v.Actual)
	lap("retrain")

	// Unlearning a set at once vs retraining on the rest.
	removed := rng.Perm(n)[:opts.Unlearn]
	if v.UnlearnVsRetrainMaxRelError, err = checkUnlearning(p, kTest, Jt, removed); err != nil {
		return nil, err
	}
	v.Unlearned = len(removed)
	lap("unlearn")

	e := make([]float64, n*c) // residuals of the exact solution: rho a
	for r, a := range p.Exact.Coefficients() {
		e[r] = p.Ridge() * a
	}
	// Where K-FAC's error comes from: eq. 8 with the exact curvature, whole
	// or restricted to K-FAC's per-layer blocks.
	v.CurvatureCeilingPearson = map[string]float64{}
	for _, cfg := range []struct {
		name   string
		blocks []model.Block
		levs   []Leverage
	}{
		{"exact_h", []model.Block{{Start: 0, End: p.P}}, []Leverage{LeverageNone}},
		{"layer_blocks", model.LayerBlocks(net), []Leverage{LeverageExact, LeverageNone}},
	} {
		bi, err := NewBlockInfluence(p.J, Jt, p.P, c, e, p.Ridge(), cfg.blocks)
		if err != nil {
			return nil, err
		}
		for _, lev := range cfg.levs {
			d, clamped, err := bi.LeaveOneOut(lev)
			if err != nil {
				return nil, err
			}
			v.CurvatureCeilingPearson[cfg.name+map[Leverage]string{LeverageExact: "_exact_leverage", LeverageNone: "_no_leverage"}[lev]] = stat.Correlation(flatten(d), flatten(loo), nil)
			if lev == LeverageExact {
				v.LayerBlocksClamped = clamped
			}
		}
	}
	lap("ceiling")

	// K-FAC vs exact.
	f, err := kfac.Compute(be, net, train, opts.KFAC)
	if err == nil && opts.KFAC.EigenCorrection {
		err = f.CorrectEigenvalues(be, net, train, opts.KFAC)
	}
	if err != nil {
		return nil, err
	}
	v.KFACVsExactPearsonByLeverage = map[string]float64{}
	for _, lev := range []Leverage{LeverageExact, LeverageNone, LeveragePaper} {
		kf, err := NewKFAC(be, net, f, train, opts.Lambda, e, KFACOptions{BatchSize: opts.KFAC.BatchSize, Leverage: lev, Progress: opts.Progress})
		if err != nil {
			return nil, err
		}
		approx, err := kf.Query(be, test)
		if err != nil {
			return nil, err
		}
		r := stat.Correlation(flatten(approx), flatten(loo), nil)
		v.KFACVsExactPearsonByLeverage[string(lev)] = r
		// The default correction, (I - S_i)^-1 (see KFAC), is the one
		// reported as kfac_vs_exact_pearson.
		if lev == LeverageExact {
			v.KFACClamped = kf.Clamped()
			v.KFACVsExactPearson = r
			v.KFACSelfPearson = stat.Correlation(flatten(kf.SelfInfluence()), flatten(p.Exact.SelfInfluence()), nil)
		}
	}
	lap("kfac")

	// Linear datamodeling scores.
	subsets := make([][]int, opts.Subsets)
	for j := range subsets {
		subsets[j] = rng.Perm(n)[:n/2]
		sort.Ints(subsets[j])
	}
	ban, err := Banzhaf(p.K, p.R, c, p.Ridge(), kTest, opts.BanzhafSamples, opts.Seed+1, opts.Progress)
	if err != nil {
		return nil, err
	}
	v.BanzhafSamples = opts.BanzhafSamples
	lap("banzhaf")
	scores := attributionSums(ban, subsets, test.Labels, c) // [subset][test]
	scoresLOO := attributionSums(loo, subsets, test.Labels, c)
	lqfOut := make([][]float64, len(subsets))
	bar = progress.New(opts.Progress, "lds lqf", len(subsets), "fit")
	for j, s := range subsets {
		dw, err := p.Retrain(s)
		if err != nil {
			return nil, err
		}
		out := kernelOutputs(f0Test, Jt, p.P, dw)
		lqfOut[j] = margins(out, test.Labels, c)
		bar.Add(1)
	}
	bar.Finish()
	v.LDSLQF, v.LDSLQFLOO = lds(scores, lqfOut), lds(scoresLOO, lqfOut)
	lap("lds_lqf")
	if relu != nil {
		nlftOut := make([][]float64, len(subsets))
		bar = progress.New(opts.Progress, "lds nlft", len(subsets), "fit")
		for j, s := range subsets {
			m, err := relu.ReplaceHead(be, c, opts.Seed)
			if err != nil {
				return nil, err
			}
			o := opts.NLFT
			o.BatchNorm = model.TrainBatchStats
			if _, err := m.Train(be, train.Subset(s), o); err != nil {
				return nil, fmt.Errorf("influence: NLFT on subset %d: %w", j, err)
			}
			out, err := m.Logits(be, test)
			if err != nil {
				return nil, err
			}
			nlftOut[j] = margins(float64s(out), test.Labels, c)
			bar.Add(1)
		}
		bar.Finish()
		a, b := lds(scores, nlftOut), lds(scoresLOO, nlftOut)
		v.LDSNLFT, v.LDSNLFTLOO = &a, &b
		lap("lds_nlft")
	}
	return v, nil
}

// checkUnlearning removes the samples removed from p's exact solution by
// Woodbury and compares test outputs and dw with retraining on the rest.
func checkUnlearning(p *Problem, kTest *mat.Dense, Jt []float32, removed []int) (float64, error) {
	u, err := p.Exact.Remove(removed)
	if err != nil {
		return 0, err
	}
	keep := u.Indices()
	c := p.C
	cols := make([]int, 0, len(keep)*c)
	J := make([]float32, 0, len(keep)*c*p.P)
	for _, i := range keep {
		for a := range c {
			cols = append(cols, i*c+a)
		}
		J = append(J, p.J[i*c*p.P:(i+1)*c*p.P]...)
	}
	rows, _ := kTest.Dims()
	sub := mat.NewDense(rows, len(cols), nil)
	for r := range rows {
		for k, col := range cols {
			sub.Set(r, k, kTest.At(r, col))
		}
	}
	got, err := u.Predict(sub)
	if err != nil {
		return 0, err
	}
	gotW, err := u.Weights(J, p.P)
	if err != nil {
		return 0, err
	}
	dw, err := p.Retrain(keep)
	if err != nil {
		return 0, err
	}
	want := kernelOutputs(make([]float32, rows), Jt, p.P, dw)
	return max(linalg.MaxRelError(got, want), linalg.MaxRelError(gotW, dw)), nil
}

// kernelOutputs returns f0 + J dw in float64 from Jacobian rows J [T*C, P].
func kernelOutputs(f0 []float32, J []float32, p int, dw []float64) []float64 {
	out := make([]float64, len(f0))
	for r := range out {
		s := float64(f0[r])
		for k, x := range J[r*p : (r+1)*p] {
			s += float64(x) * dw[k]
		}
		out[r] = s
	}
	return out
}

// margins returns f_y(x) - mean_{c != y} f_c(x) of every image from
// outputs [T*C].
func margins(out []float64, labels []int32, c int) []float64 {
	m := make([]float64, len(labels))
	for t, y := range labels {
		s := 0.0
		for a := range c {
			if a != int(y) {
				s += out[t*c+a]
			}
		}
		m[t] = out[t*c+int(y)] - s/float64(c-1)
	}
	return m
}

// attributionSums returns, per subset and test image, the sum over the
// subset's samples of the leave-one-out change of the image's margin.
func attributionSums(loo [][]float64, subsets [][]int, labels []int32, c int) [][]float64 {
	tau := make([][]float64, len(loo)) // [train][test]: margin change
	for i, d := range loo {
		tau[i] = margins(d, labels, c)
	}
	out := make([][]float64, len(subsets))
	for j, s := range subsets {
		out[j] = make([]float64, len(labels))
		for _, i := range s {
			for t, x := range tau[i] {
				out[j][t] += x
			}
		}
	}
	return out
}

// lds is the mean over test images of the Spearman correlation between
// predicted [subset][test] and actual [subset][test].
func lds(pred, actual [][]float64) float64 {
	tests := len(pred[0])
	sum := 0.0
	for t := range tests {
		a, b := make([]float64, len(pred)), make([]float64, len(pred))
		for j := range pred {
			a[j], b[j] = pred[j][t], actual[j][t]
		}
		sum += Spearman(a, b)
	}
	return sum / float64(tests)
}

// Spearman is the Pearson correlation of the ranks of x and y (ties get
// their mean rank).
func Spearman(x, y []float64) float64 {
	return stat.Correlation(ranks(x), ranks(y), nil)
}

func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	r := make([]float64, len(x))
	for lo := 0; lo < len(idx); {
		hi := lo
		for hi+1 < len(idx) && x[idx[hi+1]] == x[idx[lo]] {
			hi++
		}
		for k := lo; k <= hi; k++ {
			r[idx[k]] = float64(lo+hi) / 2
		}
		lo = hi + 1
	}
	return r
}

func flatten(d [][]float64) []float64 {
	var out []float64
	for _, r := range d {
		out = append(out, r...)
	}
	return out
}

func float64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

package influence

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// FitOptions configures Fit. The zero value is lqf influence's default
// problem: lambda 1e-4, alpha = model.DefaultAlpha, head seed 1, no cache.
type FitOptions struct {
	// Lambda is the weight decay of LQF's mean-form objective
	// (1/N) sum_i ||f(x_i) - alpha y_i||^2 + lambda/2 ||dw||^2 (paper eq. 3);
	// the closed form's ridge is rho = lambda N / 2. Default 1e-4.
	Lambda float64
	// Alpha scales the one-hot targets; default model.DefaultAlpha.
	Alpha float64
	// Seed initializes the new head (0 means 1).
	Seed uint64
	// CacheDir, if set, keeps the kernel set-up (outputs at w0, Jacobian
	// rows, NTK) in a file named by a hash of the backbone's parameters,
	// the training set, alpha and the seed, so that another process (or
	// another notebook cell) with the same inputs reloads it instead of
	// recomputing the Jacobian rows. Lambda is not part of the key: the
	// kernel does not depend on it.
	CacheDir string
	// Kernel, if set, is the kernel set-up to use (model.NewKernel of the
	// backbone with the head of Seed on the training set, with Alpha), for
	// example the one finetune.Options.Kernel shared; CacheDir is then not
	// used.
	Kernel   *model.Kernel
	Progress io.Writer
}

func (o FitOptions) withDefaults() FitOptions {
	if o.Lambda == 0 {
		o.Lambda = 1e-4
	}
	if o.Alpha == 0 {
		o.Alpha = model.DefaultAlpha
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Fitted is LQF fitted in closed form (kernel form, exact) on a training
// set, ready for ad-hoc questions: what it predicts and why (Explain:
// exact leave-one-out proponents and opponents, paper eq. 7), which
// training samples it fits only because they are there (SelfInfluence),
// and the exact model without some samples (Unlearn). Every result is
// JSON-marshalable. Exact as far as its arrays fit in memory: the N*C
// Jacobian rows over all P parameters (N*C*P*4 bytes), the kernel and its
// inverse (2 (N*C)^2 8 bytes); ExactMemory predicts the peak.
type Fitted struct {
	// Train is the training set the model was fitted on (before Unlearn).
	Train *data.Set
	// Lambda is the weight decay, Ridge rho = Lambda N / 2 (N of Train).
	Lambda, Ridge float64
	// Kept lists the training samples (indices in Train) the current model
	// uses: all of them after Fit, fewer after Unlearn.
	Kept []int
	p    *Problem
	e    *Exact
}

// Fit fits LQF on train from backbone (with a new head for train's classes)
// and prepares attribution. The first call with a CacheDir computes and
// stores the kernel set-up; later calls with the same inputs load it.
func Fit(be backends.Backend, backbone *model.Network, train *data.Set, opts FitOptions) (*Fitted, error) {
	opts = opts.withDefaults()
	if !(opts.Lambda > 0) {
		return nil, fmt.Errorf("influence: lambda %g must be > 0", opts.Lambda)
	}
	k := opts.Kernel
	if k == nil {
		net, err := backbone.ReplaceHead(be, train.NumClasses, opts.Seed)
		if err != nil {
			return nil, err
		}
		if k, err = cachedKernel(be, backbone, net, train, opts); err != nil {
			return nil, err
		}
	} else if k.N != train.Len() || k.C != train.NumClasses || k.Alpha != opts.Alpha {
		return nil, fmt.Errorf("influence: FitOptions.Kernel is for %d samples, %d classes and alpha %g, not %d, %d and %g", k.N, k.C, k.Alpha, train.Len(), train.NumClasses, opts.Alpha)
	}
	p := &Problem{Kernel: k, Train: train, Lambda: opts.Lambda}
	var err error
	if p.Exact, err = NewExact(p.K, p.R, k.C, p.Ridge()); err != nil {
		return nil, err
	}
	kept := make([]int, train.Len())
	for i := range kept {
		kept[i] = i
	}
	return &Fitted{Train: train, Lambda: opts.Lambda, Ridge: p.Ridge(), Kept: kept, p: p, e: p.Exact}, nil
}

// Problem is the kernel-form problem behind m (before Unlearn).
func (m *Fitted) Problem() *Problem { return m.p }

// testKernel is the kernel between set's outputs and the kept training
// samples' outputs, [T*C, len(Kept)*C]; set's Jacobian rows are computed a
// chunk of images at a time (model.Kernel.CrossKernel), so set may be
// large.
func (m *Fitted) testKernel(be backends.Backend, set *data.Set) (*mat.Dense, error) {
	kt, err := m.p.CrossKernel(be, set, nil)
	if err != nil {
		return nil, err
	}
	if len(m.Kept) == m.Train.Len() {
		return kt, nil
	}
	c := m.p.C
	rows, _ := kt.Dims()
	out := mat.NewDense(rows, len(m.Kept)*c, nil)
	for j, i := range m.Kept {
		for a := range c {
			out.SetCol(j*c+a, mat.Col(nil, i*c+a, kt))
		}
	}
	return out, nil
}

// Outputs returns the model's outputs f0(x) + J(x) dw* on set, [T*C].
func (m *Fitted) Outputs(be backends.Backend, set *data.Set) ([]float64, error) {
	if set.Len() == 0 {
		return nil, nil
	}
	kt, err := m.testKernel(be, set)
	if err != nil {
		return nil, err
	}
	return m.outputs(be, set, kt)
}

func (m *Fitted) outputs(be backends.Backend, set *data.Set, kt *mat.Dense) ([]float64, error) {
	out, err := m.e.Predict(kt)
	if err != nil {
		return nil, err
	}
	f0, err := m.p.Net.Logits(be, set)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i] += float64(f0[i])
	}
	return out, nil
}

// Scores returns the exact leave-one-out changes of set's outputs, one row
// per kept training sample (in the order of Kept).
func (m *Fitted) Scores(be backends.Backend, set *data.Set) (Scores, error) {
	kt, err := m.testKernel(be, set)
	if err != nil {
		return Scores{}, err
	}
	d, err := m.e.LeaveOneOut(kt)
	return Scores{D: d, Classes: m.p.C}, err
}

// Explanation is why the model predicts what it does for one image.
type Explanation struct {
	Image     int       `json:"image"` // index in the explained set
	Label     int       `json:"label"` // true class, -1 when unknown
	Predicted int       `json:"predicted"`
	Outputs   []float64 `json:"outputs"` // f0 + J dw*, one per class
	// Proponents are the training samples whose removal lowers the
	// predicted class's output most (they push it up), Opponents those
	// whose removal raises it most; Train indices are in Fitted.Train.
	Proponents []Attribution `json:"proponents"`
	Opponents  []Attribution `json:"opponents"`
}

// Explain returns, for every image of set, the prediction and its top
// proponents and opponents (top of each) by exact leave-one-out: the change
// f(x) - f_-i(x) of the outputs if training sample i were left out,
// computed for all i at once (Woodbury; paper eq. 7), no retraining.
func (m *Fitted) Explain(be backends.Backend, set *data.Set, top int) ([]Explanation, error) {
	if top < 1 {
		return nil, fmt.Errorf("influence: top %d must be >= 1", top)
	}
	if set.Len() == 0 {
		return nil, nil
	}
	kt, err := m.testKernel(be, set)
	if err != nil {
		return nil, err
	}
	out, err := m.outputs(be, set, kt)
	if err != nil {
		return nil, err
	}
	d, err := m.e.LeaveOneOut(kt)
	if err != nil {
		return nil, err
	}
	c := m.p.C
	scores := Scores{D: d, Classes: c}
	exps := make([]Explanation, set.Len())
	for t := range exps {
		o := out[t*c : (t+1)*c]
		e := Explanation{Image: t, Label: -1, Predicted: model.Argmax(o), Outputs: o}
		truth := e.Predicted
		if t < len(set.Labels) && int(set.Labels[t]) < c {
			e.Label, truth = int(set.Labels[t]), int(set.Labels[t])
		}
		if e.Proponents, e.Opponents, err = scores.TopK(t, e.Predicted, truth, top); err != nil {
			return nil, err
		}
		for _, a := range [][]Attribution{e.Proponents, e.Opponents} {
			for j := range a {
				a[j].Train = m.Kept[a[j].Train]
			}
		}
		exps[t] = e
	}
	return exps, nil
}

// SelfInfluence ranks the kept training samples by the change of their own
// outputs when each is left out (largest first: samples the model fits
// only because they are in the training set, atypical or mislabeled ones).
func (m *Fitted) SelfInfluence() ([]SelfScore, error) {
	labels := make([]int32, len(m.Kept))
	for j, i := range m.Kept {
		labels[j] = m.Train.Labels[i]
	}
	ranked, err := RankSelf(m.e.SelfInfluence(), labels)
	if err != nil {
		return nil, err
	}
	for j := range ranked {
		ranked[j].Train = m.Kept[ranked[j].Train]
	}
	return ranked, nil
}

// Unlearn returns the exact LQF model without the training samples idx
// (indices in Train; exact unlearning by a Woodbury downdate of the
// solution, the same rho, no retraining). m is unchanged.
func (m *Fitted) Unlearn(idx []int) (*Fitted, error) {
	var pos []int
	for _, i := range idx {
		j := slices.Index(m.Kept, i)
		if j < 0 {
			return nil, fmt.Errorf("influence: training sample %d is not in the model (kept: %d of %d)", i, len(m.Kept), m.Train.Len())
		}
		if slices.Contains(pos, j) {
			return nil, fmt.Errorf("influence: training sample %d is listed twice", i)
		}
		pos = append(pos, j)
	}
	if len(pos) == 0 {
		return nil, errors.New("influence: Unlearn needs at least one training sample")
	}
	e, err := m.e.Remove(pos)
	if err != nil {
		return nil, err
	}
	kept := make([]int, 0, len(m.Kept)-len(pos))
	for j, i := range m.Kept {
		if !slices.Contains(pos, j) {
			kept = append(kept, i)
		}
	}
	u := *m
	u.e, u.Kept = e, kept
	return &u, nil
}

package influence

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// Approximation selects how an Explainer computes leave-one-out.
type Approximation string

const (
	// ExactLOO is exact: kernel form for LQF (N*C up to about 10,000),
	// primal form for LQF-FC (any N).
	ExactLOO Approximation = "exact"
	// KFACLOO approximates LQF's curvature with K-FAC (large N).
	KFACLOO Approximation = "kfac"
)

// ExplainOptions configures NewExplainer.
type ExplainOptions struct {
	Method finetune.Method // finetune.LQF or finetune.LQFFC
	Approx Approximation
	// Banzhaf, if > 0, makes the kernel form's scores Banzhaf values over
	// that many random subsets (see Banzhaf) instead of leave-one-out.
	Banzhaf int
	Lambda  float64 // weight decay of the mean-form objective
	Alpha   float64 // target scale; default model.DefaultAlpha
	Seed    uint64  // of the new head
	// KFAC configures the factors (Approx KFACLOO); Sketch the dimension
	// of the stored training vectors (0: whole).
	KFAC   kfac.Options
	Sketch int
	// Fit trains the LQF model whose residuals K-FAC attribution needs
	// (Approx KFACLOO): options of finetune.Run (its Method, Loss and
	// grids are set here).
	Fit finetune.Options
	// CacheDir keeps the kernel set-up of the exact kernel form on disk
	// (FitOptions.CacheDir).
	CacheDir string
	Progress io.Writer
}

// Explainer attributes a fitted LQF model's test outputs to its training
// samples.
type Explainer interface {
	// Outputs returns the fitted model's outputs on set, [T*C].
	Outputs(be backends.Backend, set *data.Set) ([]float64, error)
	// Scores returns the leave-one-out changes of set's outputs.
	Scores(be backends.Backend, set *data.Set) (Scores, error)
	// SelfInfluence returns, [N][C], the change of each training sample's
	// own outputs when it is removed.
	SelfInfluence() ([][]float64, error)
}

// NewExplainer fits LQF (or LQF-FC) on train from the Leaky-ReLU backbone
// (with a new head for train's classes) and prepares attribution.
func NewExplainer(be backends.Backend, backbone *model.Network, train *data.Set, opts ExplainOptions) (Explainer, error) {
	if opts.Alpha == 0 {
		opts.Alpha = model.DefaultAlpha
	}
	if !(opts.Lambda > 0) {
		return nil, fmt.Errorf("influence: lambda %g must be > 0", opts.Lambda)
	}
	if opts.Method == finetune.LQF && (opts.Approx == ExactLOO || opts.Approx == "") {
		// Fit puts the head on the backbone itself.
		f, err := Fit(be, backbone, train, FitOptions{Lambda: opts.Lambda, Alpha: opts.Alpha, Seed: opts.Seed, CacheDir: opts.CacheDir, Progress: opts.Progress})
		if err != nil {
			return nil, err
		}
		return &kernelExplainer{f, opts}, nil
	}
	net, err := backbone.ReplaceHead(be, train.NumClasses, opts.Seed)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.Method == finetune.LQF && opts.Approx == KFACLOO:
		return newKFACExplainer(be, backbone, net, train, opts)
	case opts.Banzhaf > 0:
		return nil, errors.New("influence: Banzhaf values need the exact kernel form (method lqf, exact)")
	case opts.Method == finetune.LQFFC && (opts.Approx == ExactLOO || opts.Approx == ""):
		return newPrimalExplainer(be, net, train, opts)
	case opts.Method == finetune.LQFFC:
		return nil, errors.New("influence: lqf-fc is exact at any N (primal form): use the exact approximation")
	default:
		return nil, fmt.Errorf("influence: method %q has no attribution (want lqf or lqf-fc)", opts.Method)
	}
}

// kernelExplainer is the exact kernel form (Fitted), with Banzhaf values
// as an alternative score.
type kernelExplainer struct {
	f    *Fitted
	opts ExplainOptions
}

func (k *kernelExplainer) Outputs(be backends.Backend, set *data.Set) ([]float64, error) {
	return k.f.Outputs(be, set)
}

func (k *kernelExplainer) Scores(be backends.Backend, set *data.Set) (Scores, error) {
	if k.opts.Banzhaf == 0 {
		return k.f.Scores(be, set)
	}
	p := k.f.p
	kt, _, err := p.TestKernel(be, set, nil)
	if err != nil {
		return Scores{}, err
	}
	d, err := Banzhaf(p.K, p.R, p.C, p.Ridge(), kt, k.opts.Banzhaf, k.opts.Seed, k.opts.Progress)
	return Scores{d, p.C}, err
}

func (k *kernelExplainer) SelfInfluence() ([][]float64, error) { return k.f.e.SelfInfluence(), nil }

type primalExplainer struct {
	net *model.Network
	pr  *Primal
}

func newPrimalExplainer(be backends.Backend, net *model.Network, train *data.Set, opts ExplainOptions) (*primalExplainer, error) {
	feats, err := net.Features(be, train)
	if err != nil {
		return nil, err
	}
	f0, err := net.Logits(be, train)
	if err != nil {
		return nil, err
	}
	c := net.NumClasses()
	r := linalg.Residuals(f0, train.Labels, c, opts.Alpha)
	pr, err := NewPrimal(feats, net.FeatureDim(), r, c, linalg.RidgeTerm(opts.Lambda, train.Len()))
	if err != nil {
		return nil, err
	}
	return &primalExplainer{net, pr}, nil
}

func (e *primalExplainer) Outputs(be backends.Backend, set *data.Set) ([]float64, error) {
	feats, err := e.net.Features(be, set)
	if err != nil {
		return nil, err
	}
	f0, err := e.net.Logits(be, set)
	if err != nil {
		return nil, err
	}
	out, err := e.pr.Predict(feats)
	if err != nil {
		return nil, err
	}
	for r := range out {
		out[r] += float64(f0[r])
	}
	return out, nil
}

func (e *primalExplainer) Scores(be backends.Backend, set *data.Set) (Scores, error) {
	feats, err := e.net.Features(be, set)
	if err != nil {
		return Scores{}, err
	}
	d, err := e.pr.LeaveOneOut(feats)
	return Scores{d, e.net.NumClasses()}, err
}

func (e *primalExplainer) SelfInfluence() ([][]float64, error) { return e.pr.SelfInfluence() }

type kfacExplainer struct {
	k     *KFAC
	model finetune.Predictor
}

// newKFACExplainer trains LQF (K-FAC-preconditioned SGD, the lambda of
// opts) to get the residuals, then precomputes K-FAC attribution.
func newKFACExplainer(be backends.Backend, backbone, net *model.Network, train *data.Set, opts ExplainOptions) (*kfacExplainer, error) {
	fit := opts.Fit
	fit.Method, fit.Loss, fit.Alpha, fit.Seed = finetune.LQF, model.MSE, opts.Alpha, opts.Seed
	fit.Lambdas = []float64{opts.Lambda}
	if len(fit.LearningRates) != 1 {
		return nil, errors.New("influence: K-FAC attribution fits LQF at one learning rate (ExplainOptions.Fit.LearningRates)")
	}
	if fit.Curvature == nil {
		fit.Curvature = kfac.CurvatureFunc(opts.KFAC, 0) // undamped: the attribution's own factors
	}
	fit.Progress = opts.Progress
	// Finetune selects on a validation split; the training set stands in
	// (one grid point: nothing is selected).
	_, fitted, err := finetune.Run(be, backbone, &data.Splits{Train: train, Val: train, Test: train}, fit)
	if err != nil {
		return nil, fmt.Errorf("influence: fitting LQF: %w", err)
	}
	pred, err := fitted.Predict(be, train)
	if err != nil {
		return nil, err
	}
	for _, v := range pred {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, errors.New("influence: the LQF fit diverged (non-finite outputs): lower its learning rate or raise the preconditioner's extra damping")
		}
	}
	e := linalg.Residuals(pred, train.Labels, net.NumClasses(), opts.Alpha)
	f, err := kfac.Compute(be, net, train, opts.KFAC)
	if err != nil {
		return nil, err
	}
	k, err := NewKFAC(be, net, f, train, opts.Lambda, e, KFACOptions{Sketch: opts.Sketch, Seed: opts.Seed, BatchSize: opts.KFAC.BatchSize, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	return &kfacExplainer{k, fitted}, nil
}

func (e *kfacExplainer) Outputs(be backends.Backend, set *data.Set) ([]float64, error) {
	out, err := e.model.Predict(be, set)
	return float64s(out), err
}

func (e *kfacExplainer) Scores(be backends.Backend, set *data.Set) (Scores, error) {
	d, err := e.k.Query(be, set)
	return Scores{d, e.k.Classes}, err
}

func (e *kfacExplainer) SelfInfluence() ([][]float64, error) { return e.k.SelfInfluence(), nil }

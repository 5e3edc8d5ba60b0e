package model

import (
	"fmt"
	"io"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/linalg"
)

// Method is a fine-tuning method.
type Method string

const (
	// NLFT is ordinary (non-linear) fine-tuning of every layer with SGD and
	// momentum, batch statistics in batch norm; ReLU backbone.
	NLFT Method = "nlft"
	// FC is the linear probe: the pretrained backbone is frozen, features are
	// computed once and only a new classifier is trained (cross-entropy).
	FC Method = "fc"
	// LQF trains the linearized network f0(x) + J(x) dw over every layer's
	// dw with MSE on alpha-scaled targets and lambda/2 ||dw||^2 in the loss;
	// Leaky-ReLU backbone, frozen batch-norm statistics.
	LQF Method = "lqf"
	// LQFFC is LQF restricted to the classifier's dw.
	LQFFC Method = "lqf-fc"
	// GaF ("gradients as features") linearizes every layer like LQF but
	// trains with cross-entropy and plain SGD; ReLU backbone.
	GaF Method = "gaf"
)

// Methods lists the fine-tuning methods in the order of the paper's tables.
func Methods() []Method { return []Method{NLFT, LQF, LQFFC, GaF, FC} }

// ParseMethod accepts the names of the methods implemented by Finetune.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown method %q (want one of nlft, lqf, lqf-fc, gaf, fc)", s)
}

// Linear reports whether the method trains a linearized network.
func (m Method) Linear() bool { return m == LQF || m == LQFFC || m == GaF }

// Activation is the backbone activation the method starts from: Leaky-ReLU
// for LQF (a dead ReLU unit has a zero Jacobian), ReLU for the others.
func (m Method) Activation() Activation {
	if m == LQF || m == LQFFC {
		return LeakyReLU
	}
	return ReLU
}

// FinetuneOptions configures Finetune. The hyper-parameter grid is searched
// on the validation split; the best point's test error is reported.
type FinetuneOptions struct {
	Method        Method
	Loss          Loss // CrossEntropy or MSE; see DefaultFinetuneOptions
	Alpha         float64
	LearningRates []float64
	WeightDecays  []float64
	Epochs        float64
	BatchSize     int
	Momentum      float64
	Augment       data.Augmentation
	Seed          uint64
	// Optimizer is SGD (with Momentum) or Adam; AdamBeta1 0 means 0.9.
	Optimizer Optimizer
	AdamBeta1 float64
	// Curvature, if set, preconditions LQF and LQF-FC (SGD with momentum)
	// with the curvature of the linearized network at w0, damped by each
	// grid point's lambda: package kfac provides it. Nil trains with plain
	// SGD.
	Curvature CurvatureFunc
	// Solver is SolverSGD (iterative) or SolverExact (closed form, LQF and
	// LQF-FC only; the learning rates are then ignored).
	Solver Solver
	// Linearization is how LQF and GaF evaluate f0 + J dw while training
	// (SolverSGD): by a JVP pass per batch or on Jacobian rows computed
	// once; LinearizeAuto picks by memory.
	Linearization Linearization
	// JacobianCache, if set, keeps the Jacobian features between calls
	// with the same pretrained network, training set and seed.
	JacobianCache *JacobianCache
	Progress      io.Writer
}

// Curvature is the constant curvature of a linearized network's loss over
// a training set, turned into a preconditioner for a damping lambda.
type Curvature interface {
	Preconditioner(lambda float64) (Preconditioner, error)
}

// CurvatureFunc computes the Curvature of net (with its new head) on train.
type CurvatureFunc func(be backends.Backend, net *Network, train *data.Set) (Curvature, error)

// Solver selects how the linear methods reach their optimum.
type Solver string

const (
	SolverSGD Solver = "sgd"
	// SolverExact solves LQF in kernel form (per-sample Jacobian rows, Gram
	// matrix K = J J^T, Cholesky of K + (lambda N / 2) I) and LQF-FC in
	// primal form; float64 throughout except the Jacobian itself.
	SolverExact Solver = "exact"
)

// PaperGrid returns the paper's search grid: eta in {0.01, 0.001} and
// lambda in {1e-4, 1e-5} for every method trained with SGD (Sec. 4, A.2);
// NLFT with MSE eta in {0.1, 0.05, 0.01, 0.001, 0.0001} (Fig. 7). The
// linear probe, cheap to train on cached features, uses {0.1, 0.01}.
func PaperGrid(m Method, loss Loss) (lrs, wds []float64) {
	switch {
	case m == FC:
		return []float64{0.1, 0.01}, []float64{1e-4, 1e-5}
	case m == NLFT && loss == MSE:
		return []float64{0.1, 0.05, 0.01, 0.001, 0.0001}, []float64{1e-4, 1e-5}
	default:
		return []float64{0.01, 0.001}, []float64{1e-4, 1e-5}
	}
}

// AdamGrid is the paper's grid with Adam (Table 3): eta in {0.001, 0.0004,
// 0.0001}, lambda in {1e-5, 1e-6}.
func AdamGrid() (lrs, wds []float64) {
	return []float64{0.001, 0.0004, 0.0001}, []float64{1e-5, 1e-6}
}

// WithAdam switches o to Adam with the paper's grid and beta1 (0.5 for GaF,
// as in its paper; 0.9 otherwise).
func (o FinetuneOptions) WithAdam() FinetuneOptions {
	o.Optimizer = Adam
	o.LearningRates, o.WeightDecays = AdamGrid()
	o.AdamBeta1 = 0.9
	if o.Method == GaF {
		o.AdamBeta1 = 0.5
	}
	return o
}

// DefaultFinetuneOptions returns method m's defaults: its loss (MSE with
// alpha = 15 for LQF and LQF-FC, cross-entropy otherwise), the paper's grid,
// batch 28, SGD with momentum 0.9 (plain SGD for GaF).
func DefaultFinetuneOptions(m Method) FinetuneOptions {
	o := FinetuneOptions{Method: m, Loss: CrossEntropy, Alpha: DefaultAlpha, Epochs: 10, BatchSize: 28, Momentum: 0.9, Seed: 1}
	switch m {
	case FC, LQFFC:
		o.Epochs = 30
	case GaF:
		o.Momentum = 0
	}
	if m == LQF || m == LQFFC {
		o.Loss = MSE
	}
	o.LearningRates, o.WeightDecays = PaperGrid(m, o.Loss)
	return o
}

// GridPoint is one hyper-parameter setting and its validation error.
type GridPoint struct {
	LearningRate float64 `json:"learning_rate"`
	WeightDecay  float64 `json:"weight_decay"`
	ValError     float64 `json:"val_error"`
	FinalLoss    float64 `json:"final_loss"`
}

// FinetuneResult reports a fine-tuning run at the selected grid point.
type FinetuneResult struct {
	Method       Method      `json:"method"`
	Loss         Loss        `json:"loss"`
	LearningRate float64     `json:"learning_rate"`
	WeightDecay  float64     `json:"weight_decay"`
	Epochs       float64     `json:"epochs"`
	BatchSize    int         `json:"batch_size"`
	TrainError   float64     `json:"train_error"`
	ValError     float64     `json:"val_error"`
	TestError    float64     `json:"test_error"`
	TrainSize    int         `json:"train_size"`
	ValSize      int         `json:"val_size"`
	TestSize     int         `json:"test_size"`
	Seconds      float64     `json:"seconds"`
	Grid         []GridPoint `json:"grid"`
	EpochLoss    []float64   `json:"epoch_loss"` // of the selected point
	// Linearization is how LQF or GaF trained: "jvp" or "jacobian" (empty
	// for the other methods and solvers).
	Linearization Linearization `json:"linearization,omitempty"`
}

// Predictor gives the outputs [set.Len(), C] (row-major) of a fine-tuned
// model.
type Predictor interface {
	Predict(be backends.Backend, set *data.Set) ([]float32, error)
}

// Predict returns the network's logits with frozen statistics.
func (n *Network) Predict(be backends.Backend, set *data.Set) ([]float32, error) {
	return n.Logits(be, set)
}

// LinearizedNetwork is a network's parameters w0 together with a
// displacement dw (variables under ScopeTangent of the same context): the
// model f0(x) + J(x) dw that LQF trains.
type LinearizedNetwork struct{ *Network }

// Predict returns f0(x) + J(x) dw for every image of set.
func (l LinearizedNetwork) Predict(be backends.Backend, set *data.Set) ([]float32, error) {
	arch := l.Arch
	out, _, err := Apply(be, l.Ctx, func(ctx *context.Context, x *Node) *Node { return arch.LinearizedLogits(ctx, x) },
		set.Images, []int{data.Height, data.Width, data.Channels}, set.Len())
	return out, err
}

// PredictError is the error rate of p on set.
func PredictError(be backends.Backend, p Predictor, set *data.Set) (float64, error) {
	out, err := p.Predict(be, set)
	if err != nil {
		return 0, err
	}
	return ErrorRate(out, set.Labels), nil
}

// fitted is one trained grid point.
type fitted struct {
	model    Predictor
	train    *TrainResult
	valError float64
}

// Finetune adapts the pretrained network to the task whose splits are given:
// its head is replaced by a new, randomly initialized one with the task's
// classes, then method m trains at every grid point, and the point with the
// lowest validation error is evaluated on train and test. It returns the
// selected model too. The caller picks the backbone (see
// Method.Activation).
func Finetune(be backends.Backend, pretrained *Network, splits *data.Splits, opts FinetuneOptions) (*FinetuneResult, Predictor, error) {
	start := time.Now()
	if opts.Loss == "" {
		opts.Loss = DefaultFinetuneOptions(opts.Method).Loss
	}
	if len(opts.LearningRates) == 0 || len(opts.WeightDecays) == 0 {
		opts.LearningRates, opts.WeightDecays = PaperGrid(opts.Method, opts.Loss)
	}
	if opts.Alpha == 0 {
		opts.Alpha = DefaultAlpha
	}
	if opts.Method == FC && opts.Loss != CrossEntropy {
		return nil, nil, fmt.Errorf("method fc trains with cross-entropy only, not %q", opts.Loss)
	}
	if splits.Train.Len() == 0 || splits.Val.Len() == 0 || splits.Test.Len() == 0 {
		return nil, nil, fmt.Errorf("empty split (train %d, val %d, test %d)", splits.Train.Len(), splits.Val.Len(), splits.Test.Len())
	}
	classes := splits.Train.NumClasses
	train := func(lr, wd float64, label string) TrainOptions {
		return TrainOptions{Loss: opts.Loss, Alpha: opts.Alpha, LearningRate: lr, WeightDecay: wd, Momentum: opts.Momentum,
			Optimizer: opts.Optimizer, AdamBeta1: opts.AdamBeta1,
			BatchSize: opts.BatchSize, Epochs: opts.Epochs, Seed: opts.Seed, Augment: opts.Augment,
			Progress: opts.Progress, Label: label}
	}
	if opts.Solver == SolverExact && opts.Method != LQF && opts.Method != LQFFC {
		return nil, nil, fmt.Errorf("the exact solver applies to lqf and lqf-fc (MSE), not %s", opts.Method)
	}
	if opts.Solver == SolverExact && opts.Loss != MSE {
		return nil, nil, fmt.Errorf("the exact solver needs the MSE loss, not %q", opts.Loss)
	}
	// The curvature depends on w0 and the training set only: computed once
	// (the new head is the same at every grid point: same seed).
	var curvature Curvature
	precondition := func(n *Network, lambda float64) (Preconditioner, error) {
		if curvature == nil {
			var err error
			if curvature, err = opts.Curvature(be, n, splits.Train); err != nil {
				return nil, fmt.Errorf("curvature: %w", err)
			}
		}
		return curvature.Preconditioner(lambda)
	}
	res := &FinetuneResult{Method: opts.Method, Loss: opts.Loss, Epochs: opts.Epochs, BatchSize: opts.BatchSize,
		TrainSize: splits.Train.Len(), ValSize: splits.Val.Len(), TestSize: splits.Test.Len()}
	// features holds the Jacobian rows of LinearizeJacobian, computed at the
	// first grid point: they depend on w0 and the new head (same seed at
	// every point) only.
	var features *JacobianFeatures
	var run func(lr, wd float64, label string) (*fitted, error)
	switch {
	case opts.Solver == SolverExact:
		solve, err := newExactSolver(be, pretrained, splits, opts)
		if err != nil {
			return nil, nil, err
		}
		run = func(_, wd float64, _ string) (*fitted, error) { return solve(wd) }
		opts.LearningRates = []float64{0}
	default:
		run = nil
	}
	switch {
	case run != nil:
	case opts.Method == NLFT || opts.Method == LQF || opts.Method == GaF:
		run = func(lr, wd float64, label string) (*fitted, error) {
			n, err := pretrained.ReplaceHead(be, classes, opts.Seed)
			if err != nil {
				return nil, err
			}
			o := train(lr, wd, label)
			var p Predictor = n
			var r *TrainResult
			if opts.Method == NLFT {
				o.BatchNorm = TrainBatchStats
				r, err = n.Train(be, splits.Train, o)
			} else {
				arch := n.Arch
				o.Scopes = []string{ScopeTangent}
				if opts.Method == LQF && opts.Curvature != nil {
					if o.Preconditioner, err = precondition(n, wd); err != nil {
						return nil, err
					}
				}
				if res.Linearization == "" {
					params := n.NumParameters(ScopeBackbone, ScopeHead)
					if res.Linearization, err = opts.Linearization.resolve(splits.Train.Len(), classes, params, o.Augment); err != nil {
						return nil, err
					}
					if opts.Progress != nil {
						how := "a linearized forward pass per batch"
						if res.Linearization == LinearizeJacobian {
							how = fmt.Sprintf("Jacobian rows computed once (%d images x %d classes x %d parameters, %d MiB)",
								splits.Train.Len(), classes, params, int64(splits.Train.Len())*int64(classes)*int64(params)*4>>20)
						}
						fmt.Fprintf(opts.Progress, "%s: f0 + J dw by %s (linearization %s)\n", opts.Method, how, res.Linearization)
					}
				}
				if res.Linearization == LinearizeJacobian {
					if features == nil {
						key := jacobianKey{pretrained, splits.Train, opts.Seed}
						features, err = opts.JacobianCache.get(key, func() (*JacobianFeatures, error) {
							return NewJacobianFeatures(be, n, splits.Train, opts.Progress)
						})
						if err != nil {
							return nil, err
						}
					}
					r, err = features.Train(be, n.Ctx, o)
				} else {
					r, err = TrainGraph(be, n.Ctx, arch.LinearizedLogits, ImageBatches(splits.Train, o.BatchSize, o.Augment, o.Seed), classes, o)
				}
				p = LinearizedNetwork{n}
			}
			if err != nil {
				return nil, err
			}
			ve, err := PredictError(be, p, splits.Val)
			return &fitted{p, r, ve}, err
		}
	case opts.Method == FC || opts.Method == LQFFC:
		probe, err := newFeatureProbe(be, pretrained, splits, classes, opts.Seed)
		if err != nil {
			return nil, nil, err
		}
		run = func(lr, wd float64, label string) (*fitted, error) {
			o := train(lr, wd, label)
			if opts.Method == LQFFC && opts.Curvature != nil {
				var err error
				if o.Preconditioner, err = precondition(probe.base, wd); err != nil {
					return nil, err
				}
			}
			return probe.fit(be, opts.Method == LQFFC, o)
		}
	default:
		return nil, nil, fmt.Errorf("unknown method %q", opts.Method)
	}
	var best *fitted
	for _, lr := range opts.LearningRates {
		for _, wd := range opts.WeightDecays {
			label := fmt.Sprintf("%s lr=%g wd=%g", opts.Method, lr, wd)
			f, err := run(lr, wd, label)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", label, err)
			}
			res.Grid = append(res.Grid, GridPoint{lr, wd, f.valError, f.train.StepLoss[len(f.train.StepLoss)-1]})
			if opts.Progress != nil {
				fmt.Fprintf(opts.Progress, "%s: val error %.4f\n", label, f.valError)
			}
			if best == nil || f.valError < best.valError {
				best = f
				res.LearningRate, res.WeightDecay, res.ValError, res.EpochLoss = lr, wd, f.valError, f.train.EpochLoss
			}
		}
	}
	var err error
	if res.TrainError, err = PredictError(be, best.model, splits.Train); err != nil {
		return nil, nil, err
	}
	if res.TestError, err = PredictError(be, best.model, splits.Test); err != nil {
		return nil, nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	return res, best.model, nil
}

// featureProbe trains classifiers on the frozen backbone's features,
// computed once: the linear probe (FC) and LQF restricted to the classifier
// (LQF-FC, which trains dW, db of f0 + h dW + db, the same as training the
// head W0 + dW with lambda/2 ||dW||^2 pulling it to W0).
type featureProbe struct {
	base        *Network // backbone with the new head
	train, val  []float32
	trainLabels []int32
	valSet      *data.Set
	featureDim  int
	classes     int
	seed        uint64
}

func newFeatureProbe(be backends.Backend, pretrained *Network, splits *data.Splits, classes int, seed uint64) (*featureProbe, error) {
	base, err := pretrained.ReplaceHead(be, classes, seed)
	if err != nil {
		return nil, err
	}
	p := &featureProbe{base: base, trainLabels: splits.Train.Labels, valSet: splits.Val,
		featureDim: pretrained.FeatureDim(), classes: classes, seed: seed}
	if p.train, err = pretrained.Features(be, splits.Train); err != nil {
		return nil, err
	}
	if p.val, err = pretrained.Features(be, splits.Val); err != nil {
		return nil, err
	}
	return p, nil
}

// fit trains the head on the cached features and returns the whole model
// (frozen backbone plus the trained head, or plus the head's dw).
func (p *featureProbe) fit(be backends.Backend, linearized bool, o TrainOptions) (*fitted, error) {
	n, err := p.base.Clone()
	if err != nil {
		return nil, err
	}
	arch := n.Arch
	head := func(ctx *context.Context, h *Node) *Node { return arch.Head(ctx, h) }
	var model Predictor = n
	o.Scopes = []string{ScopeHead}
	if linearized {
		head = arch.LinearizedHead
		o.Scopes = []string{ScopeTangent + context.ScopeSeparator + ScopeHead}
		model = LinearizedNetwork{n}
	}
	src := newFeatureSource(p.train, p.trainLabels, p.featureDim, o.BatchSize, o.Seed)
	o.Augment = data.NoAugmentation // features are computed once, without augmentation
	r, err := TrainGraph(be, n.Ctx, head, src, p.classes, o)
	if err != nil {
		return nil, err
	}
	out, _, err := Apply(be, n.Ctx, head, p.val, []int{p.featureDim}, p.valSet.Len())
	if err != nil {
		return nil, err
	}
	return &fitted{model, r, ErrorRate(out, p.valSet.Labels)}, nil
}

// newExactSolver prepares the closed form of LQF (kernel form) or LQF-FC
// (primal form) on the training split and returns a function that solves it
// for a weight decay lambda and measures the validation error.
func newExactSolver(be backends.Backend, pretrained *Network, splits *data.Splits, opts FinetuneOptions) (func(lambda float64) (*fitted, error), error) {
	classes := splits.Train.NumClasses
	n := splits.Train.Len()
	base, err := pretrained.ReplaceHead(be, classes, opts.Seed)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	f0, err := base.Logits(be, splits.Train)
	if err != nil {
		return nil, err
	}
	residual := linalg.Residuals(f0, splits.Train.Labels, classes, opts.Alpha)
	// evaluate returns the validation error of w0 + dw; loss is the LQF
	// objective at dw (data term plus lambda/2 ||dw||^2).
	evaluate := func(dw []float64, loss float64) (*fitted, error) {
		m, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if err := m.SetTangent(dw); err != nil {
			return nil, err
		}
		p := LinearizedNetwork{m}
		ve, err := PredictError(be, p, splits.Val)
		return &fitted{p, &TrainResult{StepLoss: []float64{loss}, EpochLoss: []float64{loss}, Duration: time.Since(start)}, ve}, err
	}
	if opts.Method == LQFFC {
		feats, err := base.Features(be, splits.Train)
		if err != nil {
			return nil, err
		}
		f := base.FeatureDim()
		return func(lambda float64) (*fitted, error) {
			dW, db, err := linalg.SolveLinearHead(feats, f0, splits.Train.Labels, f, classes, opts.Alpha, lambda)
			if err != nil {
				return nil, err
			}
			// Objective: residuals h_i dW + db - R_i.
			loss, sq := 0.0, 0.0
			for i := range n {
				for c := range classes {
					d := db[c] - residual[i*classes+c]
					for j := range f {
						d += float64(feats[i*f+j]) * dW[j*classes+c]
					}
					loss += d * d
				}
			}
			for _, v := range append(append([]float64(nil), dW...), db...) {
				sq += v * v
			}
			loss = loss/float64(n) + lambda/2*sq
			// Only the head moves: dw is zero on the backbone.
			dw := make([]float64, base.NumParameters())
			off := 0
			for _, v := range base.TrainableVariables() {
				if inScopes(v.Scope(), []string{ScopeHead}) {
					src := db
					if v.Name() == "weights" {
						src = dW
					}
					copy(dw[off:], src)
				}
				off += v.Shape().Size()
			}
			return evaluate(dw, loss)
		}, nil
	}
	// The same rows as the iterative solvers' Jacobian features: shared
	// through opts.JacobianCache (a run of LQF with SGD on the same set
	// then skips computing them).
	features, err := opts.JacobianCache.get(jacobianKey{pretrained, splits.Train, opts.Seed}, func() (*JacobianFeatures, error) {
		return NewJacobianFeatures(be, base, splits.Train, opts.Progress)
	})
	if err != nil {
		return nil, err
	}
	J, p := features.J, features.p
	K := linalg.Gram(J, n*classes, p)
	return func(lambda float64) (*fitted, error) {
		dw, err := linalg.SolveKernel(J, n*classes, p, K, residual, linalg.RidgeTerm(lambda, n))
		if err != nil {
			return nil, err
		}
		return evaluate(dw, linalg.Objective(J, p, residual, dw, lambda, n))
	}, nil
}

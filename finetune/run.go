package finetune

import (
	"fmt"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// fitted is one trained grid point.
type fitted struct {
	model    Predictor
	train    *model.TrainResult
	valError float64
}

// Run adapts the pretrained network to the task whose splits are given:
// its head is replaced by a new, randomly initialized one with the task's
// classes, then method m trains at every grid point, and the point with the
// lowest validation error is evaluated on train and test. It returns the
// selected model too. The caller picks the backbone (see
// Method.Activation).
func Run(be backends.Backend, pretrained *model.Network, splits *data.Splits, opts Options) (*Result, Predictor, error) {
	start := time.Now()
	if opts.Loss == "" {
		opts.Loss = DefaultOptions(opts.Method).Loss
	}
	if len(opts.LearningRates) == 0 || len(opts.Lambdas) == 0 {
		opts.LearningRates, opts.Lambdas = PaperGrid(opts.Method, opts.Loss)
	}
	if opts.Alpha == 0 {
		opts.Alpha = model.DefaultAlpha
	}
	if opts.Method == FC && opts.Loss != model.CrossEntropy {
		return nil, nil, fmt.Errorf("method fc trains with cross-entropy only, not %q", opts.Loss)
	}
	if splits.Train.Len() == 0 || splits.Val.Len() == 0 || splits.Test.Len() == 0 {
		return nil, nil, fmt.Errorf("empty split (train %d, val %d, test %d)", splits.Train.Len(), splits.Val.Len(), splits.Test.Len())
	}
	classes := splits.Train.NumClasses
	train := func(lr, wd float64, label string) model.TrainOptions {
		return model.TrainOptions{Loss: opts.Loss, Alpha: opts.Alpha, LearningRate: lr, Lambda: wd, Momentum: opts.Momentum,
			Optimizer: opts.Optimizer, AdamBeta1: opts.AdamBeta1,
			BatchSize: opts.BatchSize, Epochs: opts.Epochs, Seed: opts.Seed, Augment: opts.Augment,
			Progress: opts.Progress, Label: label}
	}
	if opts.Solver == SolverExact && opts.Method != LQF && opts.Method != LQFFC {
		return nil, nil, fmt.Errorf("the exact solver applies to lqf and lqf-fc (MSE), not %s", opts.Method)
	}
	if opts.Solver == SolverExact && opts.Loss != model.MSE {
		return nil, nil, fmt.Errorf("the exact solver needs the MSE loss, not %q", opts.Loss)
	}
	// The curvature depends on w0 and the training set only: computed once
	// (the new head is the same at every grid point: same seed).
	var curvature model.Curvature
	precondition := func(n *model.Network, lambda float64) (model.Preconditioner, error) {
		if curvature == nil {
			var err error
			if curvature, err = opts.Curvature(be, n, splits.Train); err != nil {
				return nil, fmt.Errorf("curvature: %w", err)
			}
		}
		return curvature.Preconditioner(lambda)
	}
	res := &Result{Method: opts.Method, Loss: opts.Loss, Epochs: opts.Epochs, BatchSize: opts.BatchSize,
		TrainSize: splits.Train.Len(), ValSize: splits.Val.Len(), TestSize: splits.Test.Len()}
	// features holds the Jacobian rows of LinearizeJacobian, computed at the
	// first grid point: they depend on w0 and the new head (same seed at
	// every point) only.
	var features *model.JacobianFeatures
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
			var r *model.TrainResult
			if opts.Method == NLFT {
				o.BatchNorm = model.TrainBatchStats
				r, err = n.Train(be, splits.Train, o)
			} else {
				arch := n.Arch
				o.Scopes = []string{model.ScopeTangent}
				if opts.Method == LQF && opts.Curvature != nil {
					if o.Preconditioner, err = precondition(n, wd); err != nil {
						return nil, err
					}
				}
				if res.Linearization == "" {
					params := n.NumParameters(model.ScopeBackbone, model.ScopeHead)
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
						features, err = opts.JacobianCache.get(key, func() (*model.JacobianFeatures, error) {
							return model.NewJacobianFeatures(be, n, splits.Train, opts.Progress)
						})
						if err != nil {
							return nil, err
						}
					}
					r, err = features.Train(be, n.Ctx, o)
				} else {
					r, err = model.TrainGraph(be, n.Ctx, arch.LinearizedLogits, model.ImageBatches(splits.Train, o.BatchSize, o.Augment, o.Seed), classes, o)
				}
				p = model.LinearizedNetwork{Network: n}
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
		for _, wd := range opts.Lambdas {
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
				res.LearningRate, res.Lambda, res.ValError, res.EpochLoss = lr, wd, f.valError, f.train.EpochLoss
			}
		}
	}
	trainOut, err := best.model.Predict(be, splits.Train)
	if err != nil {
		return nil, nil, err
	}
	res.TrainError = model.ErrorRate(trainOut, splits.Train.Labels)
	if lin, ok := best.model.(model.LinearizedNetwork); ok && (opts.Method == LQF || opts.Method == LQFFC) {
		dw, err := lin.Tangent()
		if err != nil {
			return nil, nil, err
		}
		res.Objective = Objective(trainOut, splits.Train.Labels, classes, opts.Alpha, dw, res.Lambda)
		if opts.Solver == SolverExact {
			res.ClosedFormObjective = best.train.EpochLoss[len(best.train.EpochLoss)-1]
		} else if opts.ClosedFormGap {
			o := opts
			o.Solver, o.Lambdas, o.Progress = SolverExact, []float64{res.Lambda}, nil
			solve, err := newExactSolver(be, pretrained, splits, o)
			if err != nil {
				return nil, nil, fmt.Errorf("closed form for the objective gap: %w", err)
			}
			f, err := solve(res.Lambda)
			if err != nil {
				return nil, nil, fmt.Errorf("closed form for the objective gap: %w", err)
			}
			res.ClosedFormObjective = f.train.EpochLoss[len(f.train.EpochLoss)-1]
		}
	}
	if res.TestOutputs, err = best.model.Predict(be, splits.Test); err != nil {
		return nil, nil, err
	}
	res.TestError = model.ErrorRate(res.TestOutputs, splits.Test.Labels)
	res.Seconds = time.Since(start).Seconds()
	if opts.Solver == SolverExact && opts.Method == LQF && opts.Kernel != nil {
		res.Seconds += opts.Kernel.Seconds // the shared set-up is LQF's cost too
	}
	return res, best.model, nil
}

// Objective is LQF's objective (paper eq. 3 in mean form, the convention
// of model.TrainOptions.Lambda) of a model whose outputs on the N training
// samples are out [N, C] and whose offset from w0 is dw:
// (1/N) sum_i sum_c (alpha [y_i = c] - out_ic)^2 + lambda/2 ||dw||^2,
// which is linalg.Objective with the outputs in place of f0 and dw's
// contribution J dw already in them.
func Objective(out []float32, labels []int32, classes int, alpha float64, dw []float64, lambda float64) float64 {
	return linalg.Objective(nil, 0, linalg.Residuals(out, labels, classes, alpha), dw, lambda, len(labels))
}

// featureProbe trains classifiers on the frozen backbone's features,
// computed once: the linear probe (FC) and LQF restricted to the classifier
// (LQF-FC, which trains dW, db of f0 + h dW + db, the same as training the
// head W0 + dW with lambda/2 ||dW||^2 pulling it to W0).
type featureProbe struct {
	base        *model.Network // backbone with the new head
	train, val  []float32
	trainLabels []int32
	valSet      *data.Set
	featureDim  int
	classes     int
	seed        uint64
}

func newFeatureProbe(be backends.Backend, pretrained *model.Network, splits *data.Splits, classes int, seed uint64) (*featureProbe, error) {
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
func (p *featureProbe) fit(be backends.Backend, linearized bool, o model.TrainOptions) (*fitted, error) {
	n, err := p.base.Clone()
	if err != nil {
		return nil, err
	}
	arch := n.Arch
	head := func(ctx *context.Context, h *Node) *Node { return arch.Head(ctx, h) }
	var fit Predictor = n
	o.Scopes = []string{model.ScopeHead}
	if linearized {
		head = arch.LinearizedHead
		o.Scopes = []string{model.ScopeTangent + context.ScopeSeparator + model.ScopeHead}
		fit = model.LinearizedNetwork{Network: n}
	}
	src := model.FeatureBatches(p.train, p.trainLabels, p.featureDim, o.BatchSize, o.Seed)
	o.Augment = data.NoAugmentation // features are computed once, without augmentation
	r, err := model.TrainGraph(be, n.Ctx, head, src, p.classes, o)
	if err != nil {
		return nil, err
	}
	out, _, err := model.Apply(be, n.Ctx, head, p.val, []int{p.featureDim}, p.valSet.Len())
	if err != nil {
		return nil, err
	}
	return &fitted{fit, r, model.ErrorRate(out, p.valSet.Labels)}, nil
}

// newExactSolver prepares the closed form of LQF (kernel form) or LQF-FC
// (primal form) on the training split and returns a function that solves it
// for a weight decay lambda and measures the validation error.
func newExactSolver(be backends.Backend, pretrained *model.Network, splits *data.Splits, opts Options) (func(lambda float64) (*fitted, error), error) {
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
		p := model.LinearizedNetwork{Network: m}
		ve, err := PredictError(be, p, splits.Val)
		return &fitted{p, &model.TrainResult{StepLoss: []float64{loss}, EpochLoss: []float64{loss}, Duration: time.Since(start)}, ve}, err
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
				if inHead(v.Scope()) {
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
	var J []float32
	var p int
	var K *mat.SymDense
	if k := opts.Kernel; k != nil {
		if k.N != n || k.C != classes || k.Alpha != opts.Alpha {
			return nil, fmt.Errorf("finetune: Options.Kernel is for %d samples, %d classes and alpha %g, not %d, %d and %g", k.N, k.C, k.Alpha, n, classes, opts.Alpha)
		}
		J, p, K = k.J, k.P, k.K
	} else {
		features, err := opts.JacobianCache.get(jacobianKey{pretrained, splits.Train, opts.Seed}, func() (*model.JacobianFeatures, error) {
			return model.NewJacobianFeatures(be, base, splits.Train, opts.Progress)
		})
		if err != nil {
			return nil, err
		}
		J, p = features.Rows()
		K = linalg.Gram(J, n*classes, p)
	}
	return func(lambda float64) (*fitted, error) {
		dw, err := linalg.SolveKernel(J, n*classes, p, K, residual, linalg.RidgeTerm(lambda, n))
		if err != nil {
			return nil, err
		}
		return evaluate(dw, linalg.Objective(J, p, residual, dw, lambda, n))
	}, nil
}

// inHead reports whether a variable's scope is the classifier's (under
// model.ScopeHead).
func inHead(scope string) bool {
	p := context.ScopeSeparator + model.ScopeHead
	return scope == p || strings.HasPrefix(scope, p+context.ScopeSeparator)
}

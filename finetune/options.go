package finetune

import (
	"io"
	"math"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// Options configures Run. The hyper-parameter grid is searched
// on the validation split; the best point's test error is reported.
type Options struct {
	Method        Method
	Loss          model.Loss // model.CrossEntropy or model.MSE; see DefaultOptions
	Alpha         float64
	LearningRates []float64
	// Lambdas is the grid of weight decays lambda (model.TrainOptions.Lambda;
	// the closed form's ridge is rho = lambda N / 2).
	Lambdas   []float64
	Epochs    float64
	BatchSize int
	Momentum  float64
	Augment   data.Augmentation
	Seed      uint64
	// Optimizer is SGD (with Momentum) or Adam; AdamBeta1 0 means 0.9.
	Optimizer model.Optimizer
	AdamBeta1 float64
	// Curvature, if set, preconditions LQF and LQF-FC (SGD with momentum)
	// with the curvature of the linearized network at w0, damped by each
	// grid point's lambda: package kfac provides it. Nil trains with plain
	// SGD.
	Curvature model.CurvatureFunc
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
	// Kernel, if set, is the kernel set-up (model.NewKernel) of the
	// pretrained network with this run's head (Seed) on the training set,
	// with the same Alpha: LQF's closed form (SolverExact) then takes its
	// Jacobian rows and NTK instead of computing them, so that attribution
	// (influence.FitOptions.Kernel) can share them; Result.Seconds includes
	// the set-up's Seconds.
	Kernel *model.Kernel
	// ClosedFormGap, for LQF and LQF-FC trained iteratively (SolverSGD),
	// also solves the closed form (SolverExact) at the selected lambda, so
	// that Result.ClosedFormObjective and Result.ObjectiveGap say how far
	// the iterative solver stopped from the optimum it approaches.
	ClosedFormGap bool
	Progress      io.Writer
}

// ObjectiveGap is the relative gap (L - L*) / L* of the selected model's
// objective L (Objective) to the closed form's L* (ClosedFormObjective):
// NaN when either is unknown, +Inf when L is not finite (a diverged run).
func (r *Result) ObjectiveGap() float64 {
	if r.ClosedFormObjective <= 0 || r.Objective == 0 {
		return math.NaN()
	}
	if math.IsNaN(r.Objective) || math.IsInf(r.Objective, 0) {
		return math.Inf(1)
	}
	return (r.Objective - r.ClosedFormObjective) / r.ClosedFormObjective
}

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
func PaperGrid(m Method, loss model.Loss) (lrs, wds []float64) {
	switch {
	case m == FC:
		return []float64{0.1, 0.01}, []float64{1e-4, 1e-5}
	case m == NLFT && loss == model.MSE:
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
func (o Options) WithAdam() Options {
	o.Optimizer = model.Adam
	o.LearningRates, o.Lambdas = AdamGrid()
	o.AdamBeta1 = 0.9
	if o.Method == GaF {
		o.AdamBeta1 = 0.5
	}
	return o
}

// CurvatureGrid is the learning-rate grid of LQF and LQF-FC when a
// curvature preconditions SGD (K-FAC, paper Sec. 3.2): the preconditioned
// step is near a Newton step, so the paper's eta ~ 0.1 suits LQF-FC, whose
// classifier block is exact ({0.1, 0.03}); over the whole network K-FAC's
// block-diagonal approximation underestimates some directions' curvature on
// lqf's backbones and eta must be smaller ({0.001, 0.0003}).
func CurvatureGrid(m Method) []float64 {
	if m == LQFFC {
		return []float64{0.1, 0.03}
	}
	return []float64{0.001, 0.0003}
}

// WithCurvature preconditions o's SGD with the curvature c (computed once
// per run, at w0) and takes CurvatureGrid's learning rates.
func (o Options) WithCurvature(c model.CurvatureFunc) Options {
	o.Curvature = c
	o.LearningRates = CurvatureGrid(o.Method)
	return o
}

// DefaultOptions returns method m's defaults: its loss (MSE with
// alpha = 15 for LQF and LQF-FC, cross-entropy otherwise), the paper's grid,
// batch 28, SGD with momentum 0.9 for every method (paper Appendix A.2:
// "In all experiments, we train using SGD with momentum 0.9 and batch size
// 28"; GaF included). TestAppendixA2 checks these against A.2.
func DefaultOptions(m Method) Options {
	o := Options{Method: m, Loss: model.CrossEntropy, Alpha: model.DefaultAlpha, Epochs: 10, BatchSize: 28, Momentum: 0.9, Seed: 1}
	switch m {
	case FC, LQFFC:
		o.Epochs = 30
	}
	if m == LQF || m == LQFFC {
		o.Loss = model.MSE
	}
	o.LearningRates, o.Lambdas = PaperGrid(m, o.Loss)
	return o
}

// GridPoint is one hyper-parameter setting and its validation error.
type GridPoint struct {
	LearningRate float64 `json:"learning_rate"`
	Lambda       float64 `json:"weight_decay"` // the weight decay lambda
	ValError     float64 `json:"val_error"`
	FinalLoss    float64 `json:"final_loss"`
}

// Result reports a fine-tuning run at the selected grid point.
type Result struct {
	Method       Method      `json:"method"`
	Loss         model.Loss  `json:"loss"`
	LearningRate float64     `json:"learning_rate"`
	Lambda       float64     `json:"weight_decay"` // the weight decay lambda
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
	// Objective is the LQF objective (paper eq. 3 in mean form,
	// (1/N) sum_i ||alpha y_i - f_lin(x_i)||^2 + lambda/2 ||dw||^2, the
	// convention of model.TrainOptions.Lambda) of the selected model of LQF
	// or LQF-FC on the whole training set, in float64 from the model's
	// outputs and dw; 0 for the other methods.
	Objective float64 `json:"objective,omitempty"`
	// ClosedFormObjective is the objective's minimum at the same lambda
	// (Options.ClosedFormGap; the closed form's own Objective when the
	// solver is exact); 0 when not computed.
	ClosedFormObjective float64 `json:"closed_form_objective,omitempty"`
	// TestOutputs are the selected model's outputs on the test set [T, C],
	// kept so that a caller need not predict again (not in the JSON).
	TestOutputs []float32 `json:"-"`
}

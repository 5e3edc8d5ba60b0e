package kfac

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// ConvergenceOptions configures CheckConvergence.
type ConvergenceOptions struct {
	Lambda       float64   // weight decay of the LQF objective
	Gap          float64   // target relative objective gap (L - L*) / L*
	MaxEpochs    int       // per run
	SGDRates     []float64 // learning rates of plain SGD
	KFACRates    []float64 // learning rates of K-FAC-preconditioned SGD
	ExtraDamping float64   // added to lambda in the preconditioner
	Momentum     float64   // heavy-ball momentum of every run, in [0, 1) (the paper's 0.9)
	// Factors selects the K-FAC variant: Expand (KFC, else K-FAC-reduce),
	// MonteCarlo, EigenCorrection (EK-FAC). Its Seed and Progress are
	// replaced by the ones below.
	Factors Options
	// BlockRates, if set, adds the ceiling of every block-diagonal
	// preconditioner: the same iteration preconditioned by the exact
	// per-layer Gauss-Newton blocks (ExactBlocks over model.LayerBlocks,
	// plus lambda + ExtraDamping), run on the host from the Jacobian rows.
	// K-FAC approximates exactly these blocks, so it cannot do better than
	// them by more than luck.
	BlockRates []float64
	Seed       uint64
	Progress   io.Writer
}

// RateResult is one learning rate's run: epochs to the gap (0 if never
// reached within MaxEpochs) and the relative gap after each epoch.
type RateResult struct {
	LearningRate float64   `json:"learning_rate"`
	Epochs       int       `json:"epochs"`
	Gaps         []float64 `json:"gaps"`
	Diverged     bool      `json:"diverged,omitempty"`
}

// ConvergenceReport compares plain and K-FAC-preconditioned SGD on LQF.
type ConvergenceReport struct {
	KFACEpochs int          `json:"kfac_epochs"` // best over the grid; 0: not reached
	SGDEpochs  int          `json:"sgd_epochs"`
	Optimum    float64      `json:"optimum_objective"`
	KFAC       []RateResult `json:"kfac_runs"`
	SGD        []RateResult `json:"sgd_runs"`
	// ExactBlocksEpochs is the best of BlockRates with the exact
	// per-layer blocks (0: not reached, or not run).
	ExactBlocksEpochs int          `json:"exact_blocks_epochs"`
	ExactBlocks       []RateResult `json:"exact_blocks_runs,omitempty"`
	Blocks            int          `json:"blocks,omitempty"`
	Factors           string       `json:"factors"` // the K-FAC variant
	// KappaRowSpace is the condition number plain SGD faces: from dw = 0
	// its iterates stay in the row space of J, where the curvature is
	// (2/N) J J^T + lambda. A preconditioner leaves that space, into
	// directions of curvature lambda alone.
	KappaRowSpace float64 `json:"kappa_row_space"`
	TrainSize     int     `json:"train_size"`
	Parameters    int     `json:"parameters"`
	Lambda        float64 `json:"lambda"`
	ExtraDamping  float64 `json:"extra_damping"`
	Momentum      float64 `json:"momentum"`
	Gap           float64 `json:"gap"`
	MaxEpochs     int     `json:"max_epochs"`
	BatchSize     int     `json:"batch_size"`
	Note          string  `json:"note"`
}

// Name describes the K-FAC variant the options select.
func (o Options) Name() string {
	name := "K-FAC-reduce"
	if o.Expand {
		name = "KFC"
	}
	if o.MonteCarlo {
		name += ", Monte-Carlo G"
	}
	if o.EigenCorrection {
		name += ", EK-FAC"
	}
	return name
}

// CheckConvergence trains LQF (MSE, alpha 15, heavy-ball momentum, full
// batch, constant learning rate) on train from dw = 0 with plain SGD and
// with K-FAC (opts.Factors), and counts the epochs each needs to bring the
// objective within opts.Gap of the closed-form optimum (kernel form). The
// objective is evaluated exactly after every epoch from the per-sample
// Jacobian rows. With opts.BlockRates it also runs the exact per-layer
// block preconditioner on the host (see ConvergenceOptions.BlockRates).
func CheckConvergence(be backends.Backend, net *model.Network, train *data.Set, opts ConvergenceOptions) (*ConvergenceReport, error) {
	if opts.Momentum < 0 || opts.Momentum >= 1 {
		return nil, fmt.Errorf("kfac: momentum %g must be in [0, 1)", opts.Momentum)
	}
	if len(opts.SGDRates) == 0 || len(opts.KFACRates) == 0 {
		return nil, errors.New("kfac: give learning rates for both optimizers")
	}
	n := train.Len()
	classes := net.NumClasses()
	k, err := model.NewKernel(be, net, train, model.DefaultAlpha, opts.Progress)
	if err != nil {
		return nil, err
	}
	J, p, residual, rows := k.J, k.P, k.R, n*classes
	objective := func(dw []float64) float64 { return k.Objective(dw, opts.Lambda) }
	exact, err := k.Solve(opts.Lambda)
	if err != nil {
		return nil, err
	}
	kappaRow, err := rowSpaceKappa(k.K, n, opts.Lambda)
	if err != nil {
		return nil, err
	}
	fo := opts.Factors
	fo.Seed, fo.Progress = opts.Seed, opts.Progress
	rep := &ConvergenceReport{Optimum: objective(exact), KappaRowSpace: kappaRow, TrainSize: n, Parameters: p, Lambda: opts.Lambda, ExtraDamping: opts.ExtraDamping,
		Momentum: opts.Momentum, Gap: opts.Gap, MaxEpochs: opts.MaxEpochs, BatchSize: n, Factors: fo.Name(),
		Note: "full batch (one step per epoch), heavy-ball momentum, constant learning rate; epochs 0 means the gap was not reached"}
	factors, err := Compute(be, net, train, fo)
	if err == nil && fo.EigenCorrection {
		err = factors.CorrectEigenvalues(be, net, train, fo)
	}
	if err != nil {
		return nil, err
	}
	inv, err := factors.Invert(opts.Lambda + opts.ExtraDamping)
	if err != nil {
		return nil, err
	}
	run := func(label string, lr float64, pre model.Preconditioner) (RateResult, error) {
		res := RateResult{LearningRate: lr}
		m, err := net.Clone()
		if err != nil {
			return res, err
		}
		arch := m.Arch
		_, err = model.TrainGraph(be, m.Ctx, arch.LinearizedLogits, model.ImageBatches(train, n, data.NoAugmentation, opts.Seed), classes,
			model.TrainOptions{Loss: model.MSE, LearningRate: lr, ConstantLR: true, Momentum: opts.Momentum, Lambda: opts.Lambda,
				BatchSize: n, Epochs: float64(opts.MaxEpochs), Scopes: []string{model.ScopeTangent}, Preconditioner: pre,
				Progress: opts.Progress, Label: fmt.Sprintf("%s lr=%g", label, lr),
				OnEpoch: func(epoch int) error {
					dw, err := m.Tangent()
					if err != nil {
						return err
					}
					gap := (objective(dw) - rep.Optimum) / rep.Optimum
					res.Gaps = append(res.Gaps, gap)
					if math.IsNaN(gap) || gap > 1e6 {
						res.Diverged = true
						return model.ErrStopTraining
					}
					if gap <= opts.Gap {
						res.Epochs = epoch
						return model.ErrStopTraining
					}
					return nil
				}})
		if errors.Is(err, model.ErrDiverged) {
			res.Diverged = true
			return res, nil
		}
		return res, err
	}
	best := func(rs []RateResult) int {
		b := 0
		for _, r := range rs {
			if r.Epochs > 0 && (b == 0 || r.Epochs < b) {
				b = r.Epochs
			}
		}
		return b
	}
	for _, lr := range opts.SGDRates {
		r, err := run("sgd", lr, nil)
		if err != nil {
			return nil, fmt.Errorf("sgd lr=%g: %w", lr, err)
		}
		rep.SGD = append(rep.SGD, r)
	}
	for _, lr := range opts.KFACRates {
		r, err := run("sgd+kfac", lr, inv)
		if err != nil {
			return nil, fmt.Errorf("kfac lr=%g: %w", lr, err)
		}
		rep.KFAC = append(rep.KFAC, r)
	}
	if len(opts.BlockRates) > 0 {
		blocks := model.LayerBlocks(net)
		eb, err := NewExactBlocks(J, rows, p, n, blocks)
		if err != nil {
			return nil, err
		}
		rep.Blocks = len(blocks)
		d := opts.Lambda + opts.ExtraDamping
		pre := func(g []float64) ([]float64, error) { return eb.ApplyPower(g, d, -1) }
		for _, lr := range opts.BlockRates {
			r, err := hostHeavyBall(J, p, n, residual, opts, lr, pre, rep.Optimum)
			if err != nil {
				return nil, fmt.Errorf("exact blocks lr=%g: %w", lr, err)
			}
			rep.ExactBlocks = append(rep.ExactBlocks, r)
		}
	}
	rep.SGDEpochs, rep.KFACEpochs, rep.ExactBlocksEpochs = best(rep.SGD), best(rep.KFAC), best(rep.ExactBlocks)
	return rep, nil
}

// rowSpaceKappa returns the condition number of (2/N) K + lambda I for the
// Gram matrix K = J J^T of n samples.
func rowSpaceKappa(k *mat.SymDense, n int, lambda float64) (float64, error) {
	var e mat.EigenSym
	if !e.Factorize(k, false) {
		return 0, errors.New("kfac: eigendecomposition of the Gram matrix failed")
	}
	v := e.Values(nil)
	lo, hi := math.Max(v[0], 0), v[len(v)-1]
	return (2/float64(n)*hi + lambda) / (2/float64(n)*lo + lambda), nil
}

// hostHeavyBall runs the iteration of the graph runs on the host, in
// float64 from the Jacobian rows J [N*C, p]: with the residuals r,
//
//	g = (2/N) J^T (J dw - r) + lambda dw,  v <- m v + P(g),  dw <- dw - eta v,
//
// and the objective (1/N) ||J dw - r||^2 + lambda/2 ||dw||^2 after every
// step, until it is within opts.Gap of optimum.
func hostHeavyBall(J []float32, p, n int, residual []float64, opts ConvergenceOptions, lr float64,
	precondition func([]float64) ([]float64, error), optimum float64) (RateResult, error) {
	res := RateResult{LearningRate: lr}
	dw, vel, g := make([]float64, p), make([]float64, p), make([]float64, p)
	objectiveAndGradient := func() float64 { return linalg.ObjectiveGradient(J, p, residual, dw, opts.Lambda, n, g) }
	objectiveAndGradient()
	bar := progress.New(opts.Progress, fmt.Sprintf("exact blocks lr=%g", lr), opts.MaxEpochs, "epochs")
	defer bar.Finish()
	for epoch := 1; epoch <= opts.MaxEpochs; epoch++ {
		dir, err := precondition(g)
		if err != nil {
			return res, err
		}
		for k := range dw {
			vel[k] = opts.Momentum*vel[k] + dir[k]
			dw[k] -= lr * vel[k]
		}
		gap := (objectiveAndGradient() - optimum) / optimum
		bar.Add(1)
		res.Gaps = append(res.Gaps, gap)
		if math.IsNaN(gap) || gap > 1e6 {
			res.Diverged = true
			return res, nil
		}
		if gap <= opts.Gap {
			res.Epochs = epoch
			return res, nil
		}
	}
	return res, nil
}

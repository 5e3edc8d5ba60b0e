package kfac

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/data"
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
	Seed         uint64
	Progress     io.Writer
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
	TrainSize  int          `json:"train_size"`
	Lambda     float64      `json:"lambda"`
	Gap        float64      `json:"gap"`
	MaxEpochs  int          `json:"max_epochs"`
	BatchSize  int          `json:"batch_size"`
	Note       string       `json:"note"`
}

// CheckConvergence trains LQF (MSE, alpha 15, momentum 0.9, full batch,
// constant learning rate) on train from dw = 0 with plain SGD and with
// K-FAC (KFC factors, EK-FAC), and counts the epochs each needs to bring the
// objective within opts.Gap of the closed-form optimum (kernel form). The
// objective is evaluated exactly after every epoch from the per-sample
// Jacobian rows.
func CheckConvergence(be backends.Backend, net *model.Network, train *data.Set, opts ConvergenceOptions) (*ConvergenceReport, error) {
	n := train.Len()
	classes := net.Config.NumClasses
	f0, err := net.Logits(be, train)
	if err != nil {
		return nil, err
	}
	residual := model.Residuals(f0, train.Labels, classes, model.DefaultAlpha)
	J, p, err := net.JacobianRows(be, train, opts.Progress)
	if err != nil {
		return nil, err
	}
	rows := n * classes
	objective := func(dw []float64) float64 { return model.Objective(J, p, residual, dw, opts.Lambda, n) }
	exact, err := model.SolveKernel(J, rows, p, model.Gram(J, rows, p), residual, model.RidgeTerm(opts.Lambda, n))
	if err != nil {
		return nil, err
	}
	rep := &ConvergenceReport{Optimum: objective(exact), TrainSize: n, Lambda: opts.Lambda, Gap: opts.Gap,
		MaxEpochs: opts.MaxEpochs, BatchSize: n,
		Note: "full batch (one step per epoch), momentum 0.9, constant learning rate; epochs 0 means the gap was not reached"}
	factors, err := Compute(be, net, train, Options{Expand: true, Seed: opts.Seed})
	if err == nil {
		err = factors.CorrectEigenvalues(be, net, train, Options{Seed: opts.Seed})
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
		cfg := m.Config
		_, err = model.TrainGraph(be, m.Ctx, cfg.LinearizedLogits, model.ImageBatches(train, n, data.NoAugmentation, opts.Seed), classes,
			model.TrainOptions{Loss: model.MSE, LearningRate: lr, ConstantLR: true, Momentum: 0.9, WeightDecay: opts.Lambda,
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
	rep.SGDEpochs, rep.KFACEpochs = best(rep.SGD), best(rep.KFAC)
	if len(rep.SGD) == 0 || len(rep.KFAC) == 0 {
		return nil, errors.New("kfac: give learning rates for both optimizers")
	}
	return rep, nil
}

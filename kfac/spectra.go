package kfac

import (
	"io"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/model"
)

// SpectraOptions configures Spectra.
type SpectraOptions struct {
	Lambda     float64 // weight decay: the operators are (2/N) J^T J + lambda I
	Steps      int     // Lanczos steps (exact Gauss-Newton products)
	NLFTEpochs float64 // epochs of NLFT (cross-entropy, eta 0.01, momentum 0.9, batch 28)
	// LayerBlocks adds the spectrum preconditioned by the exact per-layer
	// blocks of the curvature (ExactBlocks on model.LayerBlocks): K-FAC
	// with exact Kronecker factors. It needs the N*C Jacobian rows.
	LayerBlocks bool
	Seed        uint64
	Progress    io.Writer
}

// SpectraReport holds the spectra of paper Fig. 3 on one training set.
type SpectraReport struct {
	W0             *Spectrum `json:"spectrum_w0"`
	NLFT           *Spectrum `json:"spectrum_nlft"`
	Preconditioned *Spectrum `json:"spectrum_preconditioned"`
	KappaW0        float64   `json:"kappa_w0"`
	KappaNLFT      float64   `json:"kappa_nlft"`
	KappaPrecond   float64   `json:"kappa_preconditioned"`
	// LayerBlocks and KappaLayerBlocks are set with SpectraOptions.LayerBlocks.
	LayerBlocks      *Spectrum `json:"spectrum_layer_blocks,omitempty"`
	KappaLayerBlocks float64   `json:"kappa_layer_blocks,omitempty"`
	Lambda           float64   `json:"lambda"`
	Steps            int       `json:"lanczos_steps"`
	TrainSize        int       `json:"train_size"`
}

// Spectra estimates by Lanczos the spectrum of the exact Gauss-Newton
// matrix of LQF's loss at w0 (net, with its head for the task), after NLFT
// from w0 (the linearization at the trained weights), and of the
// K-FAC-preconditioned matrix (F_kfac + lambda I)^-1/2 (F + lambda I)
// (F_kfac + lambda I)^-1/2 at w0, with KFC factors and EK-FAC.
func Spectra(be backends.Backend, net *model.Network, train *data.Set, o SpectraOptions) (*SpectraReport, error) {
	// spectrum runs Lanczos on pre^-1/2 (F + lambda I) pre^-1/2, or on
	// F + lambda I when pre is nil; pre(v, power) applies pre^power.
	spectrum := func(label string, n *model.Network, pre func(v []float64, power float64) ([]float64, error)) (*Spectrum, error) {
		gn, err := model.NewGaussNewton(be, n, train)
		if err != nil {
			return nil, err
		}
		op := func(v []float64) ([]float64, error) { return gn.Apply(v, o.Lambda) }
		if pre != nil {
			op = func(v []float64) ([]float64, error) {
				a, err := pre(v, -0.5)
				if err != nil {
					return nil, err
				}
				h, err := gn.Apply(a, o.Lambda)
				if err != nil {
					return nil, err
				}
				return pre(h, -0.5)
			}
		}
		bar := progress.New(o.Progress, "lanczos "+label, o.Steps, "step")
		s, err := Lanczos(func(v []float64) ([]float64, error) { bar.Add(1); return op(v) }, n.NumParameters(), o.Steps, o.Seed)
		bar.Finish()
		return s, err
	}
	r := &SpectraReport{Lambda: o.Lambda, Steps: o.Steps, TrainSize: train.Len()}
	var err error
	if r.W0, err = spectrum("w0", net, nil); err != nil {
		return nil, err
	}
	f, err := Compute(be, net, train, Options{Expand: true, Seed: o.Seed})
	if err == nil {
		err = f.CorrectEigenvalues(be, net, train, Options{Seed: o.Seed})
	}
	if err != nil {
		return nil, err
	}
	inv, err := f.Invert(o.Lambda)
	if err != nil {
		return nil, err
	}
	kfacPower := func(v []float64, power float64) ([]float64, error) { return inv.ApplyPower(net, v, power) }
	if r.Preconditioned, err = spectrum("w0 preconditioned", net, kfacPower); err != nil {
		return nil, err
	}
	if o.LayerBlocks {
		J, p, err := net.JacobianRows(be, train, o.Progress)
		if err != nil {
			return nil, err
		}
		eb, err := NewExactBlocks(J, train.Len()*net.NumClasses(), p, train.Len(), model.LayerBlocks(net))
		if err != nil {
			return nil, err
		}
		blockPower := func(v []float64, power float64) ([]float64, error) { return eb.ApplyPower(v, o.Lambda, power) }
		if r.LayerBlocks, err = spectrum("w0 layer blocks", net, blockPower); err != nil {
			return nil, err
		}
		r.KappaLayerBlocks = r.LayerBlocks.Kappa()
	}
	nlft, err := net.Clone()
	if err != nil {
		return nil, err
	}
	if _, err := nlft.Train(be, train, model.TrainOptions{LearningRate: 0.01, Momentum: 0.9, Lambda: o.Lambda,
		BatchSize: 28, Epochs: o.NLFTEpochs, Seed: o.Seed, BatchNorm: model.TrainBatchStats, Progress: o.Progress, Label: "nlft"}); err != nil {
		return nil, err
	}
	if r.NLFT, err = spectrum("after nlft", nlft, nil); err != nil {
		return nil, err
	}
	r.KappaW0, r.KappaNLFT, r.KappaPrecond = r.W0.Kappa(), r.NLFT.Kappa(), r.Preconditioned.Kappa()
	return r, nil
}

package main

import (
	"fmt"
	"io"

	"github.com/lqf-go/lqf/data"
	progressbar "github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/model"
)

func init() {
	register(command{"spectrum", "Lanczos spectra of the Gauss-Newton matrix at w0, after NLFT and K-FAC-preconditioned", runSpectrum})
}

func runSpectrum(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spectrum", "spectrum [--task T] [--max-train N] [--steps K] [--json FILE]", stderr)
	taskName := fs.String("task", DefaultTask, "task")
	backboneFlag := fs.String("backbone", "leaky", "embedded backbone (relu or leaky) or a checkpoint file")
	maxTrain := fs.Int("max-train", 100, "training images the curvature is measured on")
	steps := fs.Int("steps", 60, "Lanczos steps (each one exact Gauss-Newton product over the images)")
	lambda := fs.Float64("wd", 1e-4, "weight decay lambda: the spectra are those of (2/N) J^T J + lambda I")
	nlftEpochs := fs.Float64("nlft-epochs", 10, "epochs of NLFT (cross-entropy, lr 0.01) before the second spectrum")
	seed := fs.Uint64("seed", 1, "seed of the split, head and Lanczos start")
	jsonPath := fs.String("json", "", "write the spectra as JSON to this file")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *maxTrain < 1 || *steps < 2 || *lambda <= 0 || *nlftEpochs <= 0 {
		return usagef("--max-train, --steps, --wd and --nlft-epochs must be positive (--steps >= 2)")
	}
	task, err := data.TaskByName(*taskName)
	if err != nil {
		return usagef("--task: %v", err)
	}
	be, err := backend()
	if err != nil {
		return err
	}
	base, err := loadBackbone(be, *backboneFlag)
	if err != nil {
		return err
	}
	splits, err := task.Load(data.SplitOptions{Seed: *seed, MaxTrain: *maxTrain, ValPerClass: 1, MaxTest: 10})
	if err != nil {
		return err
	}
	var progress io.Writer
	if !*quiet {
		progress = stderr
	}
	w0, err := base.ReplaceHead(be, splits.Train.NumClasses, *seed)
	if err != nil {
		return err
	}
	spectrum := func(label string, net *model.Network, precondition bool) (*kfac.Spectrum, error) {
		gn, err := model.NewGaussNewton(be, net, splits.Train)
		if err != nil {
			return nil, err
		}
		op := func(v []float64) ([]float64, error) { return gn.Apply(v, *lambda) }
		if precondition {
			f, err := kfac.Compute(be, net, splits.Train, kfac.Options{Expand: true, Seed: *seed})
			if err == nil {
				err = f.CorrectEigenvalues(be, net, splits.Train, kfac.Options{Seed: *seed})
			}
			if err != nil {
				return nil, err
			}
			inv, err := f.Invert(*lambda)
			if err != nil {
				return nil, err
			}
			op = func(v []float64) ([]float64, error) {
				a, err := inv.ApplyPower(net, v, -0.5)
				if err != nil {
					return nil, err
				}
				h, err := gn.Apply(a, *lambda)
				if err != nil {
					return nil, err
				}
				return inv.ApplyPower(net, h, -0.5)
			}
		}
		bar := progressbar.New(progress, "lanczos "+label, *steps, "step")
		s, err := kfac.Lanczos(func(v []float64) ([]float64, error) { bar.Add(1); return op(v) }, net.NumParameters(), *steps, *seed)
		bar.Finish()
		return s, err
	}
	atW0, err := spectrum("w0", w0, false)
	if err != nil {
		return err
	}
	pre, err := spectrum("w0 preconditioned", w0, true)
	if err != nil {
		return err
	}
	nlft, err := w0.Clone()
	if err != nil {
		return err
	}
	if _, err := nlft.Train(be, splits.Train, model.TrainOptions{LearningRate: 0.01, Momentum: 0.9, WeightDecay: *lambda,
		BatchSize: 28, Epochs: *nlftEpochs, Seed: *seed, BatchNorm: model.TrainBatchStats, Progress: progress, Label: "nlft"}); err != nil {
		return err
	}
	afterNLFT, err := spectrum("after nlft", nlft, false)
	if err != nil {
		return err
	}
	rows := [][]string{}
	for _, r := range []struct {
		name string
		s    *kfac.Spectrum
	}{{"Gauss-Newton at w0", atW0}, {"Gauss-Newton after NLFT", afterNLFT}, {"K-FAC-preconditioned at w0", pre}} {
		rows = append(rows, []string{r.name, fmt.Sprintf("%.4g", r.s.Max), fmt.Sprintf("%.4g", r.s.Min), fmt.Sprintf("%.4g", r.s.Kappa())})
	}
	table(stdout, []string{"operator", "largest eigenvalue", "smallest", "kappa"}, rows)
	return writeJSON(*jsonPath, map[string]any{
		"task": task.Name, "train_size": splits.Train.Len(), "lambda": *lambda, "lanczos_steps": *steps,
		"kappa_w0": atW0.Kappa(), "kappa_nlft": afterNLFT.Kappa(), "kappa_preconditioned": pre.Kappa(),
		"spectrum_w0": atW0, "spectrum_nlft": afterNLFT, "spectrum_preconditioned": pre,
	})
}

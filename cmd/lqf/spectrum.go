package main

import (
	"fmt"
	"io"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/kfac"
)

func init() {
	register(command{"spectrum", "Lanczos spectra of the Gauss-Newton matrix at w0, after NLFT and K-FAC-preconditioned", runSpectrum})
}

func runSpectrum(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("spectrum", "spectrum [--task T] [--max-train N] [--steps K] [--json FILE]", stderr)
	cf := addCommonFlags(fs, common{Task: true, Backbone: true, Seed: "seed of the split, head and Lanczos start", JSON: "the spectra", Quiet: true})
	maxTrain := fs.Int("max-train", 100, "training images the curvature is measured on")
	steps := fs.Int("steps", 60, "Lanczos steps (each one exact Gauss-Newton product over the images)")
	lambda := fs.Float64("wd", 1e-4, "weight decay lambda: the spectra are those of (2/N) J^T J + lambda I")
	nlftEpochs := fs.Float64("nlft-epochs", 10, "epochs of NLFT (cross-entropy, lr 0.01) before the second spectrum")
	layerBlocks := fs.Bool("layer-blocks", true, "also the spectrum preconditioned by the exact per-layer blocks of the curvature (K-FAC with exact factors; needs the N*C Jacobian rows)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := firstError(checkMinInts(minInt{"--max-train", *maxTrain, 1}, minInt{"--steps", *steps, 2}),
		checkFloats(positive("--wd", *lambda, "1e-4"), epochs("--nlft-epochs", *nlftEpochs, true, "10"))); err != nil {
		return err
	}
	seed := cf.seed
	s, err := cf.open(data.SplitOptions{Seed: *seed, MaxTrain: *maxTrain, ValPerClass: 1, MaxTest: 10}, stderr)
	if err != nil {
		return err
	}
	beginWork("spectrum")
	w0, err := s.net.ReplaceHead(s.be, s.splits.Train.NumClasses, *seed)
	if err != nil {
		return err
	}
	r, err := kfac.Spectra(s.be, w0, s.splits.Train, kfac.SpectraOptions{Lambda: *lambda, Steps: *steps, NLFTEpochs: *nlftEpochs, LayerBlocks: *layerBlocks, Seed: *seed, Progress: s.progress})
	if err != nil {
		return err
	}
	rows := [][]string{}
	for _, x := range []struct {
		name string
		s    *kfac.Spectrum
	}{{"Gauss-Newton at w0", r.W0}, {"Gauss-Newton after NLFT", r.NLFT}, {"K-FAC-preconditioned at w0", r.Preconditioned}, {"exact-layer-block-preconditioned at w0", r.LayerBlocks}} {
		if x.s == nil {
			continue
		}
		rows = append(rows, []string{x.name, fmt.Sprintf("%.4g", x.s.Max), fmt.Sprintf("%.4g", x.s.Min), fmt.Sprintf("%.4g", x.s.Kappa())})
	}
	table(stdout, []string{"operator", "largest eigenvalue", "smallest", "kappa"}, rows)
	return writeJSON(cf.jsonPath(), struct {
		Task string `json:"task"`
		*kfac.SpectraReport
	}{s.task.Name, r})
}

package main

import (
	"fmt"
	"io"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/weightdecay"
)

func runCheckHypergradient(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check hypergradient", "check hypergradient [--max-train N] [--val-per-class M] [--wd LAMBDA] [--json FILE]", stderr)
	cf := addCommonFlags(fs, common{Task: true, Backbone: true, Seed: "seed of the split and of the new head", JSON: "the result", Quiet: true})
	maxTrain := fs.Int("max-train", 50, "training samples (the kernel form needs N*C Jacobian rows)")
	valPerClass := fs.Int("val-per-class", 10, "validation samples per class")
	lambda := fs.Float64("wd", 1e-2, "weight decay lambda at which the hypergradient is taken")
	fdRel := fs.Float64("fd-step", 1e-4, "finite-difference step relative to lambda")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := firstError(checkMinInts(minInt{"--max-train", *maxTrain, 2}, minInt{"--val-per-class", *valPerClass, 1}),
		checkFloats(positive("--wd", *lambda, "1e-2"), inRange("--fd-step", *fdRel, 0, 1, false, "1e-4"))); err != nil {
		return err
	}
	seed := cf.seed
	s, err := cf.open(data.SplitOptions{Seed: *seed, MaxTrain: *maxTrain, ValPerClass: *valPerClass, MaxTest: 1}, stderr)
	if err != nil {
		return err
	}
	beginWork("check hypergradient")
	res, err := weightdecay.CheckHypergradient(s.be, s.net, s.splits.Train, s.splits.Val, *lambda, *fdRel, *seed, s.progress)
	if err != nil {
		return err
	}
	res.Task = s.task.Name
	table(stdout, []string{"quantity", "value"}, [][]string{
		{"validation loss L_val", fmt.Sprintf("%.6g", res.ValLoss)},
		{"dL_val/dlambda, exact (eigendecomposition)", fmt.Sprintf("%.10g", res.Exact)},
		{fmt.Sprintf("central finite differences (step %.3g)", res.FDStep), fmt.Sprintf("%.10g", res.FD)},
		{fmt.Sprintf("exact vs finite differences, relative (bound %.0e)", weightdecay.MaxHypergradientRelError), fmt.Sprintf("%.3g", res.ExactRelError)},
		{"dL_val/dlambda, K-FAC", fmt.Sprintf("%.6g", res.KFAC)},
		{"K-FAC vs exact, relative", fmt.Sprintf("%.3g", res.KFACRelError)},
	})
	fmt.Fprintf(stdout, "%d training and %d validation images of %s, %d classes, %d parameters, lambda %g\n", res.Train, res.Val, s.task.Name, res.Classes, res.Parameters, *lambda)
	if err := writeJSON(cf.jsonPath(), res); err != nil {
		return err
	}
	if !res.Pass {
		return fmt.Errorf("hypergradient check failed: exact_rel_error %.3g > %g", res.ExactRelError, weightdecay.MaxHypergradientRelError)
	}
	return nil
}

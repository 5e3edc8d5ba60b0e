package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/jsonfile"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

func init() {
	register(command{"check", "numerical self-checks: jvp (linearized pass vs finite differences and double-VJP), closed-form (iterative vs exact LQF), kfac (epochs of K-FAC vs SGD), hypergradient (dL_val/dlambda vs finite differences), onnx (an imported network vs PyTorch's outputs, JVP and gradient)", runCheck})
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "closed-form" {
		return runCheckClosedForm(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "kfac" {
		return runCheckKFAC(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "hypergradient" {
		return runCheckHypergradient(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "onnx" {
		return runCheckONNX(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "jvp" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, "Usage: lqf check jvp|closed-form|kfac|hypergradient|onnx [flags]   (lqf check jvp --help)")
			return nil
		}
		if len(args) == 0 {
			return usagef("want a check name: lqf check jvp, closed-form, kfac, hypergradient or onnx")
		}
		return usagef("unknown check %q: want jvp, closed-form, kfac, hypergradient or onnx", args[0])
	}
	fs := newFlags("check jvp", "check jvp [--backbone leaky] [--images N] [--json FILE]", stderr)
	cf := addCommonFlags(fs, common{Task: true, Backbone: true, Seed: "seed of the random direction dw", JSON: "the result"})
	images := fs.Int("images", 4, "number of (first) test images of --task")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *images < 1 {
		return usagef("--images %d: must be >= 1", *images)
	}
	s, err := cf.open(data.SplitOptions{Seed: *cf.seed, MaxTrain: 1, ValPerClass: 1, MaxTest: *images}, io.Discard)
	if err != nil {
		return err
	}
	beginWork("check jvp")
	n := min(*images, s.splits.Test.Len())
	c, err := model.CheckJVP(s.be, s.net, s.splits.Test.Images, n, *cf.seed)
	if err != nil {
		return err
	}
	table(stdout, []string{"comparison", "max relative error", "bound"}, [][]string{
		{"J dw vs central finite differences (float64)", fmt.Sprintf("%.2e", c.FDMaxRelError), fmt.Sprintf("%.0e", model.MaxFDRelError)},
		{"hand-written vs double-VJP (float32)", fmt.Sprintf("%.2e", c.DoubleVJPMaxRelError), fmt.Sprintf("%.0e", model.MaxDoubleVJPRelError)},
	})
	fmt.Fprintf(stdout, "%d images, %d parameters in dw\n", c.Images, c.Parameters)
	if err := writeJSON(cf.jsonPath(), c); err != nil {
		return err
	}
	if !c.Pass {
		return fmt.Errorf("jvp check failed: errors above their bounds")
	}
	return nil
}

func init() {
	register(command{"bench", "time forward, linearized forward, NLFT and LQF steps per image (same run)", runBench})
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "bench [--backbone FILE] [--batch 64] [--seconds 3] [--images DIR] [--torch FILE] [--json FILE]", stderr)
	cf := addCommonFlags(fs, common{Backbone: true, JSON: "the report"})
	batch := fs.Int("batch", 64, "batch size")
	seconds := fs.Float64("seconds", 3, "minimum measuring time per pass")
	imagesDir := fs.String("images", "", "take the images from this folder (one sub-folder per class) instead of the source task")
	torchPath := fs.String("torch", "", "JSON of scripts/torch_bench.py (same network and batch): print PyTorch's numbers and lqf/PyTorch beside lqf's")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := firstError(checkMinInts(minInt{"--batch", *batch, 1}), checkFloats(inRange("--seconds", *seconds, 0, 3600, false, "3"))); err != nil {
		return err
	}
	var torch *torchBench
	if *torchPath != "" {
		var err error
		if torch, err = readTorchBench(*torchPath, *batch); err != nil {
			return err
		}
	}
	if err := cf.check(); err != nil {
		return err
	}
	be, err := startBackend()
	if err != nil {
		return err
	}
	net, _, err := cf.bb.load(be, "", true)
	if err != nil {
		return err
	}
	images, err := benchImages(net, *imagesDir, *batch)
	if err != nil {
		return err
	}
	if err := net.CheckSet(images); err != nil {
		return usagef("--backbone %s: %v", *cf.bb.name, err)
	}
	beginWork("bench")
	rep, err := model.MeasureSpeed(be, net, images.Images, *batch, time.Duration(*seconds*float64(time.Second)))
	if err != nil {
		return err
	}
	out := printBench(stdout, rep, torch)
	return writeJSON(cf.jsonPath(), out)
}

// benchImages are the images `lqf bench` times on: --images, or the
// source task's first training images, resampled to the network's input
// geometry when it differs (only the timing matters, not the pixels).
func benchImages(net *model.Network, dir string, batch int) (*data.Set, error) {
	var images *data.Set
	var err error
	if dir != "" {
		if images, err = data.LoadImageFolderAs(dir, inputGeometry(net)); err != nil {
			return nil, usagef("--images: %v", err)
		}
	} else {
		task, _ := data.TaskByName("source")
		splits, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: batch, ValPerClass: 1, MaxTest: 10})
		if err != nil {
			return nil, inputError(err)
		}
		images = splits.Train
		if net.CheckSet(images) != nil {
			if images, err = data.Resample(images, inputGeometry(net)); err != nil {
				return nil, fmt.Errorf("resampling the source images to the network's input: %w", err)
			}
		}
	}
	if images.Len() < batch {
		return nil, usagef("--batch %d: only %d images", batch, images.Len())
	}
	return images, nil
}

// printBench prints lqf's times per pass (beside PyTorch's with --torch)
// and returns the JSON report.
func printBench(stdout io.Writer, rep *model.SpeedReport, torch *torchBench) benchReport {
	lqfMS := []float64{rep.ForwardMS, rep.LinearizedMS, rep.NLFTStepMS, rep.LQFStepMS}
	passes := []string{"forward (frozen BN)", "linearized forward f0 + J dw", "NLFT step (fwd+bwd+update)", "LQF step (linearized fwd+bwd+update)"}
	out := benchReport{SpeedReport: rep, HostLinearAlgebra: linalg.HostLinearAlgebra()}
	if torch == nil {
		rows := make([][]string, len(passes))
		for i, p := range passes {
			rows[i] = []string{p, fmt.Sprintf("%.4g", lqfMS[i])}
		}
		table(stdout, []string{"pass", "ms/image"}, rows)
	} else {
		torchMS := torch.ms()
		r := make([]float64, len(passes))
		rows := make([][]string, len(passes))
		for i, p := range passes {
			r[i] = lqfMS[i] / torchMS[i]
			rows[i] = []string{p, fmt.Sprintf("%.4g", lqfMS[i]), fmt.Sprintf("%.4g", torchMS[i]), fmt.Sprintf("%.2f", r[i])}
		}
		table(stdout, []string{"pass", "lqf ms/image", "PyTorch ms/image", "lqf/PyTorch"}, rows)
		out.Torch = torch.raw
		out.LQFOverTorch = &passRatios{Forward: r[0], Linearized: r[1], NLFTStep: r[2], LQFStep: r[3]}
	}
	fmt.Fprintf(stdout, "jvp_over_forward %.2f (%.2f in multiply-accumulates), lqf_step_over_nlft_step %.2f (backend %s, batch %d, %d CPUs)\n",
		rep.JVPOverForward, rep.JVPOverForwardMACs, rep.LQFOverNLFT, rep.Backend, rep.Batch, rep.CPUs)
	if torch != nil {
		fmt.Fprintf(stdout, "PyTorch %s (%s, %d threads, JVP by %s): jvp_over_forward %.2f, lqf_step_over_nlft_step %.2f\n",
			torch.TorchVersion, torch.Backend, torch.Threads, torch.JVPMethod, torch.JVPOverForward, torch.LQFOverNLFT)
	}
	return out
}

// benchReport is the JSON of `lqf bench`: lqf's SpeedReport, the host
// linear algebra in use ("openblas" or "gonum") and, with --torch,
// PyTorch's report as read and the ratios lqf/PyTorch per pass.
type benchReport struct {
	*model.SpeedReport
	HostLinearAlgebra string          `json:"host_linear_algebra"`
	Torch             json.RawMessage `json:"torch,omitempty"`
	LQFOverTorch      *passRatios     `json:"lqf_over_torch,omitempty"`
}

// passRatios holds one number per timed pass (here lqf's ms per image over
// PyTorch's).
type passRatios struct {
	Forward    float64 `json:"forward"`
	Linearized float64 `json:"linearized_forward"`
	NLFTStep   float64 `json:"nlft_step"`
	LQFStep    float64 `json:"lqf_step"`
}

// torchBench is the report of scripts/torch_bench.py: the keys of
// model.SpeedReport, plus the PyTorch version, thread count and JVP method.
type torchBench struct {
	model.SpeedReport
	Threads      int    `json:"threads"`
	TorchVersion string `json:"torch_version"`
	JVPMethod    string `json:"jvp_method"`
	raw          json.RawMessage
}

func (t *torchBench) ms() []float64 {
	return []float64{t.ForwardMS, t.LinearizedMS, t.NLFTStepMS, t.LQFStepMS}
}

// maxTorchBenchBytes bounds a --torch file (scripts/torch_bench.py writes
// under 2 kB).
const maxTorchBenchBytes = 1 << 20

// readTorchBench reads and checks a --torch file before any work starts:
// every failure is a usage error (one line, exit status 2).
func readTorchBench(path string, batch int) (*torchBench, error) {
	b, err := jsonfile.ReadLimited(path, maxTorchBenchBytes)
	if err != nil {
		return nil, usagef("--torch: %v", err)
	}
	var t torchBench
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, usagef("--torch %s: not the JSON of scripts/torch_bench.py: %v", path, err)
	}
	for i, v := range t.ms() {
		if !(v > 0) || math.IsInf(v, 0) {
			key := []string{"forward_ms_per_image", "linearized_forward_ms_per_image", "nlft_step_ms_per_image", "lqf_step_ms_per_image"}[i]
			return nil, usagef("--torch %s: %s missing or not positive; want the JSON of scripts/torch_bench.py", path, key)
		}
	}
	if t.Batch != batch {
		return nil, usagef("--torch %s: measured at batch %d, not --batch %d; per-image times depend on the batch", path, t.Batch, batch)
	}
	var c bytes.Buffer
	if err := json.Compact(&c, b); err != nil {
		return nil, usagef("--torch %s: %v", path, err)
	}
	t.raw = c.Bytes()
	return &t, nil
}

func runCheckClosedForm(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check closed-form", "check closed-form [--task T] [--max-train N] [--json FILE]", stderr)
	cf := addCommonFlags(fs, common{Task: true, Backbone: true, Seed: "seed of the split and of the new head", JSON: "the result", Quiet: true})
	maxTrain := fs.Int("max-train", 50, "training samples (the kernel form needs N*C Jacobian rows)")
	maxTest := fs.Int("max-test", 500, "test samples")
	lambda := fs.Float64("wd", 1e-2, "weight decay lambda (at 1e-4 the problem is so ill-conditioned that float32 Jacobians limit the agreement to about 6e-3)")
	maxIter := fs.Int("max-iter", 600, "most conjugate-gradient iterations")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := firstError(checkMinInts(minInt{"--max-train", *maxTrain, 1}, minInt{"--max-test", *maxTest, 1}, minInt{"--max-iter", *maxIter, 1}),
		checkFloats(positive("--wd", *lambda, "1e-2"))); err != nil {
		return err
	}
	s, err := cf.open(data.SplitOptions{Seed: *cf.seed, MaxTrain: *maxTrain, ValPerClass: 1, MaxTest: *maxTest}, stderr)
	if err != nil {
		return err
	}
	beginWork("check closed-form")
	c, err := model.CheckClosedForm(s.be, s.net, s.splits, model.DefaultAlpha, *lambda, *cf.seed, *maxIter, s.progress)
	if err != nil {
		return err
	}
	table(stdout, []string{"quantity", "value"}, [][]string{
		{fmt.Sprintf("test predictions, relative distance (bound %g)", model.MaxPredRelDistance), fmt.Sprintf("%.3g", c.PredRelDistance)},
		{"dw, relative distance", fmt.Sprintf("%.3g", c.WeightRelDistance)},
		{"conjugate-gradient iterations", fmt.Sprint(c.CGIterations)},
		{"relative residual", fmt.Sprintf("%.3g", c.CGRelResidual)},
		{"test error: exact / iterative", fmt.Sprintf("%.2f%% / %.2f%%", 100*c.ExactTestError, 100*c.IterativeTestError)},
	})
	if err := writeJSON(cf.jsonPath(), c); err != nil {
		return err
	}
	if !c.Pass {
		return fmt.Errorf("closed-form check failed: pred_rel_distance %.3g > %g", c.PredRelDistance, model.MaxPredRelDistance)
	}
	return nil
}

func runCheckKFAC(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check kfac", "check kfac [--max-train N] [--max-epochs E] [--json FILE]", stderr)
	cf := addCommonFlags(fs, common{Task: true, Backbone: true, Seed: "seed of the split and of the new head", JSON: "the result", Quiet: true})
	maxTrain := fs.Int("max-train", 50, "training samples (full batch)")
	lambda := fs.Float64("wd", 1e-2, "weight decay lambda of the LQF objective")
	gap := fs.Float64("gap", 1e-3, "target relative objective gap to the closed-form optimum")
	maxEpochs := fs.Int("max-epochs", 100, "most epochs per run")
	sgdRates := fs.String("sgd-lr", "0.03,0.01,0.003", "learning rates of plain SGD")
	kfacRates := fs.String("kfac-lr", "0.01,0.003,0.001", "learning rates of K-FAC-preconditioned SGD")
	damping := fs.Float64("kfac-damping", kfac.RecommendedDamping, "K-FAC damping added to lambda")
	factorsFlag := fs.String("factors", "kfc", "K-FAC factors of convolutions: kfc (Grosse & Martens) or reduce (K-FAC-reduce)")
	ekfac := fs.Bool("ekfac", true, "EK-FAC eigenvalue correction")
	momentum := fs.Float64("momentum", 0.9, "heavy-ball momentum of every run")
	blockRates := fs.String("block-lr", "0.3,0.1,0.03", "learning rates of the exact per-layer block preconditioner (the ceiling of block-diagonal curvature, host-side); empty: skip")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sgd, err := parseList(*sgdRates, positive("--sgd-lr", 0, "0.03,0.01"))
	if err != nil {
		return err
	}
	kf, err := parseList(*kfacRates, positive("--kfac-lr", 0, "0.01,0.003"))
	if err != nil {
		return err
	}
	blocks, err := parseList(*blockRates, positive("--block-lr", 0, "0.3,0.1"))
	if err != nil {
		return err
	}
	switch {
	case len(sgd) == 0:
		return usagef("--sgd-lr: give at least one learning rate, like 0.03,0.01")
	case len(kf) == 0:
		return usagef("--kfac-lr: give at least one learning rate, like 0.01,0.003")
	}
	if err := firstError(checkMinInts(minInt{"--max-train", *maxTrain, 1}, minInt{"--max-epochs", *maxEpochs, 1}),
		checkFloats(positive("--wd", *lambda, "1e-2"), inRange("--gap", *gap, 0, 1, false, "1e-3"),
			nonNegative("--kfac-damping", *damping, fmt.Sprint(kfac.RecommendedDamping)), inRange("--momentum", *momentum, 0, 1, true, "0.9"))); err != nil {
		return err
	}
	if *factorsFlag != "kfc" && *factorsFlag != "reduce" {
		return usagef("--factors %q: want kfc or reduce", *factorsFlag)
	}
	s, err := cf.open(data.SplitOptions{Seed: *cf.seed, MaxTrain: *maxTrain, ValPerClass: 1, MaxTest: 10}, stderr)
	if err != nil {
		return err
	}
	beginWork("check kfac")
	net, err := s.net.ReplaceHead(s.be, s.splits.Train.NumClasses, *cf.seed)
	if err != nil {
		return err
	}
	rep, err := kfac.CheckConvergence(s.be, net, s.splits.Train, kfac.ConvergenceOptions{Lambda: *lambda, Gap: *gap, MaxEpochs: *maxEpochs,
		SGDRates: sgd, KFACRates: kf, BlockRates: blocks, ExtraDamping: *damping, Momentum: *momentum,
		Factors: kfac.Options{Expand: *factorsFlag == "kfc", EigenCorrection: *ekfac}, Seed: *cf.seed, Progress: s.progress})
	if err != nil {
		return err
	}
	printConvergence(stdout, rep, *maxEpochs)
	return writeJSON(cf.jsonPath(), rep)
}

// printConvergence prints the epochs each optimizer of `lqf check kfac`
// needed to reach the objective gap.
func printConvergence(stdout io.Writer, rep *kfac.ConvergenceReport, maxEpochs int) {
	epochs := func(e int) string {
		if e == 0 {
			return fmt.Sprintf("> %d", maxEpochs)
		}
		return fmt.Sprint(e)
	}
	var rows [][]string
	for _, r := range rep.SGD {
		rows = append(rows, []string{"sgd", fmt.Sprintf("%g", r.LearningRate), epochs(r.Epochs), lastGap(r)})
	}
	for _, r := range rep.KFAC {
		rows = append(rows, []string{"sgd+kfac (" + rep.Factors + ")", fmt.Sprintf("%g", r.LearningRate), epochs(r.Epochs), lastGap(r)})
	}
	for _, r := range rep.ExactBlocks {
		rows = append(rows, []string{fmt.Sprintf("sgd+exact %d layer blocks", rep.Blocks), fmt.Sprintf("%g", r.LearningRate), epochs(r.Epochs), lastGap(r)})
	}
	table(stdout, []string{"optimizer", "lr", "epochs to gap", "last gap"}, rows)
	fmt.Fprintf(stdout, "sgd_epochs %s, kfac_epochs %s (target: sgd >= 10 x kfac)", epochs(rep.SGDEpochs), epochs(rep.KFACEpochs))
	if len(rep.ExactBlocks) > 0 {
		fmt.Fprintf(stdout, "; exact layer blocks (ceiling of block-diagonal curvature): %s", epochs(rep.ExactBlocksEpochs))
	}
	fmt.Fprintf(stdout, "\nkappa of the row space of J, which plain SGD never leaves: %.3g\n", rep.KappaRowSpace)
}

func lastGap(r kfac.RateResult) string {
	if r.Diverged {
		return "diverged"
	}
	if len(r.Gaps) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3g", r.Gaps[len(r.Gaps)-1])
}

package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/model"
)

func init() {
	register(command{"finetune", "fine-tune a pretrained backbone on a target task and report errors", runFinetune})
}

// DefaultTask is the target task of the main job.
const DefaultTask = "fashion-5-9"

// finetuneValPerClass is lqf finetune's default validation split: images per
// class held out of the training split for the grid search.
const finetuneValPerClass = 100

func runFinetune(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("finetune", "finetune [--task T] [--method nlft,fc] [flags]", stderr)
	taskName := fs.String("task", DefaultTask, "target task (see lqf tasks)")
	imagesDir := fs.String("images", "", "fine-tune on your own images instead of --task: a folder with one sub-folder of PNG/JPEG files per class (20% held out for test), or with train/ and test/ folders of that form")
	methods := fs.String("method", "nlft,fc", "comma-separated methods: nlft (all layers), lqf (linearized, MSE), lqf-fc (LQF of the classifier), gaf (linearized, cross-entropy), fc (linear probe)")
	lossName := fs.String("loss", "", "loss: ce or mse (targets scaled by --alpha); default: mse for lqf and lqf-fc, ce otherwise")
	alpha := fs.Float64("alpha", model.DefaultAlpha, "MSE target scale")
	bb := addBackboneFlags(fs, "", backboneHelp+"; default: leaky for lqf and lqf-fc, relu otherwise (--leaky applies to lqf, lqf-fc and gaf)")
	shots := fs.Int("shots", 0, "training samples per class (0: all, then --max-train)")
	maxTrain := fs.Int("max-train", 500, "cap on training samples, balanced over classes (0: no cap)")
	valPerClass := fs.Int("val-per-class", finetuneValPerClass, "validation samples per class, for the grid search")
	maxTest := fs.Int("max-test", 2000, "cap on test samples, balanced over classes (0: whole test split)")
	epochs := fs.Float64("epochs", 0, fmt.Sprintf("epochs per grid point (0: the method's default, %g for nlft, %g for fc)",
		finetune.DefaultOptions(finetune.NLFT).Epochs, finetune.DefaultOptions(finetune.FC).Epochs))
	batch := fs.Int("batch", 28, "batch size (the paper's 28)")
	lrs := fs.String("lr", "", "comma-separated learning rates (default: the paper's grid for the method)")
	wds := fs.String("wd", "", "comma-separated weight decays lambda, L2 in the loss (default: the paper's grid)")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	optimizer := fs.String("optimizer", "sgd", "sgd (momentum --momentum) or adam (the paper's Adam grid, Table 3)")
	ablate := fs.String("ablate", "", "comma-separated ablations of lqf: mse (cross-entropy instead of MSE), kfac (plain SGD instead of K-FAC), leaky (ReLU backbone instead of Leaky-ReLU)")
	kfacDamping := fs.Float64("kfac-damping", kfac.RecommendedDamping, "K-FAC damping added to the loss's lambda")
	kfacExpand := fs.Bool("kfac-expand", kfac.Recommended().Expand, "KFC factors over positions (Grosse & Martens); false: K-FAC-reduce")
	kfacEK := fs.Bool("kfac-ekfac", kfac.Recommended().EigenCorrection, "correct the Kronecker eigenvalues with exact second moments (EK-FAC); false uses plain K-FAC")
	kfacMC := fs.Bool("kfac-mc", false, "K-FAC output-side factors from Monte-Carlo output noise (one backward pass per batch instead of one per class)")
	pooling := fs.String("pooling", "avg", "avg, or bilinear: square-root-normalized bilinear pooling (B-LQF, paper Table 2)")
	solver := fs.String("solver", "sgd", "sgd, or exact: closed-form optimum of lqf (kernel form) and lqf-fc (primal form)")
	linearization := fs.String("linearization", "auto", "how lqf and gaf evaluate f0 + J dw while training: jvp (a modified forward pass per batch), jacobian (per-image Jacobian rows computed once; N*C*P*4 bytes), or auto (jacobian when it fits in 2 GiB and --augment is none)")
	aug := fs.String("augment", "none", "augmentation: none, crop or crop-flip")
	seed := fs.Uint64("seed", 1, "seed of splits, head initialization and shuffling")
	splitSeed := fs.Uint64("split-seed", 0, "seed of the splits alone (0: --seed), to repeat training seeds on one split")
	jsonPath := fs.String("json", "", "write results as JSON to this file")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	task, err := data.TaskByName(*taskName)
	if err != nil {
		return usagef("--task: %v", err)
	}
	if *imagesDir != "" {
		task = data.Task{Name: "folder " + *imagesDir, Flip: true}
	}
	var loss model.Loss
	if *lossName != "" {
		if loss, err = model.ParseLoss(*lossName); err != nil {
			return usagef("--loss: %v", err)
		}
	}
	augment, err := data.ParseAugmentation(*aug)
	if err != nil {
		return usagef("--augment: %v", err)
	}
	if augment == data.RandomCropFlip && !task.Flip {
		return usagef("--augment crop-flip: task %q is not flip-invariant (digits); use crop", task.Name)
	}
	if *solver != string(finetune.SolverSGD) && *solver != string(finetune.SolverExact) {
		return usagef("--solver %q: want sgd or exact", *solver)
	}
	lin, err := finetune.ParseLinearization(*linearization)
	if err != nil {
		return usagef("--linearization: %v", err)
	}
	if lin == finetune.LinearizeJacobian && augment != data.NoAugmentation {
		return usagef("--linearization jacobian: needs --augment none (the Jacobian rows are computed once, on fixed images); use jvp or auto")
	}
	if *pooling != string(model.AvgPooling) && *pooling != string(model.BilinearPooling) {
		return usagef("--pooling %q: want avg or bilinear", *pooling)
	}
	opt, err := model.ParseOptimizer(*optimizer)
	if err != nil {
		return usagef("--optimizer: %v", err)
	}
	var ablations []string
	if *ablate != "" {
		for _, a := range strings.Split(*ablate, ",") {
			switch a = strings.TrimSpace(a); a {
			case "mse", "leaky":
				ablations = append(ablations, a)
			case "kfac":
				ablations = append(ablations, a)
			default:
				return usagef("--ablate %q: want mse, kfac or leaky", a)
			}
		}
		if *methods != string(finetune.LQF) {
			return usagef("--ablate applies to --method lqf alone")
		}
	}
	var ms []finetune.Method
	for _, s := range strings.Split(*methods, ",") {
		m, err := finetune.ParseMethod(strings.TrimSpace(s))
		if err != nil {
			return usagef("--method: %v", err)
		}
		if m == finetune.FC && loss == model.MSE {
			return usagef("--loss mse: fc is trained with cross-entropy only; drop fc from --method")
		}
		if *solver == string(finetune.SolverExact) && m != finetune.LQF && m != finetune.LQFFC {
			return usagef("--solver exact: applies to lqf and lqf-fc only, not %s", m)
		}
		ms = append(ms, m)
	}
	lrList, err := parseFloats(*lrs, "--lr")
	if err != nil {
		return err
	}
	wdList, err := parseFloats(*wds, "--wd")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"--shots", *shots}, {"--max-train", *maxTrain}, {"--val-per-class", *valPerClass}, {"--max-test", *maxTest}} {
		if f.v < 0 {
			return usagef("%s %d: must be >= 0", f.name, f.v)
		}
	}
	if *batch < 1 {
		return usagef("--batch %d: must be >= 1", *batch)
	}
	if *epochs < 0 {
		return usagef("--epochs %g: must be >= 0", *epochs)
	}
	if err := bb.check(); err != nil {
		return err
	}
	be, err := startBackend()
	if err != nil {
		return err
	}
	backbones := map[string]*model.Network{}
	// swapped: the backbones whose ReLUs --leaky turned into Leaky-ReLU,
	// by name, with the network they came from.
	swapped := map[string]*model.Network{}
	backboneFor := func(m finetune.Method) (string, *model.Network, error) {
		name := *bb.name
		if name == "" {
			name = "relu"
			if m.Activation() == model.LeakyReLU && !slices.Contains(ablations, "leaky") {
				name = "leaky"
			}
		}
		swap := *bb.leaky > 0 && m.Activation() == model.LeakyReLU
		key := name
		if swap {
			key = fmt.Sprintf("%s (leaky-relu %g)", name, *bb.leaky)
		}
		if n, ok := backbones[key]; ok {
			return key, n, nil
		}
		n, orig, err := bb.load(be, name, swap)
		if err == nil && *pooling != string(model.AvgPooling) {
			if n, err = n.WithPooling(model.Pooling(*pooling)); err == nil && orig != nil {
				orig, err = orig.WithPooling(model.Pooling(*pooling))
			}
		}
		if orig != nil {
			swapped[key] = orig
		}
		backbones[key] = n
		return key, n, err
	}
	for _, m := range ms { // check every backbone before the long work
		if _, _, err := backboneFor(m); err != nil {
			return err
		}
	}
	if *splitSeed == 0 {
		*splitSeed = *seed
	}
	splitOpts := data.SplitOptions{Seed: *splitSeed, Shots: *shots, MaxTrain: *maxTrain, ValPerClass: *valPerClass, MaxTest: *maxTest}
	var splits *data.Splits
	if *imagesDir != "" {
		// The images take the input geometry of the (first) backbone.
		_, first, _ := backboneFor(ms[0])
		splits, err = data.LoadImageFolderSplitsAs(*imagesDir, inputGeometry(first), splitOpts)
		if err != nil {
			return fmt.Errorf("--images: %w", err)
		}
	} else if splits, err = task.Load(splitOpts); err != nil {
		return err
	}
	for _, m := range ms {
		name, n, _ := backboneFor(m)
		if err := n.CheckSet(splits.Train); err != nil {
			return usagef("--backbone %s: %v", name, err)
		}
	}
	// The effect of --leaky on the backbone: relative RMS change of its
	// features on the training images.
	featureChange := map[string]float64{}
	for key, orig := range swapped {
		var progress io.Writer
		if !*quiet {
			progress = stderr
		}
		if featureChange[key], err = reportSwap(be, key, orig, backbones[key], splits.Train, progress); err != nil {
			return err
		}
	}
	var progress io.Writer
	if !*quiet {
		progress = stderr
		fmt.Fprintf(stderr, "task %s: %d train, %d val, %d test images, %d classes\n",
			task.Name, splits.Train.Len(), splits.Val.Len(), splits.Test.Len(), splits.Train.NumClasses)
	}
	var results []methodResult
	for _, m := range ms {
		o := finetune.DefaultOptions(m)
		if loss != "" {
			o.Loss = loss
			o.LearningRates, o.WeightDecays = finetune.PaperGrid(m, loss)
		}
		if slices.Contains(ablations, "mse") {
			o.Loss = model.CrossEntropy
		}
		if (m == finetune.LQF || m == finetune.LQFFC) && !slices.Contains(ablations, "kfac") && opt == model.SGD && *solver == string(finetune.SolverSGD) {
			o = o.WithCurvature(kfac.CurvatureFunc(kfac.Options{Expand: *kfacExpand, MonteCarlo: *kfacMC, EigenCorrection: *kfacEK, Seed: *seed, Progress: progress}, *kfacDamping))
		}
		if opt == model.Adam {
			o = o.WithAdam()
		}
		o.Solver = finetune.Solver(*solver)
		o.Linearization = lin
		o.Alpha, o.BatchSize, o.Momentum, o.Augment, o.Seed, o.Progress = *alpha, *batch, *momentum, augment, *seed, progress
		if *epochs > 0 {
			o.Epochs = *epochs
		}
		if lrList != nil {
			o.LearningRates = lrList
		}
		if wdList != nil {
			o.WeightDecays = wdList
		}
		name, base, _ := backboneFor(m)
		res, _, err := finetune.Run(be, base, splits, o)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		optName := string(opt)
		switch {
		case o.Solver == finetune.SolverExact:
			optName = "closed form"
		case o.Curvature != nil:
			optName = "sgd+kfac"
		}
		results = append(results, methodResult{res, name, optName, *pooling, ablations, featureChange[name]})
	}
	var rows [][]string
	for _, r := range results {
		method := string(r.Method)
		for _, a := range r.Ablations {
			method += " -" + a
		}
		if r.Pooling == string(model.BilinearPooling) {
			method = "b-" + method
		}
		lr := fmt.Sprintf("%g", r.LearningRate)
		if r.Optimizer == "closed form" {
			lr = "-"
		}
		rows = append(rows, []string{method, r.Backbone, string(r.Loss), r.Optimizer, lr, fmt.Sprintf("%g", r.WeightDecay),
			pct(r.TrainError), pct(r.ValError), pct(r.TestError), fmt.Sprintf("%.0fs", r.Seconds)})
	}
	fmt.Fprintf(stdout, "task %s (%d train, %d test images)\n", task.Name, splits.Train.Len(), splits.Test.Len())
	table(stdout, []string{"method", "backbone", "loss", "optimizer", "lr", "wd", "train error", "val error", "test error", "time"}, rows)
	return writeJSON(*jsonPath, finetuneJSON(task.Name, results))
}

// methodResult is one method's result and the backbone it started from.
type methodResult struct {
	*finetune.Result
	Backbone  string   `json:"backbone"`
	Optimizer string   `json:"optimizer"`
	Pooling   string   `json:"pooling"`
	Ablations []string `json:"ablations,omitempty"`
	// LeakyFeatureChange is, with --leaky, the relative RMS change of the
	// backbone's features on the training images when its ReLUs became
	// Leaky-ReLU.
	LeakyFeatureChange float64 `json:"leaky_feature_change,omitempty"`
}

// finetuneJSON is the --json document: with one method, its result with the
// task beside it (key test_error is a number); with several, "results" lists
// them and "test_error" maps each method to its test error.
func finetuneJSON(task string, results []methodResult) any {
	if len(results) == 1 {
		return struct {
			Task string `json:"task"`
			methodResult
		}{task, results[0]}
	}
	errs := map[string]float64{}
	for _, r := range results {
		errs[string(r.Method)] = r.TestError
	}
	return map[string]any{"task": task, "results": results, "test_error": errs}
}

func pct(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }

func parseFloats(s, flagName string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			return nil, usagef("%s: %q is not a non-negative number; give a comma-separated list like 0.01,0.001", flagName, f)
		}
		out = append(out, v)
	}
	return out, nil
}

package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/influence"
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

// finetuneFlags are the flags of `lqf finetune`.
type finetuneFlags struct {
	cf                                                *commonFlags
	imagesDir, methods, lossName, lrs, wds, optimizer *string
	ablate, pooling, solver, linearization, aug, png  *string
	alpha, epochs, momentum, kfacDamping              *float64
	shots, maxTrain, valPerClass, maxTest, batch, top *int
	explain                                           *int
	kfacExpand, kfacEK, kfacMC                        *bool
	splitSeed                                         *uint64
}

func newFinetuneFlags(fs *flag.FlagSet) *finetuneFlags {
	f := &finetuneFlags{}
	f.cf = addCommonFlags(fs, common{Task: true, Backbone: true, BackboneHelp: backboneHelp + "; default: leaky for lqf and lqf-fc, relu otherwise (--leaky applies to lqf, lqf-fc and gaf)",
		Seed: "seed of splits, head initialization and shuffling", JSON: "the results", Quiet: true})
	f.imagesDir = fs.String("images", "", "fine-tune on your own images instead of --task: a folder with one sub-folder of PNG/JPEG files per class (20% held out for test), or with train/ and test/ folders of that form")
	f.methods = fs.String("method", "lqf,nlft,fc", "comma-separated methods: nlft (all layers), lqf (linearized, MSE), lqf-fc (LQF of the classifier), gaf (linearized, cross-entropy), fc (linear probe)")
	f.lossName = fs.String("loss", "", "loss: ce or mse (targets scaled by --alpha); default: mse for lqf and lqf-fc, ce otherwise")
	f.alpha = fs.Float64("alpha", model.DefaultAlpha, "MSE target scale")
	f.shots = fs.Int("shots", 0, "training samples per class (0: all, then --max-train)")
	f.maxTrain = fs.Int("max-train", 500, "cap on training samples, balanced over classes (0: no cap)")
	f.valPerClass = fs.Int("val-per-class", finetuneValPerClass, "validation samples per class, for the grid search")
	f.maxTest = fs.Int("max-test", 2000, "cap on test samples, balanced over classes (0: whole test split)")
	f.epochs = fs.Float64("epochs", 0, fmt.Sprintf("epochs per grid point (0: the method's default, %g for nlft, %g for fc)",
		finetune.DefaultOptions(finetune.NLFT).Epochs, finetune.DefaultOptions(finetune.FC).Epochs))
	f.batch = fs.Int("batch", 28, "batch size (the paper's 28)")
	f.lrs = fs.String("lr", "", "comma-separated learning rates (default: the paper's grid for the method)")
	f.wds = fs.String("wd", "", "comma-separated weight decays lambda, L2 in the loss (default: the paper's grid)")
	f.momentum = fs.Float64("momentum", 0.9, "SGD momentum")
	f.optimizer = fs.String("optimizer", "sgd", "sgd (momentum --momentum) or adam (the paper's Adam grid, Table 3)")
	f.ablate = fs.String("ablate", "", "comma-separated ablations of lqf: mse (cross-entropy instead of MSE), kfac (plain SGD instead of K-FAC), leaky (ReLU backbone instead of Leaky-ReLU)")
	f.kfacDamping = fs.Float64("kfac-damping", kfac.RecommendedDamping, "K-FAC damping added to the loss's lambda")
	f.kfacExpand = fs.Bool("kfac-expand", kfac.Recommended().Expand, "KFC factors over positions (Grosse & Martens); false: K-FAC-reduce")
	f.kfacEK = fs.Bool("kfac-ekfac", kfac.Recommended().EigenCorrection, "correct the Kronecker eigenvalues with exact second moments (EK-FAC); false uses plain K-FAC")
	f.kfacMC = fs.Bool("kfac-mc", false, "K-FAC output-side factors from Monte-Carlo output noise (one backward pass per batch instead of one per class)")
	f.pooling = fs.String("pooling", "avg", "avg, or bilinear: square-root-normalized bilinear pooling (B-LQF, paper Table 2)")
	f.solver = fs.String("solver", "auto", "auto (the closed form for lqf and lqf-fc where it applies: MSE, SGD, no augmentation, Jacobian rows within 4 GiB; SGD otherwise), sgd (K-FAC-preconditioned for lqf and lqf-fc), or exact: closed-form optimum of lqf (kernel form) and lqf-fc (primal form)")
	f.explain = fs.Int("explain", 1, "with lqf: explain this many misclassified test images of the closed-form LQF model (exact leave-one-out: the training images that pushed the prediction most either way); 0: none")
	f.top = fs.Int("top", 3, "proponents and opponents per explained image")
	f.png = fs.String("png", "", "with --explain: draw each explained image with its proponents and opponents into this directory")
	f.linearization = fs.String("linearization", "auto", "how lqf and gaf evaluate f0 + J dw while training: jvp (a modified forward pass per batch), jacobian (per-image Jacobian rows computed once; N*C*P*4 bytes), or auto (jacobian when it fits in 2 GiB and --augment is none)")
	f.aug = fs.String("augment", "none", "augmentation: none, crop or crop-flip")
	f.splitSeed = fs.Uint64("split-seed", 0, "seed of the splits alone (0: --seed), to repeat training seeds on one split")
	return f
}

// finetunePlan is what the flags ask for, checked.
type finetunePlan struct {
	task      data.Task
	methods   []finetune.Method
	loss      model.Loss // "" for each method's own
	augment   data.Augmentation
	lin       finetune.Linearization
	opt       model.Optimizer
	ablations []string
	lrs, wds  []float64 // nil for each method's grid
}

// plan checks the flags (each error names its flag) and returns the plan.
func (f *finetuneFlags) plan() (*finetunePlan, error) {
	p := &finetunePlan{}
	var err error
	if p.task, err = data.TaskByName(*f.cf.task); err != nil {
		return nil, usagef("--task: %v", err)
	}
	if *f.imagesDir != "" {
		p.task = data.Task{Name: "folder " + *f.imagesDir, Flip: true}
	}
	if *f.lossName != "" {
		if p.loss, err = model.ParseLoss(*f.lossName); err != nil {
			return nil, usagef("--loss: %v", err)
		}
	}
	if p.augment, err = data.ParseAugmentation(*f.aug); err != nil {
		return nil, usagef("--augment: %v", err)
	}
	if p.augment == data.RandomCropFlip && !p.task.Flip {
		return nil, usagef("--augment crop-flip: task %q is not flip-invariant (digits); use crop", p.task.Name)
	}
	if *f.solver != solverAuto && *f.solver != string(finetune.SolverSGD) && *f.solver != string(finetune.SolverExact) {
		return nil, usagef("--solver %q: want auto, sgd or exact", *f.solver)
	}
	if p.lin, err = finetune.ParseLinearization(*f.linearization); err != nil {
		return nil, usagef("--linearization: %v", err)
	}
	if p.lin == finetune.LinearizeJacobian && p.augment != data.NoAugmentation {
		return nil, usagef("--linearization jacobian: needs --augment none (the Jacobian rows are computed once, on fixed images); use jvp or auto")
	}
	if *f.pooling != string(model.AvgPooling) && *f.pooling != string(model.BilinearPooling) {
		return nil, usagef("--pooling %q: want avg or bilinear", *f.pooling)
	}
	if p.opt, err = model.ParseOptimizer(*f.optimizer); err != nil {
		return nil, usagef("--optimizer: %v", err)
	}
	if err := f.planMethods(p); err != nil {
		return nil, err
	}
	if p.lrs, err = parseList(*f.lrs, positive("--lr", 0, "0.01,0.001")); err != nil {
		return nil, err
	}
	if p.wds, err = parseList(*f.wds, nonNegative("--wd", 0, "1e-4,1e-3")); err != nil {
		return nil, err
	}
	if err := f.checkNumbers(); err != nil {
		return nil, err
	}
	if err := checkOutputDir("--png", *f.png); err != nil {
		return nil, err
	}
	return p, f.cf.check()
}

// planMethods checks --method and --ablate.
func (f *finetuneFlags) planMethods(p *finetunePlan) error {
	if *f.ablate != "" {
		for _, a := range strings.Split(*f.ablate, ",") {
			switch a = strings.TrimSpace(a); a {
			case "mse", "leaky", "kfac":
				p.ablations = append(p.ablations, a)
			default:
				return usagef("--ablate %q: want mse, kfac or leaky", a)
			}
		}
		if *f.methods != string(finetune.LQF) {
			return usagef("--ablate applies to --method lqf alone")
		}
	}
	for _, s := range strings.Split(*f.methods, ",") {
		m, err := finetune.ParseMethod(strings.TrimSpace(s))
		if err != nil {
			return usagef("--method: %v", err)
		}
		if slices.Contains(p.methods, m) {
			return usagef("--method %s: %s is listed twice", *f.methods, m)
		}
		if m == finetune.FC && p.loss == model.MSE {
			return usagef("--loss mse: fc is trained with cross-entropy only; drop fc from --method")
		}
		if *f.solver == string(finetune.SolverExact) && m != finetune.LQF && m != finetune.LQFFC {
			return usagef("--solver exact: applies to lqf and lqf-fc only, not %s", m)
		}
		p.methods = append(p.methods, m)
	}
	return nil
}

// checkNumbers checks the numeric flags (NaN and infinities included).
func (f *finetuneFlags) checkNumbers() error {
	if err := checkMinInts(minInt{"--shots", *f.shots, 0}, minInt{"--max-train", *f.maxTrain, 0}, minInt{"--val-per-class", *f.valPerClass, 0},
		minInt{"--max-test", *f.maxTest, 0}, minInt{"--batch", *f.batch, 1}, minInt{"--explain", *f.explain, 0}, minInt{"--top", *f.top, 1}); err != nil {
		return err
	}
	return checkFloats(epochs("--epochs", *f.epochs, false, "10 (0: the method's default)"),
		positive("--alpha", *f.alpha, fmt.Sprintf("%d, the paper's", model.DefaultAlpha)),
		inRange("--momentum", *f.momentum, 0, 1, true, "0.9"),
		nonNegative("--kfac-damping", *f.kfacDamping, fmt.Sprint(kfac.RecommendedDamping)))
}

func runFinetune(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("finetune", "finetune [--task T] [--method nlft,fc] [flags]", stderr)
	f := newFinetuneFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	p, err := f.plan()
	if err != nil {
		return err
	}
	be, err := startBackend()
	if err != nil {
		return err
	}
	progress := f.cf.progress(stderr)
	bbs := &finetuneBackbones{f: f, p: p, be: be, nets: map[string]*model.Network{}, swapped: map[string]*model.Network{}}
	for _, m := range p.methods { // check every backbone before the long work
		if _, _, err := bbs.forMethod(m); err != nil {
			return err
		}
	}
	splits, err := f.loadSplits(p, bbs)
	if err != nil {
		return err
	}
	beginWork("finetune")
	featureChange, err := bbs.reportSwaps(splits.Train, progress)
	if err != nil {
		return err
	}
	if progress != nil {
		fmt.Fprintf(progress, "task %s: %d train, %d val, %d test images, %d classes\n",
			p.task.Name, splits.Train.Len(), splits.Val.Len(), splits.Test.Len(), splits.Train.NumClasses)
	}
	var results []methodResult
	var lqfKernel *model.Kernel // its kernel set-up, shared with --explain
	for _, m := range p.methods {
		name, base, _ := bbs.forMethod(m)
		o := f.options(p, m, splits, base, progress)
		if m == finetune.LQF && o.Solver == finetune.SolverExact && *f.explain > 0 {
			if lqfKernel, err = lqfKernelOf(be, base, splits.Train, o); err != nil {
				return err
			}
			o.Kernel = lqfKernel
		}
		res, _, err := finetune.Run(be, base, splits, o)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		optName := string(p.opt)
		switch {
		case o.Solver == finetune.SolverExact:
			optName = "closed form"
		case o.Curvature != nil:
			optName = "sgd+kfac"
		}
		results = append(results, methodResult{res, name, optName, *f.pooling, p.ablations, featureChange[name]})
	}
	printFinetune(stdout, p.task.Name, splits, results)
	var why []influence.Explanation
	if i := slices.Index(p.methods, finetune.LQF); i >= 0 && *f.explain > 0 {
		_, base, _ := bbs.forMethod(finetune.LQF)
		if why, err = f.explainLQF(stdout, be, base, splits, results[i], lqfKernel, progress); err != nil {
			return err
		}
	}
	return writeJSON(f.cf.jsonPath(), finetuneJSON(p.task.Name, results, why))
}

// lqfKernelOf computes the kernel set-up of LQF's closed form once (the
// backbone with the run's head), for finetune.Run and influence.Fit.
func lqfKernelOf(be backends.Backend, backbone *model.Network, train *data.Set, o finetune.Options) (*model.Kernel, error) {
	net, err := backbone.ReplaceHead(be, train.NumClasses, o.Seed)
	if err != nil {
		return nil, err
	}
	return model.NewKernel(be, net, train, o.Alpha, o.Progress)
}

// solverAuto is --solver's default: the closed form where it applies.
const solverAuto = "auto"

// closedFormApplies says whether --solver auto solves method m in closed
// form: LQF or LQF-FC with the MSE loss, SGD, no augmentation and no
// plain-SGD ablation, and for LQF the N*C Jacobian rows within
// model.MaxJacobianBytes.
func closedFormApplies(p *finetunePlan, m finetune.Method, loss model.Loss, splits *data.Splits, net *model.Network) bool {
	if (m != finetune.LQF && m != finetune.LQFFC) || loss != model.MSE || p.opt != model.SGD || p.augment != data.NoAugmentation || slices.Contains(p.ablations, "kfac") {
		return false
	}
	rows := int64(splits.Train.Len()) * int64(splits.Train.NumClasses)
	return m == finetune.LQFFC || rows*int64(net.NumParameters())*4 <= model.MaxJacobianBytes
}

// explainLQF explains the first --explain misclassified test images of the
// closed-form LQF model at the weight decay the grid selected: their exact
// leave-one-out proponents and opponents (influence.Fit), printed, and
// drawn with --png.
func (f *finetuneFlags) explainLQF(stdout io.Writer, be backends.Backend, backbone *model.Network, splits *data.Splits, lqf methodResult, k *model.Kernel, progress io.Writer) ([]influence.Explanation, error) {
	train, test := splits.Train, splits.Test
	if k == nil { // LQF was trained by SGD: no closed form to attribute
		fmt.Fprintf(stdout, "\nno explanation: exact leave-one-out needs LQF in closed form (--solver auto or exact, its N*C Jacobian rows within 4 GiB); lower --max-train or use lqf influence --approx kfac\n")
		return nil, nil
	}
	// The LQF model of the table picks the misclassified images; the
	// attribution refits the same closed form (same head, lambda, rho).
	out := lqf.TestOutputs
	var picked []int
	wrong := 0
	for t := range test.Len() {
		if model.Argmax(out[t*train.NumClasses:(t+1)*train.NumClasses]) != int(test.Labels[t]) {
			if wrong++; len(picked) < *f.explain {
				picked = append(picked, t)
			}
		}
	}
	if len(picked) == 0 {
		fmt.Fprintf(stdout, "\nthe LQF model classifies all %d test images correctly: nothing to explain\n", test.Len())
		return nil, nil
	}
	m, err := influence.Fit(be, backbone, train, influence.FitOptions{Lambda: lqf.Lambda, Alpha: *f.alpha, Seed: *f.cf.seed, Kernel: k, Progress: progress})
	if err != nil {
		return nil, err
	}
	why, err := m.Explain(be, test.Subset(picked), *f.top)
	if err != nil {
		return nil, err
	}
	names := train.ClassNames
	fmt.Fprintf(stdout, "\nwhy? the LQF model misclassifies %d of %d test images; exact leave-one-out over its %d training images:\n",
		wrong, test.Len(), train.Len())
	for k := range why {
		e := &why[k]
		e.Image = picked[k]
		fmt.Fprintf(stdout, "\ntest image %d: true %s, predicted %s\n", e.Image, names[e.Label], names[e.Predicted])
		header, rows := e.Table(train)
		table(stdout, header, rows)
		if *f.png != "" {
			path := filepath.Join(*f.png, fmt.Sprintf("test-%d.png", e.Image))
			if err := os.MkdirAll(*f.png, 0o755); err != nil {
				return nil, fmt.Errorf("--png: %w", err)
			}
			if err := writeExplanationPNG(path, *e, test, train); err != nil {
				return nil, err
			}
			fmt.Fprintf(stdout, "grid: %s\n", path)
		}
	}
	if len(why) > 0 {
		fmt.Fprintln(stdout, "(effect: the change of that output caused by the training image, f(x) - f_without_it(x); proponents push the prediction up)")
	}
	return why, nil
}

// finetuneBackbones loads each method's backbone once: by --backbone, or
// relu/leaky by method, with --leaky's swap for the linearized methods.
type finetuneBackbones struct {
	f    *finetuneFlags
	p    *finetunePlan
	be   backends.Backend
	nets map[string]*model.Network
	// swapped: the backbones whose ReLUs --leaky turned into Leaky-ReLU,
	// by name, with the network they came from.
	swapped map[string]*model.Network
}

func (b *finetuneBackbones) forMethod(m finetune.Method) (string, *model.Network, error) {
	bb := b.f.cf.bb
	name := *bb.name
	if name == "" {
		name = "relu"
		if m.Activation() == model.LeakyReLU && !slices.Contains(b.p.ablations, "leaky") {
			name = "leaky"
		}
	}
	swap := *bb.leaky > 0 && m.Activation() == model.LeakyReLU
	key := name
	if swap {
		key = fmt.Sprintf("%s (leaky-relu %g)", name, *bb.leaky)
	}
	if n, ok := b.nets[key]; ok {
		return key, n, nil
	}
	n, orig, err := bb.load(b.be, name, swap)
	if pooling := *b.f.pooling; err == nil && pooling != string(model.AvgPooling) {
		if n, err = n.WithPooling(model.Pooling(pooling)); err == nil && orig != nil {
			orig, err = orig.WithPooling(model.Pooling(pooling))
		}
	}
	if orig != nil {
		b.swapped[key] = orig
	}
	b.nets[key] = n
	return key, n, err
}

// reportSwaps measures the effect of --leaky on each swapped backbone:
// the relative RMS change of its features on the training images.
func (b *finetuneBackbones) reportSwaps(train *data.Set, progress io.Writer) (map[string]float64, error) {
	change := map[string]float64{}
	for key, orig := range b.swapped {
		var err error
		if change[key], err = reportSwap(b.be, key, orig, b.nets[key], train, progress); err != nil {
			return nil, err
		}
	}
	return change, nil
}

// loadSplits loads --task's or --images' splits and checks that every
// method's backbone takes their images.
func (f *finetuneFlags) loadSplits(p *finetunePlan, bbs *finetuneBackbones) (*data.Splits, error) {
	seed := *f.splitSeed
	if seed == 0 {
		seed = *f.cf.seed
	}
	opts := data.SplitOptions{Seed: seed, Shots: *f.shots, MaxTrain: *f.maxTrain, ValPerClass: *f.valPerClass, MaxTest: *f.maxTest}
	var splits *data.Splits
	var err error
	if *f.imagesDir != "" {
		// The images take the input geometry of the (first) backbone.
		_, first, _ := bbs.forMethod(p.methods[0])
		if splits, err = data.LoadImageFolderSplitsAs(*f.imagesDir, inputGeometry(first), opts); err != nil {
			return nil, usagef("--images: %v", err)
		}
	} else if splits, err = p.task.Load(opts); err != nil {
		return nil, inputError(err)
	}
	for _, m := range p.methods {
		name, n, _ := bbs.forMethod(m)
		if err := n.CheckSet(splits.Train); err != nil {
			return nil, usagef("--backbone %s: %v", name, err)
		}
	}
	return splits, nil
}

// options are method m's finetune.Options under the flags: its defaults,
// K-FAC for LQF and LQF-FC with SGD, then the flags' overrides.
func (f *finetuneFlags) options(p *finetunePlan, m finetune.Method, splits *data.Splits, net *model.Network, progress io.Writer) finetune.Options {
	o := finetune.DefaultOptions(m)
	if p.loss != "" {
		o.Loss = p.loss
		o.LearningRates, o.Lambdas = finetune.PaperGrid(m, p.loss)
	}
	if slices.Contains(p.ablations, "mse") {
		o.Loss = model.CrossEntropy
	}
	seed := *f.cf.seed
	solver := finetune.Solver(*f.solver)
	if *f.solver == solverAuto {
		solver = finetune.SolverSGD
		if closedFormApplies(p, m, o.Loss, splits, net) {
			solver = finetune.SolverExact
		}
	}
	if (m == finetune.LQF || m == finetune.LQFFC) && !slices.Contains(p.ablations, "kfac") && p.opt == model.SGD && solver == finetune.SolverSGD {
		o = o.WithCurvature(kfac.CurvatureFunc(kfac.Options{Expand: *f.kfacExpand, MonteCarlo: *f.kfacMC, EigenCorrection: *f.kfacEK, Seed: seed, Progress: progress}, *f.kfacDamping))
	}
	if p.opt == model.Adam {
		o = o.WithAdam()
	}
	o.Solver = solver
	o.Linearization = p.lin
	o.Alpha, o.BatchSize, o.Momentum, o.Augment, o.Seed, o.Progress = *f.alpha, *f.batch, *f.momentum, p.augment, seed, progress
	if *f.epochs > 0 {
		o.Epochs = *f.epochs
	}
	if p.lrs != nil {
		o.LearningRates = p.lrs
	}
	if p.wds != nil {
		o.Lambdas = p.wds
	}
	return o
}

// printFinetune prints the comparison table.
func printFinetune(stdout io.Writer, task string, splits *data.Splits, results []methodResult) {
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
		rows = append(rows, []string{method, r.Backbone, string(r.Loss), r.Optimizer, lr, fmt.Sprintf("%g", r.Lambda),
			pct(r.TrainError), pct(r.ValError), pct(r.TestError), fmt.Sprintf("%.0fs", r.Seconds)})
	}
	fmt.Fprintf(stdout, "task %s (%d train, %d test images)\n", task, splits.Train.Len(), splits.Test.Len())
	table(stdout, []string{"method", "backbone", "loss", "optimizer", "lr", "wd", "train error", "val error", "test error", "time"}, rows)
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
// them and "test_error" maps each method to its test error; "explained"
// holds the explanations of misclassified test images (--explain).
func finetuneJSON(task string, results []methodResult, why []influence.Explanation) any {
	if len(results) == 1 {
		return struct {
			Task string `json:"task"`
			methodResult
			Explained []influence.Explanation `json:"explained,omitempty"`
		}{task, results[0], why}
	}
	errs := map[string]float64{}
	for _, r := range results {
		errs[string(r.Method)] = r.TestError
	}
	doc := map[string]any{"task": task, "results": results, "test_error": errs}
	if len(why) > 0 {
		doc["explained"] = why
	}
	return doc
}

func pct(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }

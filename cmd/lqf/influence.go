package main

import (
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/influence"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

func init() {
	register(command{"influence", "which training images made the LQF model predict this? exact leave-one-out attribution (validate: against retraining)", runInfluence})
}

// explanation is one test image's attribution in the JSON output.
type explanation struct {
	Test       int                     `json:"test"`
	Origin     int32                   `json:"origin"` // index in its official file
	Label      string                  `json:"label"`
	Predicted  string                  `json:"predicted"`
	Outputs    []float64               `json:"outputs"`
	Proponents []influence.Attribution `json:"proponents"`
	Opponents  []influence.Attribution `json:"opponents"`
	PNG        string                  `json:"png,omitempty"`
}

// influenceFlags are the flags of `lqf influence`.
type influenceFlags struct {
	cf                                             *commonFlags
	method, approx, testFlag, pngDir, cache        *string
	banzhaf, maxTrain, maxTest, misclassified, top *int
	trainIndex, self, sketch                       *int
	lambda, fitLR, fitEpochs, fitDamping, mem      *float64
}

func newInfluenceFlags(fs *flag.FlagSet) *influenceFlags {
	return &influenceFlags{
		cf:            addCommonFlags(fs, common{Task: true, Backbone: true, Seed: "seed of the split and of the new head", JSON: "the results", Quiet: true}),
		method:        fs.String("method", "lqf", "lqf (all layers) or lqf-fc (classifier only, exact at any size)"),
		approx:        fs.String("approx", "exact", "exact (kernel form, N*C up to about 10,000) or kfac (K-FAC curvature, lqf only)"),
		banzhaf:       fs.Int("banzhaf", 0, "lqf exact: score by Banzhaf values over this many random subsets (average contribution to random halves of the data) instead of leave-one-out"),
		maxTrain:      fs.Int("max-train", 200, "training samples, balanced over classes"),
		maxTest:       fs.Int("max-test", 100, "test samples, balanced over classes"),
		lambda:        fs.Float64("wd", 1e-4, "weight decay lambda of LQF's objective (1/N) sum ||f - alpha y||^2 + lambda/2 ||dw||^2"),
		testFlag:      fs.String("test", "", "comma-separated test indices to explain (default: the first misclassified ones)"),
		misclassified: fs.Int("misclassified", 2, "without --test: how many misclassified test images to explain"),
		top:           fs.Int("top", 8, "proponents and opponents per test image"),
		trainIndex:    fs.Int("train-index", -1, "also list the test images this training sample moves most"),
		self:          fs.Int("self", 10, "list the training samples of largest self-influence (0: none)"),
		cache:         fs.String("cache", "", "exact: keep the kernel set-up (Jacobian rows, NTK) in this directory, keyed by backbone, data and seed, so that the next run with the same inputs (any --wd) skips the Jacobian"),
		pngDir:        fs.String("png", "", "write image grids (proponents/opponents per test image, self-influence) to this directory"),
		sketch:        fs.Int("sketch", -1, "kfac: count-sketch dimension of the stored training vectors (0: whole; -1: whole up to 1 GiB, else 1024)"),
		fitLR:         fs.Float64("fit-lr", 0.001, "kfac: learning rate of the K-FAC-preconditioned LQF fit that gives the residuals"),
		fitEpochs:     fs.Float64("fit-epochs", 10, "kfac: epochs of that fit"),
		fitDamping:    fs.Float64("fit-damping", kfac.RecommendedDamping, "kfac: extra damping of the fit's K-FAC preconditioner"),
		mem:           fs.Float64("mem", 0, "exact: memory budget in GiB (0: this machine's memory); lqf stops before any work when the predicted peak (Jacobian rows, kernel, its inverse) exceeds it"),
	}
}

// check validates the flags, each error naming its flag, and returns the
// method and the test indices of --test.
func (f *influenceFlags) check() (finetune.Method, []int, error) {
	m, err := finetune.ParseMethod(*f.method)
	if err != nil || (m != finetune.LQF && m != finetune.LQFFC) {
		return "", nil, usagef("--method %q: want lqf or lqf-fc", *f.method)
	}
	if *f.approx != string(influence.ExactLOO) && *f.approx != string(influence.KFACLOO) {
		return "", nil, usagef("--approx %q: want exact or kfac", *f.approx)
	}
	if err := checkMinInts(minInt{"--max-train", *f.maxTrain, 2}, minInt{"--max-test", *f.maxTest, 1}, minInt{"--top", *f.top, 1}, minInt{"--self", *f.self, 0},
		minInt{"--banzhaf", *f.banzhaf, 0}, minInt{"--misclassified", *f.misclassified, 0}, minInt{"--train-index", *f.trainIndex, -1},
		minInt{"--sketch", *f.sketch, -1}); err != nil {
		return "", nil, err
	}
	if err := checkFloats(positive("--wd", *f.lambda, "1e-4"), positive("--fit-lr", *f.fitLR, "0.001"),
		epochs("--fit-epochs", *f.fitEpochs, true, "10"), nonNegative("--fit-damping", *f.fitDamping, fmt.Sprint(kfac.RecommendedDamping)),
		nonNegative("--mem", *f.mem, "16")); err != nil {
		return "", nil, err
	}
	if err := firstError(checkOutputDir("--png", *f.pngDir), checkOutputDir("--cache", *f.cache)); err != nil {
		return "", nil, err
	}
	if *f.banzhaf > 0 && (m != finetune.LQF || *f.approx != string(influence.ExactLOO)) {
		return "", nil, usagef("--banzhaf needs --method lqf --approx exact (the kernel form)")
	}
	var tests []int
	if *f.testFlag != "" {
		for _, s := range strings.Split(*f.testFlag, ",") {
			t, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || t < 0 || t >= *f.maxTest {
				return "", nil, usagef("--test %q: want indices in [0, --max-test=%d)", *f.testFlag, *f.maxTest)
			}
			tests = append(tests, t)
		}
	}
	return m, tests, f.cf.check()
}

// checkMemory checks exact attribution's predicted peak memory against
// --mem (checkMemory) and reports it to the progress writer.
func (f *influenceFlags) checkMemory(m finetune.Method, s *session) error {
	if m != finetune.LQF || *f.approx != string(influence.ExactLOO) {
		return nil
	}
	train := s.splits.Train
	mem := influence.ExactMemory(train.Len(), train.NumClasses, s.net.NumParameters(), s.splits.Test.Len())
	if err := checkMemory(*f.mem, mem, fmt.Sprintf("%d samples x %d classes", train.Len(), train.NumClasses)); err != nil {
		return err
	}
	if s.progress != nil {
		fmt.Fprintf(s.progress, "exact attribution: predicted peak memory %s\n", mem)
	}
	return nil
}

// explainOptions are the attribution settings of the flags: KFC factors
// with the EK-FAC correction, the variant closest to exact attribution on
// the committed backbone (lqf influence validate).
func (f *influenceFlags) explainOptions(m finetune.Method, s *session) influence.ExplainOptions {
	seed := *f.cf.seed
	opts := influence.ExplainOptions{Method: m, Approx: influence.Approximation(*f.approx), Banzhaf: *f.banzhaf, Lambda: *f.lambda, Seed: seed,
		KFAC: recommendedKFAC(seed, s.progress), CacheDir: *f.cache, Progress: s.progress}
	if opts.Approx == influence.KFACLOO {
		opts.Sketch = *f.sketch
		if opts.Sketch < 0 {
			opts.Sketch = 0
			if int64(s.splits.Train.Len())*int64(s.net.NumParameters())*8 > 1<<30 {
				opts.Sketch = 1024
			}
		}
		opts.Fit = finetune.DefaultOptions(finetune.LQF)
		opts.Fit.LearningRates, opts.Fit.Epochs = []float64{*f.fitLR}, *f.fitEpochs
		// The preconditioner of the fit needs extra damping: K-FAC
		// underestimates some curvature on this backbone (lqf check kfac).
		opts.Fit.Curvature = kfac.CurvatureFunc(recommendedKFAC(seed, s.progress), *f.fitDamping)
	}
	return opts
}

func runInfluence(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "validate" {
		return runInfluenceValidate(args[1:], stdout, stderr)
	}
	fs := newFlags("influence", "influence [--task T] [--test I,J | --misclassified K] [--top K] [--png DIR] [--json FILE] [flags]\n       lqf influence validate [--quick] [--json FILE]", stderr)
	f := newInfluenceFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, tests, err := f.check()
	if err != nil {
		return err
	}
	s, err := f.cf.open(data.SplitOptions{Seed: *f.cf.seed, MaxTrain: *f.maxTrain, ValPerClass: 1, MaxTest: *f.maxTest}, stderr)
	if err != nil {
		return err
	}
	train, test := s.splits.Train, s.splits.Test
	if *f.trainIndex >= train.Len() {
		return usagef("--train-index %d: the training set has %d samples", *f.trainIndex, train.Len())
	}
	if err := f.checkMemory(m, s); err != nil {
		return err
	}
	beginWork("influence")
	if *f.pngDir != "" { // checked above; created only once the work runs
		if err := os.MkdirAll(*f.pngDir, 0o755); err != nil {
			return fmt.Errorf("--png: %w", err)
		}
	}
	ex, err := influence.NewExplainer(s.be, s.net, train, f.explainOptions(m, s))
	if err != nil {
		return err
	}
	out, err := ex.Outputs(s.be, test)
	if err != nil {
		return err
	}
	pred, wrong := predictions(out, test)
	fmt.Fprintf(stdout, "%s on %s: %d training samples, lambda %g, test error %.4f (%d of %d)\n", m, s.task.Name, train.Len(), *f.lambda, float64(wrong)/float64(test.Len()), wrong, test.Len())
	if *f.testFlag == "" {
		for t := range pred {
			if pred[t] != int(test.Labels[t]) && len(tests) < *f.misclassified {
				tests = append(tests, t)
			}
		}
		if len(tests) == 0 && *f.misclassified > 0 {
			tests = []int{0}
			fmt.Fprintln(stdout, "no misclassified test image: explaining test image 0")
		}
	}
	scores, err := ex.Scores(s.be, test)
	if err != nil {
		return err
	}
	scoring := "leave-one-out"
	if *f.banzhaf > 0 {
		scoring = fmt.Sprintf("banzhaf (%d subsets)", *f.banzhaf)
	}
	result := map[string]any{"task": s.task.Name, "method": m, "approx": *f.approx, "scores": scoring, "lambda": *f.lambda, "train_size": train.Len(),
		"test_size": test.Len(), "test_error": float64(wrong) / float64(test.Len()), "classes": train.ClassNames,
		"convention": "delta = f(x) - f_without_i(x) (leave-one-out) or its average over random halves S of the others, f_{S+i}(x) - f_S(x) (banzhaf): the change of an output that training sample i causes (positive: i pushes it up); proponents raise the predicted class's output most"}
	f.cf.bb.record(result, s.leakyChange)
	if result["explanations"], err = f.explain(stdout, s, scores, tests, pred, out); err != nil {
		return err
	}
	if *f.self > 0 {
		if err := f.selfInfluence(stdout, s, ex, result); err != nil {
			return err
		}
	}
	if *f.trainIndex >= 0 {
		if result["moved_by_train_index"], err = f.moved(stdout, s, scores); err != nil {
			return err
		}
	}
	return writeJSON(f.cf.jsonPath(), result)
}

// moved prints the test images that training sample --train-index moves
// most.
func (f *influenceFlags) moved(stdout io.Writer, s *session, scores influence.Scores) (any, error) {
	train, test, names := s.splits.Train, s.splits.Test, s.splits.Train.ClassNames
	moved, err := scores.MostMoved(*f.trainIndex, test.Labels, *f.top)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "\ntest images training sample %d (%s) moves most:\n", *f.trainIndex, names[train.Labels[*f.trainIndex]])
	rows := [][]string{}
	for _, mv := range moved {
		rows = append(rows, []string{strconv.Itoa(mv.Test), names[test.Labels[mv.Test]], fmt.Sprintf("%.4f", mv.Norm), fmt.Sprintf("%+.4f", mv.DeltaTrue)})
	}
	table(stdout, []string{"test", "label", "norm of change", "delta true class"}, rows)
	return map[string]any{"train": *f.trainIndex, "tests": moved}, nil
}

// explain prints (and draws, with --png) the proponents and opponents of
// each test image in tests.
func (f *influenceFlags) explain(stdout io.Writer, s *session, scores influence.Scores, tests, pred []int, out []float64) ([]explanation, error) {
	train, test, names, c := s.splits.Train, s.splits.Test, s.splits.Train.ClassNames, s.splits.Train.NumClasses
	var exps []explanation
	for _, t := range tests {
		pro, opp, err := scores.TopK(t, pred[t], int(test.Labels[t]), *f.top)
		if err != nil {
			return nil, err
		}
		e := explanation{Test: t, Origin: test.Origin[t], Label: names[test.Labels[t]], Predicted: names[pred[t]], Outputs: out[t*c : (t+1)*c], Proponents: pro, Opponents: opp}
		ie := influence.Explanation{Image: t, Label: int(test.Labels[t]), Predicted: pred[t], Proponents: pro, Opponents: opp}
		fmt.Fprintf(stdout, "\ntest %d (true %s, predicted %s):\n", t, e.Label, e.Predicted)
		header, rows := ie.Table(train)
		table(stdout, header, rows)
		if *f.pngDir != "" {
			e.PNG = filepath.Join(*f.pngDir, fmt.Sprintf("test-%d.png", t))
			if err := writeExplanationPNG(e.PNG, ie, test, train); err != nil {
				return nil, err
			}
		}
		exps = append(exps, e)
	}
	return exps, nil
}

// selfInfluence prints (and draws, with --png) the training samples of
// largest self-influence and adds them to result.
func (f *influenceFlags) selfInfluence(stdout io.Writer, s *session, ex influence.Explainer, result map[string]any) error {
	train, names := s.splits.Train, s.splits.Train.ClassNames
	selfInf, err := ex.SelfInfluence()
	if err != nil {
		return err
	}
	ranked, err := influence.RankSelf(selfInf, train.Labels)
	if err != nil {
		return err
	}
	ranked = ranked[:min(*f.self, len(ranked))]
	fmt.Fprintf(stdout, "\ntraining samples of largest self-influence (change of their own outputs when removed):\n")
	rows := [][]string{}
	for _, r := range ranked {
		rows = append(rows, []string{strconv.Itoa(r.Train), names[train.Labels[r.Train]], fmt.Sprintf("%.4f", r.Norm), fmt.Sprintf("%+.4f", r.Label)})
	}
	table(stdout, []string{"train", "label", "norm", "delta own label"}, rows)
	result["self_influence"] = ranked
	if *f.pngDir == "" {
		return nil
	}
	var tiles []figure.Tile
	for _, r := range ranked {
		tiles = append(tiles, tile(train, r.Train, fmt.Sprintf("#%d %s\n%.3g", r.Train, names[train.Labels[r.Train]], r.Norm), nil))
	}
	g, err := figure.ImageGrid([]figure.Row{{Title: "largest self-influence", Tiles: tiles}}, figure.GridOptions{Title: s.task.Name + ": training samples the model fits only because they are there"})
	if err != nil {
		return err
	}
	path := filepath.Join(*f.pngDir, "self-influence.png")
	if err := figure.WritePNG(path, g.Image()); err != nil {
		return err
	}
	result["self_influence_png"] = path
	return nil
}

// predictions are the predicted classes of set's images from their
// outputs [N, C], and the number of wrong predictions.
func predictions(out []float64, set *data.Set) (pred []int, wrong int) {
	c := set.NumClasses
	pred = make([]int, set.Len())
	for t := range pred {
		if pred[t] = model.Argmax(out[t*c : (t+1)*c]); pred[t] != int(set.Labels[t]) {
			wrong++
		}
	}
	return pred, wrong
}

// tile is image i of set with a caption.
func tile(set *data.Set, i int, caption string, frame color.Color) figure.Tile {
	h, w, c := set.Geometry()
	return figure.Tile{Pixels: set.Image(i), Height: h, Width: w, Channels: c, Caption: caption, Frame: frame}
}

// writeExplanationPNG draws e (influence.Explanation.Grid) into path.
func writeExplanationPNG(path string, e influence.Explanation, test, train *data.Set) error {
	g, err := e.Grid(test, train)
	if err != nil {
		return err
	}
	return figure.WritePNG(path, g.Image())
}

func runInfluenceValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("influence validate", "influence validate [--quick] [--json FILE] [--png FILE]", stderr)
	cf := addCommonFlags(fs, common{Task: true, Seed: "seed of split, head, removals and subsets", JSON: "the results", Quiet: true})
	quick := fs.Bool("quick", false, "small sizes (40 training, 10 test images; NLFT 5 epochs) for CI")
	maxTrain := fs.Int("max-train", 100, "training samples (without --quick)")
	maxTest := fs.Int("max-test", 30, "test samples (without --quick)")
	lambda := fs.Float64("wd", 1e-4, "weight decay lambda of LQF")
	removals := fs.Int("removals", 20, "random training samples retrained without")
	subsets := fs.Int("subsets", 50, "random half subsets of the linear datamodeling score")
	banzhafSamples := fs.Int("banzhaf-samples", 400, "random subsets behind the Banzhaf attribution of the LDS")
	nlftEpochs := fs.Float64("nlft-epochs", 10, "epochs of each NLFT retraining (lds_nlft; 0 skips it)")
	pngPath := fs.String("png", "", "write the scatter plot of predicted vs actual changes (PNG or SVG)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *quick {
		*maxTrain, *maxTest, *nlftEpochs = 40, 10, 5
	}
	if err := firstError(checkMinInts(minInt{"--max-train", *maxTrain, 4}, minInt{"--max-test", *maxTest, 1}, minInt{"--removals", *removals, 1},
		minInt{"--subsets", *subsets, 2}, minInt{"--banzhaf-samples", *banzhafSamples, 2}),
		checkFloats(positive("--wd", *lambda, "1e-4"), epochs("--nlft-epochs", *nlftEpochs, false, "10 (0 skips it)"))); err != nil {
		return err
	}
	if *removals > *maxTrain {
		return usagef("--removals %d exceeds --max-train %d", *removals, *maxTrain)
	}
	if err := checkOutputFile("--png", *pngPath); err != nil {
		return err
	}
	cf.bb = embeddedBackbone("leaky")
	seed := cf.seed
	s, err := cf.open(data.SplitOptions{Seed: *seed, MaxTrain: *maxTrain, ValPerClass: 1, MaxTest: *maxTest}, stderr)
	if err != nil {
		return err
	}
	beginWork("influence validate")
	var relu *model.Network
	if *nlftEpochs > 0 {
		if relu, err = pretrained.Load(s.be, model.ReLU); err != nil {
			return err
		}
	}
	v, err := influence.Validate(s.be, s.net, relu, s.splits, influence.ValidateOptions{Lambda: *lambda, Removals: *removals, Subsets: *subsets, BanzhafSamples: *banzhafSamples,
		NLFT: model.TrainOptions{Epochs: *nlftEpochs},
		KFAC: recommendedKFAC(*seed, nil), Seed: *seed, Progress: s.progress})
	if err != nil {
		return err
	}
	var rows [][]string
	for _, t := range v.Targets() {
		rows = append(rows, []string{t.Key, t.Text(), t.Target})
	}
	fmt.Fprintf(stdout, "%s: %d training, %d test images, lambda %g (ridge %.3g), %d removals, %d subsets\n", s.task.Name, v.TrainSize, v.TestSize, v.Lambda, v.Ridge, len(v.Removed), *subsets)
	table(stdout, []string{"key", "value", "target"}, rows)
	if *pngPath != "" {
		p, err := figure.Scatter(v.Predicted, v.Actual, figure.ScatterOptions{Title: "exact leave-one-out vs retraining", XLabel: "predicted change of a test output", YLabel: "actual change after retraining", Correlation: true})
		if err != nil {
			return err
		}
		if err := figure.SavePlot(p, 4*72, 4*72, *pngPath); err != nil {
			return err
		}
	}
	return writeJSON(cf.jsonPath(), struct {
		Task    string `json:"task"`
		Command string `json:"command"`
		*influence.Validation
		Targets []influence.Target `json:"targets"`
	}{s.task.Name, "lqf influence validate " + strings.Join(args, " "), v, v.Targets()})
}

// recommendedKFAC is kfac.Recommended with a seed and a progress writer.
func recommendedKFAC(seed uint64, progress io.Writer) kfac.Options {
	o := kfac.Recommended()
	o.Seed, o.Progress = seed, progress
	return o
}

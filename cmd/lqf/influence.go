package main

import (
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

func runInfluence(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "validate" {
		return runInfluenceValidate(args[1:], stdout, stderr)
	}
	fs := newFlags("influence", "influence [--task T] [--test I,J | --misclassified K] [--top K] [--png DIR] [--json FILE] [flags]\n       lqf influence validate [--quick] [--json FILE]", stderr)
	taskName := fs.String("task", DefaultTask, "task (see lqf tasks)")
	bb := addBackboneFlags(fs, "leaky", "")
	method := fs.String("method", "lqf", "lqf (all layers) or lqf-fc (classifier only, exact at any size)")
	approx := fs.String("approx", "exact", "exact (kernel form, N*C up to about 10,000) or kfac (K-FAC curvature, lqf only)")
	banzhaf := fs.Int("banzhaf", 0, "lqf exact: score by Banzhaf values over this many random subsets (average contribution to random halves of the data) instead of leave-one-out")
	maxTrain := fs.Int("max-train", 200, "training samples, balanced over classes")
	maxTest := fs.Int("max-test", 100, "test samples, balanced over classes")
	lambda := fs.Float64("wd", 1e-4, "weight decay lambda of LQF's objective (1/N) sum ||f - alpha y||^2 + lambda/2 ||dw||^2")
	testFlag := fs.String("test", "", "comma-separated test indices to explain (default: the first misclassified ones)")
	misclassified := fs.Int("misclassified", 2, "without --test: how many misclassified test images to explain")
	top := fs.Int("top", 8, "proponents and opponents per test image")
	trainIndex := fs.Int("train-index", -1, "also list the test images this training sample moves most")
	self := fs.Int("self", 10, "list the training samples of largest self-influence (0: none)")
	pngDir := fs.String("png", "", "write image grids (proponents/opponents per test image, self-influence) to this directory")
	sketch := fs.Int("sketch", -1, "kfac: count-sketch dimension of the stored training vectors (0: whole; -1: whole up to 1 GiB, else 1024)")
	fitLR := fs.Float64("fit-lr", 0.001, "kfac: learning rate of the K-FAC-preconditioned LQF fit that gives the residuals")
	fitEpochs := fs.Float64("fit-epochs", 10, "kfac: epochs of that fit")
	fitDamping := fs.Float64("fit-damping", kfac.RecommendedDamping, "kfac: extra damping of the fit's K-FAC preconditioner")
	seed := fs.Uint64("seed", 1, "seed of the split and of the new head")
	jsonPath := fs.String("json", "", "write the results as JSON to this file")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := finetune.ParseMethod(*method)
	if err != nil || (m != finetune.LQF && m != finetune.LQFFC) {
		return usagef("--method %q: want lqf or lqf-fc", *method)
	}
	if *approx != string(influence.ExactLOO) && *approx != string(influence.KFACLOO) {
		return usagef("--approx %q: want exact or kfac", *approx)
	}
	if *maxTrain < 2 || *maxTest < 1 || !(*lambda > 0) || *top < 1 || *self < 0 || *banzhaf < 0 {
		return usagef("--max-train must be >= 2, --max-test and --top >= 1, --wd > 0, --self and --banzhaf >= 0")
	}
	if *banzhaf > 0 && (m != finetune.LQF || *approx != string(influence.ExactLOO)) {
		return usagef("--banzhaf needs --method lqf --approx exact (the kernel form)")
	}
	var tests []int
	if *testFlag != "" {
		for _, f := range strings.Split(*testFlag, ",") {
			t, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || t < 0 || t >= *maxTest {
				return usagef("--test %q: want indices in [0, --max-test=%d)", *testFlag, *maxTest)
			}
			tests = append(tests, t)
		}
	}
	if *pngDir != "" {
		if err := os.MkdirAll(*pngDir, 0o755); err != nil {
			return fmt.Errorf("--png: %w", err)
		}
	}
	s, err := openSession(*taskName, bb, data.SplitOptions{Seed: *seed, MaxTrain: *maxTrain, ValPerClass: 1, MaxTest: *maxTest}, *quiet, stderr)
	if err != nil {
		return err
	}
	train, test := s.splits.Train, s.splits.Test
	if *trainIndex >= train.Len() {
		return usagef("--train-index %d: the training set has %d samples", *trainIndex, train.Len())
	}
	// KFC factors with the EK-FAC correction: the variant closest to exact
	// attribution on the committed backbone (lqf influence validate).
	opts := influence.ExplainOptions{Method: m, Approx: influence.Approximation(*approx), Banzhaf: *banzhaf, Lambda: *lambda, Seed: *seed,
		KFAC: recommendedKFAC(*seed, s.progress), Progress: s.progress}
	if opts.Approx == influence.KFACLOO {
		opts.Sketch = *sketch
		if opts.Sketch < 0 {
			opts.Sketch = 0
			if int64(train.Len())*int64(s.net.NumParameters())*8 > 1<<30 {
				opts.Sketch = 1024
			}
		}
		opts.Fit = finetune.DefaultOptions(finetune.LQF)
		opts.Fit.LearningRates, opts.Fit.Epochs = []float64{*fitLR}, *fitEpochs
		// The preconditioner of the fit needs extra damping: K-FAC
		// underestimates some curvature on this backbone (lqf check kfac).
		opts.Fit.Curvature = kfac.CurvatureFunc(recommendedKFAC(*seed, s.progress), *fitDamping)
	}
	ex, err := influence.NewExplainer(s.be, s.net, train, opts)
	if err != nil {
		return err
	}
	out, err := ex.Outputs(s.be, test)
	if err != nil {
		return err
	}
	c := train.NumClasses
	pred := make([]int, test.Len())
	errors := 0
	for t := range pred {
		pred[t] = argmax(out[t*c : (t+1)*c])
		if pred[t] != int(test.Labels[t]) {
			errors++
			if *testFlag == "" && len(tests) < *misclassified {
				tests = append(tests, t)
			}
		}
	}
	fmt.Fprintf(stdout, "%s on %s: %d training samples, lambda %g, test error %.4f (%d of %d)\n", m, s.task.Name, train.Len(), *lambda, float64(errors)/float64(test.Len()), errors, test.Len())
	if len(tests) == 0 {
		tests = []int{0}
		fmt.Fprintln(stdout, "no misclassified test image: explaining test image 0")
	}
	scores, err := ex.Scores(s.be, test)
	if err != nil {
		return err
	}
	names := train.ClassNames
	scoring := "leave-one-out"
	if *banzhaf > 0 {
		scoring = fmt.Sprintf("banzhaf (%d subsets)", *banzhaf)
	}
	result := map[string]any{"task": s.task.Name, "method": m, "approx": *approx, "scores": scoring, "lambda": *lambda, "train_size": train.Len(),
		"test_size": test.Len(), "test_error": float64(errors) / float64(test.Len()), "classes": names,
		"convention": "delta = f(x) - f_without_i(x) (leave-one-out) or its average over random halves S of the others, f_{S+i}(x) - f_S(x) (banzhaf): the change of an output that training sample i causes (positive: i pushes it up); proponents raise the predicted class's output most"}
	bb.record(result, s.leakyChange)
	var exps []explanation
	for _, t := range tests {
		pro, opp, err := scores.TopK(t, pred[t], int(test.Labels[t]), *top)
		if err != nil {
			return err
		}
		e := explanation{Test: t, Origin: test.Origin[t], Label: names[test.Labels[t]], Predicted: names[pred[t]], Outputs: out[t*c : (t+1)*c], Proponents: pro, Opponents: opp}
		fmt.Fprintf(stdout, "\ntest %d (true %s, predicted %s):\n", t, e.Label, e.Predicted)
		rows := [][]string{}
		for _, x := range []struct {
			kind string
			a    []influence.Attribution
		}{{"proponent", pro}, {"opponent", opp}} {
			for _, a := range x.a {
				rows = append(rows, []string{x.kind, strconv.Itoa(a.Train), names[train.Labels[a.Train]],
					fmt.Sprintf("%+.4f", a.DeltaPredicted), fmt.Sprintf("%+.4f", a.DeltaTrue)})
			}
		}
		table(stdout, []string{"role", "train", "label", "delta " + e.Predicted, "delta " + e.Label}, rows)
		if *pngDir != "" {
			e.PNG = filepath.Join(*pngDir, fmt.Sprintf("test-%d.png", t))
			if err := writeAttributionGrid(e.PNG, test, train, t, e, names); err != nil {
				return err
			}
		}
		exps = append(exps, e)
	}
	result["explanations"] = exps
	if *self > 0 {
		selfInf, err := ex.SelfInfluence()
		if err != nil {
			return err
		}
		ranked, err := influence.RankSelf(selfInf, train.Labels)
		if err != nil {
			return err
		}
		ranked = ranked[:min(*self, len(ranked))]
		fmt.Fprintf(stdout, "\ntraining samples of largest self-influence (change of their own outputs when removed):\n")
		rows := [][]string{}
		for _, r := range ranked {
			rows = append(rows, []string{strconv.Itoa(r.Train), names[train.Labels[r.Train]], fmt.Sprintf("%.4f", r.Norm), fmt.Sprintf("%+.4f", r.Label)})
		}
		table(stdout, []string{"train", "label", "norm", "delta own label"}, rows)
		result["self_influence"] = ranked
		if *pngDir != "" {
			var tiles []figure.Tile
			for _, r := range ranked {
				tiles = append(tiles, tile(train, r.Train, fmt.Sprintf("#%d %s\n%.3g", r.Train, names[train.Labels[r.Train]], r.Norm), nil))
			}
			g, err := figure.ImageGrid([]figure.Row{{Title: "largest self-influence", Tiles: tiles}}, figure.GridOptions{Title: s.task.Name + ": training samples the model fits only because they are there"})
			if err != nil {
				return err
			}
			path := filepath.Join(*pngDir, "self-influence.png")
			if err := figure.WritePNG(path, g.Image()); err != nil {
				return err
			}
			result["self_influence_png"] = path
		}
	}
	if *trainIndex >= 0 {
		moved, err := scores.MostMoved(*trainIndex, test.Labels, *top)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\ntest images training sample %d (%s) moves most:\n", *trainIndex, names[train.Labels[*trainIndex]])
		rows := [][]string{}
		for _, mv := range moved {
			rows = append(rows, []string{strconv.Itoa(mv.Test), names[test.Labels[mv.Test]], fmt.Sprintf("%.4f", mv.Norm), fmt.Sprintf("%+.4f", mv.DeltaTrue)})
		}
		table(stdout, []string{"test", "label", "norm of change", "delta true class"}, rows)
		result["moved_by_train_index"] = map[string]any{"train": *trainIndex, "tests": moved}
	}
	return writeJSON(*jsonPath, result)
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// tile is image i of set with a caption.
func tile(set *data.Set, i int, caption string, frame color.Color) figure.Tile {
	h, w, c := set.Geometry()
	return figure.Tile{Pixels: set.Image(i), Height: h, Width: w, Channels: c, Caption: caption, Frame: frame}
}

// writeAttributionGrid draws the test image, its proponents and its
// opponents.
func writeAttributionGrid(path string, test, train *data.Set, t int, e explanation, names []string) error {
	row := func(title string, a []influence.Attribution, frame color.Color) figure.Row {
		r := figure.Row{Title: title}
		for _, x := range a {
			r.Tiles = append(r.Tiles, tile(train, x.Train, fmt.Sprintf("#%d %s\n%+.3g", x.Train, names[train.Labels[x.Train]], x.DeltaPredicted), frame))
		}
		return r
	}
	rows := []figure.Row{
		{Title: "test image", Tiles: []figure.Tile{tile(test, t, fmt.Sprintf("true %s\npredicted %s", e.Label, e.Predicted), color.RGBA{0, 0, 200, 255})}},
		row("proponents: removing them lowers "+e.Predicted+" most", e.Proponents, color.RGBA{0, 150, 0, 255}),
		row("opponents: removing them raises "+e.Predicted+" most", e.Opponents, color.RGBA{200, 0, 0, 255}),
	}
	g, err := figure.ImageGrid(rows, figure.GridOptions{Title: fmt.Sprintf("test %d: why %s?", t, e.Predicted)})
	if err != nil {
		return err
	}
	return figure.WritePNG(path, g.Image())
}

func runInfluenceValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("influence validate", "influence validate [--quick] [--json FILE] [--png FILE]", stderr)
	taskName := fs.String("task", DefaultTask, "task (see lqf tasks)")
	quick := fs.Bool("quick", false, "small sizes (40 training, 10 test images; NLFT 5 epochs) for CI")
	maxTrain := fs.Int("max-train", 100, "training samples (without --quick)")
	maxTest := fs.Int("max-test", 30, "test samples (without --quick)")
	lambda := fs.Float64("wd", 1e-4, "weight decay lambda of LQF")
	removals := fs.Int("removals", 20, "random training samples retrained without")
	subsets := fs.Int("subsets", 50, "random half subsets of the linear datamodeling score")
	banzhafSamples := fs.Int("banzhaf-samples", 400, "random subsets behind the Banzhaf attribution of the LDS")
	nlftEpochs := fs.Float64("nlft-epochs", 10, "epochs of each NLFT retraining (lds_nlft; 0 skips it)")
	seed := fs.Uint64("seed", 1, "seed of split, head, removals and subsets")
	jsonPath := fs.String("json", "", "write the results as JSON to this file")
	pngPath := fs.String("png", "", "write the scatter plot of predicted vs actual changes (PNG or SVG)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *quick {
		*maxTrain, *maxTest, *nlftEpochs = 40, 10, 5
	}
	if *maxTrain < 4 || *maxTest < 1 || !(*lambda > 0) || *removals < 1 || *subsets < 2 || *nlftEpochs < 0 || *banzhafSamples < 2 {
		return usagef("--max-train must be >= 4, --max-test, --removals >= 1, --subsets and --banzhaf-samples >= 2, --wd > 0, --nlft-epochs >= 0")
	}
	if *removals > *maxTrain {
		return usagef("--removals %d exceeds --max-train %d", *removals, *maxTrain)
	}
	s, err := openSession(*taskName, embeddedBackbone("leaky"), data.SplitOptions{Seed: *seed, MaxTrain: *maxTrain, ValPerClass: 1, MaxTest: *maxTest}, *quiet, stderr)
	if err != nil {
		return err
	}
	var relu *model.Network
	if *nlftEpochs > 0 {
		if relu, err = pretrained.Load(s.be, model.ReLU); err != nil {
			return err
		}
	}
	v, err := influence.Validate(s.be, s.net, relu, s.splits, influence.ValidateOptions{Lambda: *lambda, Removals: *removals, Subsets: *subsets, BanzhafSamples: *banzhafSamples,
		NLFT: model.TrainOptions{Loss: model.CrossEntropy, LearningRate: 0.01, Momentum: 0.9, WeightDecay: 1e-4, BatchSize: 28, Epochs: *nlftEpochs, Seed: *seed},
		KFAC: recommendedKFAC(*seed, nil), Seed: *seed, Progress: s.progress})
	if err != nil {
		return err
	}
	rows := [][]string{
		{"exact_vs_retrain_pearson", fmt.Sprintf("%.6f", v.ExactVsRetrainPearson), ">= 0.999"},
		{"exact_vs_retrain_max_rel_error", fmt.Sprintf("%.3g", v.ExactVsRetrainMaxRelError), "<= 1e-3"},
		{"unlearn_vs_retrain_max_rel_error", fmt.Sprintf("%.3g", v.UnlearnVsRetrainMaxRelError), "<= 1e-6"},
		{"kfac_vs_exact_pearson", fmt.Sprintf("%.4f", v.KFACVsExactPearson), ">= 0.95"},
		{"kfac_self_influence_pearson", fmt.Sprintf("%.4f", v.KFACSelfPearson), "reported"},
		{"ceiling: exact per-layer blocks (K-FAC with exact factors)", fmt.Sprintf("%.4f", v.CurvatureCeilingPearson["layer_blocks_exact_leverage"]), "reported"},
		{"ceiling: exact H, no leverage term", fmt.Sprintf("%.4f", v.CurvatureCeilingPearson["exact_h_no_leverage"]), "reported"},
		{"lds_lqf (Banzhaf attribution)", fmt.Sprintf("%.4f", v.LDSLQF), ">= 0.9"},
		{"lds_lqf_loo (leave-one-out)", fmt.Sprintf("%.4f", v.LDSLQFLOO), "reported"},
	}
	if v.LDSNLFT != nil {
		rows = append(rows, []string{"lds_nlft (Banzhaf attribution)", fmt.Sprintf("%.4f", *v.LDSNLFT), "reported"},
			[]string{"lds_nlft_loo (leave-one-out)", fmt.Sprintf("%.4f", *v.LDSNLFTLOO), "reported"})
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
	return writeJSON(*jsonPath, struct {
		Task    string `json:"task"`
		Command string `json:"command"`
		*influence.Validation
	}{s.task.Name, "lqf influence validate " + strings.Join(args, " "), v})
}

// recommendedKFAC is kfac.Recommended with a seed and a progress writer.
func recommendedKFAC(seed uint64, progress io.Writer) kfac.Options {
	o := kfac.Recommended()
	o.Seed, o.Progress = seed, progress
	return o
}

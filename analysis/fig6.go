package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/influence"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

func init() {
	Register(Experiment{
		ID:        "fig6",
		Title:     "Data-set summarization by F-SI: test error after dropping the most, least or randomly chosen informative samples",
		Claim:     "Removing the training samples that F-SI ranks most informative degrades LQF's test error faster than removing the least informative ones (paper Fig. 6).",
		Run:       runFig6,
		Summarize: summarizeFig6,
		Judge:     judgeFig6,
	})
}

// judgeFig6 tests that the most informative samples matter more.
func judgeFig6(v Measured) Verdict {
	d := v.Get("mean_most_minus_least")
	return verdictOf(part(d > 0, "dropping the most informative samples raises the test error more than dropping the least informative (most - least %+.4f)", d))
}

// Drop strategies of fig6.
const (
	fig6Most   = "most"
	fig6Least  = "least"
	fig6Random = "random"
	// Per class: every class loses the same number of its own most (or
	// least) informative samples (influence.DropByFSI balanced).
	fig6MostBalanced  = "most, per class"
	fig6LeastBalanced = "least, per class"
)

// fig6Point is the test error of LQF (closed form) retrained without
// Dropped training samples chosen by Strategy; for "random" the mean over
// Draws random subsets.
type fig6Point struct {
	Dropped   int     `json:"dropped"`
	Strategy  string  `json:"strategy"`
	TestError float64 `json:"test_error"`
	Draws     int     `json:"draws"`
}

// fig6Sample is a training image with its F-SI, for the image grid.
type fig6Sample struct {
	Index  int       `json:"index"`
	Class  string    `json:"class"`
	FSI    float64   `json:"fsi"`
	Pixels []float32 `json:"pixels"`
}

type fig6Result struct {
	Task      string  `json:"task"`
	TrainSize int     `json:"train_size"`
	ValSize   int     `json:"val_size"`
	TestSize  int     `json:"test_size"`
	Lambda    float64 `json:"lambda"`
	// FSI is every training sample's F-SI, in training order.
	FSI    []float64   `json:"fsi"`
	Points []fig6Point `json:"points"`
	// Most and Least are the most and least informative training images,
	// most informative (resp. least) first.
	Most  []fig6Sample `json:"most_informative"`
	Least []fig6Sample `json:"least_informative"`
	// CheckRelDiff is the largest difference, relative to the largest
	// output, between the kernel-form test outputs used here and
	// influence.Problem.Retrain + Problem.Outputs (the GoMLX linearized
	// pass) on a few test images, for the largest drop of the most
	// informative samples.
	CheckRelDiff float64 `json:"check_rel_diff"`
	// KeptPerClass is, for each strategy other than random, the training
	// images left per class at the largest drop.
	KeptPerClass map[string][]int `json:"kept_per_class,omitempty"`
}

// fig6Config is the size of one mode.
type fig6Config struct {
	Task                           string
	MaxTrain, ValPerClass, MaxTest int
	Drops                          []int
	RandomDraws, GridImages        int
	Lambda                         float64
}

func fig6Settings(quick bool) fig6Config {
	if quick {
		return fig6Config{Task: nearTask, MaxTrain: 60, ValPerClass: 5, MaxTest: 300, Drops: []int{0, 10, 20, 30},
			RandomDraws: 3, GridImages: 8, Lambda: 1e-4}
	}
	return fig6Config{Task: nearTask, MaxTrain: 300, ValPerClass: 20, MaxTest: 1000, Drops: []int{0, 30, 60, 90, 120, 150, 180, 210, 240},
		RandomDraws: 10, GridImages: 10, Lambda: 1e-4}
}

// fig6CheckImages is the number of test images on which the kernel-form
// outputs are checked against retraining through the network.
const fig6CheckImages = 4

func runFig6(env *Env, seed uint64) (any, error) {
	cfg := fig6Settings(env.Quick)
	base, err := pretrained.Load(env.Backend, finetune.LQF.Activation())
	if err != nil {
		return nil, err
	}
	_, splits, err := loadTask(cfg.Task, data.SplitOptions{Seed: seed, MaxTrain: cfg.MaxTrain, ValPerClass: cfg.ValPerClass, MaxTest: cfg.MaxTest})
	if err != nil {
		return nil, err
	}
	train, test := splits.Train, splits.Test
	n := train.Len()
	for _, k := range cfg.Drops {
		if k < 0 || k >= n {
			return nil, fmt.Errorf("fig6: cannot drop %d of %d training samples", k, n)
		}
	}
	net, err := base.ReplaceHead(env.Backend, train.NumClasses, seed)
	if err != nil {
		return nil, err
	}
	p, err := influence.NewProblem(env.Backend, net, train, cfg.Lambda, model.DefaultAlpha, env.Progress)
	if err != nil {
		return nil, err
	}
	kVal, _, err := p.TestKernel(env.Backend, splits.Val, nil)
	if err != nil {
		return nil, err
	}
	d, err := p.Exact.LeaveOneOut(kVal)
	if err != nil {
		return nil, err
	}
	fsi, err := influence.FSI(influence.Scores{D: d, Classes: p.C})
	if err != nil {
		return nil, err
	}
	rank := influence.RankByFSI(fsi)
	kt, err := p.Kernel.CrossKernel(env.Backend, test, nil)
	if err != nil {
		return nil, err
	}
	f0, err := net.Logits(env.Backend, test)
	if err != nil {
		return nil, err
	}
	res := &fig6Result{Task: cfg.Task, TrainSize: n, ValSize: splits.Val.Len(), TestSize: test.Len(), Lambda: cfg.Lambda, FSI: fsi}
	testError := func(keep []int) (float64, error) {
		out, err := fig6Outputs(p, kt, f0, keep)
		if err != nil {
			return 0, err
		}
		return model.ErrorRate(out, test.Labels), nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x66696736))
	res.KeptPerClass = map[string][]int{}
	largest := cfg.Drops[len(cfg.Drops)-1]
	ranked := []struct {
		strategy       string
		most, balanced bool
	}{{fig6Most, true, false}, {fig6Least, false, false}, {fig6MostBalanced, true, true}, {fig6LeastBalanced, false, true}}
	for _, k := range cfg.Drops {
		errs := map[string]float64{}
		for _, r := range ranked {
			keep, err := influence.DropByFSI(fsi, train.Labels, train.NumClasses, k, r.most, r.balanced)
			if err != nil {
				return nil, err
			}
			if errs[r.strategy], err = testError(keep); err != nil {
				return nil, err
			}
			res.Points = append(res.Points, fig6Point{k, r.strategy, errs[r.strategy], 1})
			if k == largest {
				res.KeptPerClass[r.strategy] = influence.KeptPerClass(keep, train.Labels, train.NumClasses)
			}
		}
		draws := cfg.RandomDraws
		if k == 0 {
			draws = 1
		}
		random := 0.0
		for range draws {
			e, err := testError(rng.Perm(n)[k:])
			if err != nil {
				return nil, err
			}
			random += e / float64(draws)
		}
		env.Logf("fig6 seed %d: drop %d: most informative %.4f, least %.4f, random %.4f; per class: most %.4f, least %.4f",
			seed, k, errs[fig6Most], errs[fig6Least], random, errs[fig6MostBalanced], errs[fig6LeastBalanced])
		res.Points = append(res.Points, fig6Point{k, fig6Random, random, draws})
	}
	// Check the kernel-form outputs against retraining through the network
	// at the largest drop of the most informative samples.
	keep := rank[cfg.Drops[len(cfg.Drops)-1]:]
	if res.CheckRelDiff, err = fig6Check(env.Backend, p, kt, f0, keep, test); err != nil {
		return nil, err
	}
	if res.CheckRelDiff > 1e-3 {
		return nil, fmt.Errorf("fig6: kernel-form test outputs differ from Problem.Retrain + Outputs by %.3g (relative)", res.CheckRelDiff)
	}
	sample := func(i int) fig6Sample {
		return fig6Sample{Index: i, Class: train.ClassNames[train.Labels[i]], FSI: fsi[i], Pixels: append([]float32(nil), train.Image(i)...)}
	}
	g := min(cfg.GridImages, n/2)
	for j := range g {
		res.Most = append(res.Most, sample(rank[j]))
		res.Least = append(res.Least, sample(rank[n-1-j]))
	}
	return res, nil
}

// fig6Outputs returns the outputs [T, C] of LQF's closed form retrained on
// the training samples keep, in kernel form: f0 + Kt[:, keep] a with
// a = (K[keep, keep] + rho I)^-1 R[keep], rho = p.Ridge() (fixed, as in
// Problem.Retrain).
func fig6Outputs(p *influence.Problem, kt *mat.Dense, f0 []float32, keep []int) ([]float32, error) {
	if len(keep) == 0 {
		return nil, errors.New("fig6: no training samples kept")
	}
	c := p.C
	rows := make([]int, 0, len(keep)*c)
	for _, i := range keep {
		for a := range c {
			rows = append(rows, i*c+a)
		}
	}
	sub := mat.NewSymDense(len(rows), nil)
	r := mat.NewVecDense(len(rows), nil)
	for a, ra := range rows {
		for b := a; b < len(rows); b++ {
			sub.SetSym(a, b, p.K.At(ra, rows[b]))
		}
		r.SetVec(a, p.R[ra])
	}
	chol, err := linalg.ShiftedCholesky(sub, p.Ridge())
	if err != nil {
		return nil, err
	}
	var coef mat.VecDense
	if err := chol.SolveVecTo(&coef, r); err != nil {
		return nil, err
	}
	t, _ := kt.Dims()
	if len(f0) != t {
		return nil, fmt.Errorf("fig6: %d base outputs for %d kernel rows", len(f0), t)
	}
	out := make([]float32, t)
	for m := range t {
		row := kt.RawRowView(m)
		s := 0.0
		for a, ra := range rows {
			s += row[ra] * coef.AtVec(a)
		}
		out[m] = f0[m] + float32(s)
	}
	return out, nil
}

// fig6Check compares fig6Outputs on the first test images with
// Problem.Retrain(keep) and Problem.Outputs, and returns the largest
// difference relative to the largest output.
func fig6Check(be backends.Backend, p *influence.Problem, kt *mat.Dense, f0 []float32, keep []int, test *data.Set) (float64, error) {
	m := min(fig6CheckImages, test.Len())
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	c := p.C
	kernel, err := fig6Outputs(p, kt.Slice(0, m*c, 0, p.Train.Len()*c).(*mat.Dense), f0[:m*c], keep)
	if err != nil {
		return 0, err
	}
	dw, err := p.Retrain(keep)
	if err != nil {
		return 0, err
	}
	net, err := p.Outputs(be, dw, test.Subset(idx))
	if err != nil {
		return 0, err
	}
	var diff, scale float64
	for i := range kernel {
		diff = math.Max(diff, math.Abs(float64(kernel[i])-float64(net[i])))
		scale = math.Max(scale, math.Abs(float64(net[i])))
	}
	if scale == 0 {
		return 0, errors.New("fig6: all checked outputs are zero")
	}
	return diff / scale, nil
}

func summarizeFig6(env *Env, raw []json.RawMessage) (*Summary, error) {
	results, err := Decode[fig6Result](raw)
	if err != nil {
		return nil, err
	}
	if len(results) == 0 || len(results[0].Points) == 0 {
		return nil, errors.New("no seed results")
	}
	r0 := results[0]
	var drops []int
	for _, p := range r0.Points {
		if p.Strategy == fig6Most {
			drops = append(drops, p.Dropped)
		}
	}
	errs := map[string][]float64{}
	key := func(k int, strategy string) string { return fmt.Sprintf("%d/%s", k, strategy) }
	for _, r := range results {
		for _, p := range r.Points {
			errs[key(p.Dropped, p.Strategy)] = append(errs[key(p.Dropped, p.Strategy)], p.TestError)
		}
	}
	strategies := []string{fig6Most, fig6Least, fig6Random}
	names := map[string]string{fig6Most: "drop most informative", fig6Least: "drop least informative", fig6Random: "drop random",
		fig6MostBalanced: "most, per class", fig6LeastBalanced: "least, per class"}
	// Results from before the per-class strategies lack them.
	balanced := len(errs[key(drops[0], fig6MostBalanced)]) > 0
	if balanced {
		strategies = append(strategies, fig6MostBalanced, fig6LeastBalanced)
	}
	header := []string{"dropped"}
	for _, st := range strategies {
		header = append(header, names[st])
	}
	header = append(header, "most - least")
	if balanced {
		header = append(header, "most - least, per class")
	}
	s := &Summary{Header: header, Values: map[string]float64{}}
	series := make([]figure.Series, len(strategies))
	for i, st := range strategies {
		series[i].Name = names[st]
		series[i].Dashed = st == fig6Random || st == fig6MostBalanced || st == fig6LeastBalanced
	}
	var gap, gapBalanced float64
	var gaps int
	for _, k := range drops {
		row := []string{fmt.Sprint(k)}
		means := map[string]float64{}
		for i, st := range strategies {
			v := errs[key(k, st)]
			if len(v) != len(results) {
				return nil, fmt.Errorf("%d of %d seeds have a test error for %s at %d dropped", len(v), len(results), st, k)
			}
			m, sd := MeanStd(v)
			means[st] = m
			row = append(row, PlusMinus(v, "%.4f"))
			series[i].X = append(series[i].X, float64(k))
			series[i].Y = append(series[i].Y, m)
			series[i].Err = append(series[i].Err, sd)
		}
		row = append(row, fmt.Sprintf("%+.4f", means[fig6Most]-means[fig6Least]))
		if balanced {
			row = append(row, fmt.Sprintf("%+.4f", means[fig6MostBalanced]-means[fig6LeastBalanced]))
		}
		s.Rows = append(s.Rows, row)
		if k > 0 {
			gap += means[fig6Most] - means[fig6Least]
			gapBalanced += means[fig6MostBalanced] - means[fig6LeastBalanced]
			gaps++
		}
	}
	last := drops[len(drops)-1]
	for _, st := range append([]string{"base"}, strategies...) {
		v := errs[key(0, fig6Most)]
		if st != "base" {
			v = errs[key(last, st)]
		}
		m, _ := MeanStd(v)
		s.Values["test_error_"+strings.ReplaceAll(st, ", per class", "_per_class")] = m
	}
	if gaps > 0 {
		gap /= float64(gaps)
		gapBalanced /= float64(gaps)
	}
	s.Values["mean_most_minus_least"] = gap
	if balanced {
		s.Values["mean_most_minus_least_per_class"] = gapBalanced
	}
	s.Values["max_dropped"] = float64(last)
	// The fewest images any class keeps after the largest global drop of
	// the least informative samples, over seeds.
	fewest := -1
	for _, r := range results {
		for _, c := range r.KeptPerClass[fig6Least] {
			if fewest < 0 || c < fewest {
				fewest = c
			}
		}
	}
	if fewest >= 0 {
		s.Values["least_fewest_kept_in_a_class"] = float64(fewest)
	}

	p, err := figure.Lines(series, figure.LineOptions{
		Title:  fmt.Sprintf("%s, %d training images: LQF test error after dropping samples (%s)", r0.Task, r0.TrainSize, overSeeds(len(results))),
		XLabel: "training images dropped", YLabel: "test error (fraction)"})
	if err != nil {
		return nil, err
	}
	curve := "fig6.png"
	if err := figure.SavePlot(p, 700, 340, env.Path(curve)); err != nil {
		return nil, err
	}
	s.Figures = append(s.Figures, env.Path(curve))

	// The most and least informative images of the first seed.
	tiles := func(samples []fig6Sample, frame color.Color) []figure.Tile {
		var out []figure.Tile
		for _, x := range samples {
			out = append(out, figure.Tile{Pixels: x.Pixels, Height: data.Height, Width: data.Width, Channels: data.Channels,
				Caption: fmt.Sprintf("%s\nF-SI %.3g", x.Class, x.FSI), Frame: frame})
		}
		return out
	}
	if len(r0.Most) > 0 && len(r0.Least) > 0 {
		g, err := figure.ImageGrid([]figure.Row{
			{Title: "most informative training images (F-SI, seed 1)", Tiles: tiles(r0.Most, color.RGBA{R: 200, A: 255})},
			{Title: "least informative training images", Tiles: tiles(r0.Least, color.RGBA{B: 200, A: 255})},
		}, figure.GridOptions{Title: fmt.Sprintf("%s: F-SI informativeness (eq. 9), %d training images", r0.Task, r0.TrainSize)})
		if err != nil {
			return nil, err
		}
		grid := "fig6-images.png"
		if err := figure.WritePNG(env.Path(grid), g.Image()); err != nil {
			return nil, err
		}
		s.Figures = append(s.Figures, env.Path(grid))
	}

	verdict := "faster than"
	if s.Values["test_error_most"] <= s.Values["test_error_least"] {
		verdict = "no faster than"
	}
	s.Finding = fmt.Sprintf("From a test error of %.4f with all %d training images, dropping the %d most informative by F-SI gives %.4f, the %d least informative %.4f and %d random ones %.4f (most - least %+.4f on average over the drop sizes): removing informative samples degrades LQF %s removing uninformative ones (paper: faster).",
		s.Values["test_error_base"], r0.TrainSize, last, s.Values["test_error_most"], last, s.Values["test_error_least"], last, s.Values["test_error_random"], gap, verdict)
	if fewest >= 0 {
		s.Finding += fmt.Sprintf(" The least informative samples gather in few classes: after dropping %d of them a class keeps as few as %s.", last, plural(fewest, "image"))
	}
	if balanced {
		s.Finding += fmt.Sprintf(" Dropping per class (every class loses the same number of its own most or least informative samples), most - least is %+.4f on average (%.4f vs %.4f at %d dropped).",
			gapBalanced, s.Values["test_error_most_per_class"], s.Values["test_error_least_per_class"], last)
	}
	return s, nil
}

package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
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

// fig6JudgedShare is the largest share of the training set whose removal
// the verdict reads: the paper's Fig. 6 summarizes a data set by removing
// part of it, and beyond about 60% whole classes empty out under any
// ranking, which measures class balance rather than informativeness.
const fig6JudgedShare = 0.6

// judgeFig6 tests that the most informative samples matter more: on the
// greedy protocol (fig6Greedy, the main one) at drops up to
// fig6JudgedShare of the training set; summaries from before it have only
// the one-shot ranking over every drop.
func judgeFig6(v Measured) Verdict {
	if v.Has("mean_most_minus_least_greedy") {
		d := v.Get("mean_most_minus_least_greedy")
		return verdictOf(part(d > 0, "greedy F-SI removal (5%% per round, F-SI recomputed): dropping the most informative samples raises the test error more than dropping the least informative, at drops up to %.0f%% (most - least %+.4f)", 100*fig6JudgedShare, d))
	}
	d := v.Get("mean_most_minus_least")
	return verdictOf(part(d > 0, "dropping the most informative samples raises the test error more than dropping the least informative (one-shot ranking, older summary; most - least %+.4f)", d))
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
	// Greedy: 5% of the remaining samples per round, F-SI recomputed on
	// the rest (fig6Greedy); the main protocol, the ones above the
	// one-shot variants.
	fig6GreedyMost  = "greedy most"
	fig6GreedyLeast = "greedy least"
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
	// The greedy protocol (the authors' summarization).
	for _, g := range []struct {
		strategy string
		most     bool
	}{{fig6GreedyMost, true}, {fig6GreedyLeast, false}} {
		keeps, err := fig6Greedy(p.Exact, kVal, cfg.Drops, g.most)
		if err != nil {
			return nil, err
		}
		for j, k := range cfg.Drops {
			e, err := testError(keeps[j])
			if err != nil {
				return nil, err
			}
			res.Points = append(res.Points, fig6Point{k, g.strategy, e, 1})
			if k == largest {
				res.KeptPerClass[g.strategy] = influence.KeptPerClass(keeps[j], train.Labels, train.NumClasses)
			}
			env.Logf("fig6 seed %d: drop %d: %s %.4f", seed, k, g.strategy, e)
		}
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
	// Results from before the greedy protocol lack it.
	greedy := len(errs[key(drops[0], fig6GreedyMost)]) > 0
	if greedy {
		strategies = append([]string{fig6GreedyMost, fig6GreedyLeast}, strategies...)
		names[fig6GreedyMost], names[fig6GreedyLeast] = "greedy: drop most informative", "greedy: drop least informative"
		names[fig6Most], names[fig6Least] = "one-shot: drop most informative", "one-shot: drop least informative"
	}
	header := []string{"dropped"}
	for _, st := range strategies {
		header = append(header, names[st])
	}
	if greedy {
		header = append(header, "greedy most - least")
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
	// Means of most - least at drops up to fig6JudgedShare of the
	// training set (the verdict's range), greedy and one-shot.
	var gapGreedy60, gapOneShot60 float64
	var gaps60 int
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
		if greedy {
			row = append(row, fmt.Sprintf("%+.4f", means[fig6GreedyMost]-means[fig6GreedyLeast]))
			if k > 0 && float64(k) <= fig6JudgedShare*float64(r0.TrainSize) {
				gapGreedy60 += means[fig6GreedyMost] - means[fig6GreedyLeast]
				gapOneShot60 += means[fig6Most] - means[fig6Least]
				gaps60++
			}
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
		s.Values["test_error_"+strings.ReplaceAll(strings.ReplaceAll(st, ", per class", "_per_class"), " ", "_")] = m
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
	if greedy && gaps60 > 0 {
		s.Values["mean_most_minus_least_greedy"] = gapGreedy60 / float64(gaps60)
		s.Values["mean_most_minus_least_one_shot_judged"] = gapOneShot60 / float64(gaps60)
	}
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
	if greedy && gaps60 > 0 {
		s.Finding = fmt.Sprintf("Greedy summarization (the main protocol: %.0f%% of the remaining samples removed per round, F-SI recomputed on the rest): at drops up to %.0f%% of the %d training images, dropping the most informative minus dropping the least informative averages %+.4f in test error (the one-shot ranking over the same drops %+.4f); at %d dropped, greedy most %.4f, greedy least %.4f. One-shot ranking (a variant): ",
			100*fig6GreedyFraction, 100*fig6JudgedShare, r0.TrainSize, s.Values["mean_most_minus_least_greedy"], s.Values["mean_most_minus_least_one_shot_judged"],
			last, s.Values["test_error_greedy_most"], s.Values["test_error_greedy_least"]) + s.Finding
	}
	if fewest >= 0 {
		s.Finding += fmt.Sprintf(" The least informative samples gather in few classes: after dropping %d of them a class keeps as few as %s.", last, plural(fewest, "image"))
	}
	if balanced {
		s.Finding += fmt.Sprintf(" Dropping per class (every class loses the same number of its own most or least informative samples), most - least is %+.4f on average (%.4f vs %.4f at %d dropped).",
			gapBalanced, s.Values["test_error_most_per_class"], s.Values["test_error_least_per_class"], last)
	}
	return s, nil
}

// fig6GreedyFraction is the share of the remaining training samples each
// round of greedy summarization removes: the authors' summarization code
// removes 5% of the samples, recomputes F-SI on the rest and repeats.
const fig6GreedyFraction = 0.05

// fig6Greedy is the greedy F-SI summarization (paper Fig. 6, as the
// authors' code does it): each round removes r = max(1, round(5% of the N'
// samples left)) samples, those of lowest F-SI (most = false) or highest
// (most = true), capped so that no drop of drops is overshot, and then
// recomputes F-SI (eq. 9, E_val ||f_w(x) - f_w-i(x)||^2) of the samples
// left by exact leave-one-out of the downdated problem: ex.Remove is the
// blockwise (Woodbury) downdate of (K + rho I)^-1, O(n^2 r C) per round
// with no refactorization, and kVal [M, N*C] (the validation outputs'
// kernel with every training output) is restricted to the columns of the
// samples left. Unlike one-shot ranking, a sample that was uninformative
// only because of near-duplicates becomes informative once they are gone.
// It returns, for each k of drops (increasing, from 0), the ids of the
// samples kept after k removals, in increasing order.
func fig6Greedy(ex *influence.Exact, kVal *mat.Dense, drops []int, most bool) ([][]int, error) {
	c := ex.Classes
	cur := ex
	out := make([][]int, 0, len(drops))
	dropped := 0
	for j, k := range drops {
		if k < dropped || (j > 0 && k <= drops[j-1]) || k >= ex.N {
			return nil, fmt.Errorf("fig6: drops %v must increase from 0 and stay below %d", drops, ex.N)
		}
		for dropped < k {
			ids := cur.Indices()
			d, err := cur.LeaveOneOut(fig6Columns(kVal, ids, c))
			if err != nil {
				return nil, err
			}
			fsi, err := influence.FSI(influence.Scores{D: d, Classes: c})
			if err != nil {
				return nil, err
			}
			order := influence.RankByFSI(fsi) // positions, most informative first
			if !most {
				slices.Reverse(order)
			}
			r := max(1, int(math.Round(fig6GreedyFraction*float64(len(ids)))))
			r = min(r, k-dropped)
			if cur, err = cur.Remove(order[:r]); err != nil {
				return nil, err
			}
			dropped += r
		}
		keep := cur.Indices()
		sort.Ints(keep)
		out = append(out, keep)
	}
	return out, nil
}

// fig6Columns returns the columns of k [M, N*C] of the training samples
// ids (C columns each, in the order of ids).
func fig6Columns(k *mat.Dense, ids []int, c int) *mat.Dense {
	m, _ := k.Dims()
	out := mat.NewDense(m, len(ids)*c, nil)
	for t := range m {
		src, dst := k.RawRowView(t), out.RawRowView(t)
		for j, id := range ids {
			copy(dst[j*c:(j+1)*c], src[id*c:(id+1)*c])
		}
	}
	return out
}

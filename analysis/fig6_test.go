package analysis

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/influence"
	"github.com/lqf-go/lqf/model"
)

func TestSummarizeFig6(t *testing.T) {
	img := make([]float32, data.ImageSize)
	for i := range img {
		img[i] = float32(i%28) / 27
	}
	var raw []json.RawMessage
	// Seed 1: most 0.1, 0.3; least 0.1, 0.15; random 0.1, 0.2.
	// Seed 2: most 0.2, 0.5; least 0.2, 0.25; random 0.2, 0.3.
	for s, base := range []float64{0.1, 0.2} {
		r := fig6Result{Task: nearTask, TrainSize: 20, ValSize: 5, TestSize: 10, Lambda: 1e-4,
			Points: []fig6Point{{0, fig6Most, base, 1}, {0, fig6Least, base, 1}, {0, fig6Random, base, 1},
				{10, fig6Most, base + 0.2 + 0.1*float64(s), 1}, {10, fig6Least, base + 0.05, 1}, {10, fig6Random, base + 0.1, 3}},
			Most:  []fig6Sample{{Index: 3, Class: "Bag", FSI: 2.5, Pixels: img}},
			Least: []fig6Sample{{Index: 4, Class: "Shirt", FSI: 0.01, Pixels: img}}}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	s, err := summarizeFig6(&Env{Dir: t.TempDir()}, raw)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{"test_error_base": 0.15, "test_error_most": 0.4, "test_error_least": 0.2,
		"test_error_random": 0.25, "mean_most_minus_least": 0.2, "max_dropped": 10} {
		if got := s.Values[key]; math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %g, want %g", key, got, want)
		}
	}
	if len(s.Rows) != 2 || s.Rows[1][1] != "0.4000 ± 0.1414" || s.Rows[1][2] != "0.2000 ± 0.0707" || s.Rows[1][4] != "+0.2000" {
		t.Errorf("rows %q", s.Rows)
	}
	if !strings.Contains(s.Finding, "degrades LQF faster than") {
		t.Errorf("finding %q", s.Finding)
	}
	if len(s.Figures) != 2 {
		t.Fatalf("figures %q", s.Figures)
	}
	for _, f := range s.Figures {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("figure %s: %v", f, err)
		}
	}

	// With the per-class strategies (seed s: most per class 0.25 + 0.1 s at
	// 10 dropped, least per class 0.1 + 0.1 s) and the classes kept.
	raw = raw[:0]
	for s, base := range []float64{0.1, 0.2} {
		r := fig6Result{Task: nearTask, TrainSize: 20,
			Points: []fig6Point{{0, fig6Most, base, 1}, {0, fig6Least, base, 1}, {0, fig6Random, base, 1},
				{0, fig6MostBalanced, base, 1}, {0, fig6LeastBalanced, base, 1},
				{10, fig6Most, base + 0.2, 1}, {10, fig6Least, base + 0.3, 1}, {10, fig6Random, base + 0.1, 3},
				{10, fig6MostBalanced, base + 0.15, 1}, {10, fig6LeastBalanced, base, 1}},
			KeptPerClass: map[string][]int{fig6Least: {8 - 3*s, 2}}}
		b, _ := json.Marshal(r)
		raw = append(raw, b)
	}
	if s, err = summarizeFig6(&Env{Dir: t.TempDir()}, raw); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{"mean_most_minus_least": -0.1, "mean_most_minus_least_per_class": 0.15,
		"test_error_most_per_class": 0.3, "test_error_least_per_class": 0.15, "least_fewest_kept_in_a_class": 2} {
		if got, ok := s.Values[key]; !ok || math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %g, want %g", key, got, want)
		}
	}
	if len(s.Header) != 8 || len(s.Rows[1]) != 8 || s.Rows[1][7] != "+0.1500" {
		t.Errorf("header %q, rows %q", s.Header, s.Rows)
	}
	if !strings.Contains(s.Finding, "as few as 2 images.") || !strings.Contains(s.Finding, "most - least is +0.1500") {
		t.Errorf("finding %q", s.Finding)
	}

	bad, _ := json.Marshal(fig6Result{Points: []fig6Point{{0, fig6Most, 0.1, 1}}})
	if _, err := summarizeFig6(&Env{Dir: t.TempDir()}, []json.RawMessage{bad}); err == nil {
		t.Error("a result without the least and random strategies was accepted")
	}
}

// TestFig6Outputs checks the kernel-form outputs of a retrained closed
// form against Problem.Retrain and the network's linearized pass, on a
// small network and real images.
func TestFig6Outputs(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.DefaultConfig(3)
	cfg.StemWidth, cfg.StageWidths, cfg.Activation = 3, []int{3, 4, 4}, model.LeakyReLU
	net, err := model.NewNetwork(be, cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	task, _ := data.TaskByName("mnist-5-9")
	sp, err := task.Load(data.SplitOptions{Seed: 2, MaxTrain: 10, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		t.Fatal(err)
	}
	if net, err = net.ReplaceHead(be, sp.Train.NumClasses, 2); err != nil {
		t.Fatal(err)
	}
	p, err := influence.NewProblem(be, net, sp.Train, 1e-1, model.DefaultAlpha, nil)
	if err != nil {
		t.Fatal(err)
	}
	kt, err := p.Kernel.CrossKernel(be, sp.Test, nil)
	if err != nil {
		t.Fatal(err)
	}
	f0, err := net.Logits(be, sp.Test)
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {9, 2, 5, 7}} {
		d, err := fig6Check(be, p, kt, f0, keep, sp.Test)
		if err != nil {
			t.Fatal(err)
		}
		if d > 1e-4 {
			t.Errorf("keep %v: kernel-form outputs differ from retraining by %.3g (relative)", keep, d)
		}
	}
	if _, err := fig6Outputs(p, kt, f0, nil); err == nil {
		t.Error("an empty training set was accepted")
	}
}

// TestFig6Greedy checks the greedy summarization, which downdates exact
// leave-one-out (influence.Exact.Remove), against a reference that
// refactors the closed form of the samples left from scratch every round
// (influence.NewExact on the sub-kernel): the same samples must be kept at
// every drop. It also checks that the first round removes the samples of
// lowest (highest) one-shot F-SI, and that greedy differs from one-shot
// ranking on this problem (else the test would not tell them apart).
func TestFig6Greedy(t *testing.T) {
	const n, c, m, p = 40, 3, 12, 25
	rng := rand.New(rand.NewPCG(7, 8))
	x := mat.NewDense(n*c, p, nil)
	xv := mat.NewDense(m, p, nil)
	for _, d := range []*mat.Dense{x, xv} {
		raw := d.RawMatrix().Data
		for i := range raw {
			raw[i] = rng.NormFloat64()
		}
	}
	// Near-duplicates: samples 2j+1 copy samples 2j for j < 6, so that
	// each is uninformative only because of the other.
	for j := range 6 {
		for a := range c {
			for k := range p {
				x.Set((2*j+1)*c+a, k, x.At(2*j*c+a, k)+1e-3*rng.NormFloat64())
			}
		}
	}
	var K mat.SymDense
	K.SymOuterK(1, x)
	var kv mat.Dense
	kv.Mul(xv, x.T())
	r := make([]float64, n*c)
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	const ridge = 0.5
	ex, err := influence.NewExact(&K, r, c, ridge)
	if err != nil {
		t.Fatal(err)
	}
	drops := []int{0, 1, 5, 12, 24}
	reference := func(most bool) [][]int {
		keep := make([]int, n)
		for i := range keep {
			keep[i] = i
		}
		var out [][]int
		dropped := 0
		for _, k := range drops {
			for dropped < k {
				rows := make([]int, 0, len(keep)*c)
				for _, i := range keep {
					for a := range c {
						rows = append(rows, i*c+a)
					}
				}
				sub := mat.NewSymDense(len(rows), nil)
				rs := make([]float64, len(rows))
				for a, ra := range rows {
					rs[a] = r[ra]
					for b, rb := range rows {
						sub.SetSym(a, b, K.At(ra, rb))
					}
				}
				e, err := influence.NewExact(sub, rs, c, ridge)
				if err != nil {
					t.Fatal(err)
				}
				d, err := e.LeaveOneOut(fig6Columns(&kv, keep, c))
				if err != nil {
					t.Fatal(err)
				}
				fsi, err := influence.FSI(influence.Scores{D: d, Classes: c})
				if err != nil {
					t.Fatal(err)
				}
				order := influence.RankByFSI(fsi)
				if !most {
					slices.Reverse(order)
				}
				step := min(max(1, int(math.Round(0.05*float64(len(keep))))), k-dropped)
				gone := map[int]bool{}
				for _, pos := range order[:step] {
					gone[keep[pos]] = true
				}
				keep = slices.DeleteFunc(keep, func(i int) bool { return gone[i] })
				dropped += step
			}
			out = append(out, slices.Clone(keep))
		}
		return out
	}
	d, err := ex.LeaveOneOut(&kv)
	if err != nil {
		t.Fatal(err)
	}
	fsi, err := influence.FSI(influence.Scores{D: d, Classes: c})
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for _, most := range []bool{true, false} {
		got, err := fig6Greedy(ex, &kv, drops, most)
		if err != nil {
			t.Fatal(err)
		}
		want := reference(most)
		for j, k := range drops {
			if len(got[j]) != n-k || !slices.Equal(got[j], want[j]) {
				t.Errorf("most %v, %d dropped: kept %v, reference %v", most, k, got[j], want[j])
			}
			oneShot, err := influence.DropByFSI(fsi, labelsOf(n, c), c, k, most, false)
			if err != nil {
				t.Fatal(err)
			}
			if k == 1 && !slices.Equal(got[j], oneShot) {
				t.Errorf("most %v: the first greedy removal %v is not one-shot F-SI's %v", most, got[j], oneShot)
			}
			if !slices.Equal(got[j], oneShot) {
				differs = true
			}
		}
	}
	if !differs {
		t.Error("greedy equals one-shot removal at every drop: the problem does not tell them apart")
	}
	if _, err := fig6Greedy(ex, &kv, []int{0, 5, 3}, true); err == nil {
		t.Error("decreasing drops accepted")
	}
}

// labelsOf gives n samples labels 0..c-1 in turn.
func labelsOf(n, c int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i % c)
	}
	return out
}

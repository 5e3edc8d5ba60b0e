package analysis

import (
	"encoding/json"
	"fmt"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

func init() {
	Register(Experiment{
		ID:        "fig7",
		Title:     "NLFT trained with MSE vs cross-entropy over the number of shots",
		Claim:     "MSE (alpha = 15) fine-tunes a non-linear network about as well as cross-entropy, so LQF's loss is not what holds it back (paper Fig. 7).",
		Run:       runFig7,
		Summarize: summarizeFig7,
		Judge:     judgeFig7,
		// RecordsRuns: Run records its runs' end states (validity.go).
		RecordsRuns: true,
	})
}

// judgeFig7 tests NLFT with MSE against cross-entropy.
func judgeFig7(v Measured) Verdict {
	d := v.Get("mean_mse_minus_ce")
	return verdictOf(part(d <= 0.02, "NLFT with MSE is at most 2 points worse than with cross-entropy (mean %+.4f)", d))
}

// fig7Point is one (shots, loss) cell of one seed.
type fig7Point struct {
	Shots     int     `json:"shots"`
	Loss      string  `json:"loss"`
	TestError float64 `json:"test_error"`
	LR        float64 `json:"learning_rate"`
}

type fig7Result struct {
	Task   string      `json:"task"`
	Points []fig7Point `json:"points"`
}

// fig7Settings returns the task, shots and training options of a mode.
func fig7Settings(quick bool) (task string, shots []int, epochs float64, maxTest int, grid func(model.Loss) []float64) {
	if quick {
		return nearTask, []int{2, 10}, 5, 200, func(model.Loss) []float64 { return []float64{0.01} }
	}
	return nearTask, []int{1, 2, 5, 10, 25, 50}, 10, 1000, func(l model.Loss) []float64 {
		lrs, _ := finetune.PaperGrid(finetune.NLFT, l)
		return lrs
	}
}

func runFig7(env *Env, seed uint64) (any, error) {
	taskName, shots, epochs, maxTest, grid := fig7Settings(env.Quick)
	base, err := pretrained.Load(env.Backend, model.ReLU)
	if err != nil {
		return nil, err
	}
	res := fig7Result{Task: taskName}
	for _, k := range shots {
		_, splits, err := loadTask(taskName, data.SplitOptions{Seed: seed, Shots: k, ValPerClass: 10, MaxTest: maxTest})
		if err != nil {
			return nil, err
		}
		for _, loss := range []model.Loss{model.CrossEntropy, model.MSE} {
			o := finetune.DefaultOptions(finetune.NLFT)
			o.Loss, o.Epochs, o.Seed = loss, epochs, seed
			o.LearningRates, o.Lambdas = grid(loss), []float64{1e-4}
			r, _, err := finetune.Run(env.Backend, base, splits, o)
			if err != nil {
				return nil, fmt.Errorf("%d shots, %s: %w", k, loss, err)
			}
			env.Logf("fig7 seed %d: %d shots, %s: test error %.4f", seed, k, loss, r.TestError)
			env.noteRun(seed, fmt.Sprintf("%d-shot/NLFT-%s", k, loss), r, true)
			res.Points = append(res.Points, fig7Point{k, string(loss), r.TestError, r.LearningRate})
		}
	}
	return res, nil
}

func summarizeFig7(env *Env, raw []json.RawMessage) (*Summary, error) {
	results, err := Decode[fig7Result](raw)
	if err != nil {
		return nil, err
	}
	byKey := map[string][]float64{}
	var shots []int
	for _, p := range results[0].Points {
		if p.Loss == string(model.CrossEntropy) {
			shots = append(shots, p.Shots)
		}
	}
	for _, r := range results {
		for _, p := range r.Points {
			key := fmt.Sprintf("%d/%s", p.Shots, p.Loss)
			byKey[key] = append(byKey[key], p.TestError)
		}
	}
	s := &Summary{Header: []string{"shots", "NLFT cross-entropy", "NLFT MSE", "MSE - CE"}, Values: map[string]float64{}}
	series := []figure.Series{{Name: "NLFT, cross-entropy"}, {Name: "NLFT, MSE (alpha = 15)"}}
	var gap float64
	for _, k := range shots {
		ce, mse := byKey[fmt.Sprintf("%d/%s", k, model.CrossEntropy)], byKey[fmt.Sprintf("%d/%s", k, model.MSE)]
		mc, sc := MeanStd(ce)
		mm, sm := MeanStd(mse)
		s.Rows = append(s.Rows, []string{fmt.Sprint(k), PlusMinus(ce, "%.4f"), PlusMinus(mse, "%.4f"), fmt.Sprintf("%+.4f", mm-mc)})
		for i, v := range [][2]float64{{mc, sc}, {mm, sm}} {
			series[i].X = append(series[i].X, float64(k))
			series[i].Y = append(series[i].Y, v[0])
			series[i].Err = append(series[i].Err, v[1])
		}
		gap += (mm - mc) / float64(len(shots))
	}
	s.Values["mean_mse_minus_ce"] = gap
	p, err := figure.Lines(series, figure.LineOptions{Title: fmt.Sprintf("%s: NLFT test error, MSE vs CE (%s)", results[0].Task, overSeeds(len(results))),
		XLabel: "training images per class (log scale)", YLabel: "test error (fraction)", LogX: true})
	if err != nil {
		return nil, err
	}
	p.X.Tick.Marker = figure.IntTicks(shots)
	name := "fig7.png"
	if err := figure.SavePlot(p, 520, 300, env.Path(name)); err != nil {
		return nil, err
	}
	s.Figures = []string{env.Path(name)}
	s.Finding = fmt.Sprintf("averaged over shots, NLFT's test error with MSE minus its error with cross-entropy is %+.3f (paper: about equal)", gap)
	return s, nil
}

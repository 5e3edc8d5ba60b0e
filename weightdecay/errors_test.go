package weightdecay

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/kfac"
)

// Bad inputs give errors that say what is wrong, never panics.
func TestBadInputs(t *testing.T) {
	d := loadNTK(t)
	p, v := newValidation(t, d)
	rows := d.n * d.c
	nanK := mat.NewSymDense(2, []float64{1, math.NaN(), math.NaN(), 1})
	f, err := kfac.Compute(d.be, d.net, d.train, kfac.Options{BatchSize: 6})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := f.Invert(1e-2)
	if err != nil {
		t.Fatal(err)
	}
	dw, err := p.Weights(d.J, d.p, 1e-2)
	if err != nil {
		t.Fatal(err)
	}
	errOf := func(_ any, err error) error { return err }
	errOf3 := func(_, _ any, err error) error { return err }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"nil kernel", errOf(NewPath(nil, d.r, d.n)), "nil kernel"},
		{"short residuals", errOf(NewPath(d.K, d.r[1:], d.n)), "residuals"},
		{"n not dividing", errOf(NewPath(d.K, d.r, 7)), "multiple"},
		{"n zero", errOf(NewPath(d.K, d.r, 0)), "multiple"},
		{"NaN kernel", errOf(NewPath(nanK, []float64{1, 2}, 1)), "NaN"},
		{"NaN residual", errOf(NewPath(d.K, append([]float64{math.NaN()}, d.r[1:]...), d.n)), "NaN"},
		{"lambda zero", errOf(p.Coefficients(0)), "lambda 0"},
		{"lambda negative", errOf(p.Coefficients(-1)), "positive"},
		{"lambda NaN", errOf(p.GCV(math.NaN())), "positive"},
		{"lambda infinite", errOf(p.LOO(math.Inf(1))), "finite"},
		{"lambda below round-off", errOf(p.LOOResiduals(1e-17)), "not positive definite"},
		{"weights shape", errOf(p.Weights(d.J[1:], d.p, 1)), "Jacobian"},
		{"cross kernel nil", errOf(p.On(nil)), "nil cross kernel"},
		{"cross kernel columns", errOf(p.On(mat.NewDense(2, rows+1, nil))), "cross kernel"},
		{"validation residuals", errOf(p.Validation(d.Kv, d.rv[1:], d.m)), "validation residuals"},
		{"validation samples", errOf(p.Validation(d.Kv, d.rv, d.m+1)), "validation residuals"},
		{"validation loss lambda", errOf(v.Loss(-1)), "positive"},
		{"hypergradient lambda", errOf(v.Hypergradient(0)), "positive"},
		{"empty grid", errOf3(p.ChooseLOO(nil)), "empty grid"},
		{"grid with a bad lambda", errOf3(v.Choose([]float64{1, -1})), "positive"},
		{"log grid", errOf(LogGrid(1, 0.1, 5)), "log grid"},
		{"log grid count", errOf(LogGrid(0.1, 1, 1)), "log grid"},
		{"search start", errOf3(v.Search(0, 10)), "search start"},
		{"search steps", errOf3(v.Search(1, 1)), "steps"},
		{"warm start tol", errOf(WarmStart(d.K, d.r, d.n, 1, 2, 0)), "tolerance"},
		{"warm start lambda", errOf(WarmStart(d.K, d.r, d.n, 0, 2, 1e-6)), "lambda0"},
		{"warm start residuals", errOf(WarmStart(d.K, d.r[2:], d.n, 1, 2, 1e-6)), "residuals"},
		{"warm start nil", errOf(WarmStart(nil, d.r, d.n, 1, 2, 1e-6)), "nil kernel"},
		{"warm start zero residuals", errOf(WarmStart(d.K, make([]float64, rows), d.n, 1, 2, 1e-6)), "zero"},
		{"kfac nil", errOf(HypergradientKFAC(nil, inv, dw, d.Jv, d.rv, d.m)), "network"},
		{"kfac jacobian", errOf(HypergradientKFAC(d.net, inv, dw, d.Jv[1:], d.rv, d.m)), "Jacobian"},
		{"kfac samples", errOf(HypergradientKFAC(d.net, inv, dw, d.Jv, d.rv, 3)), "validation residuals"},
		{"kfac dw", errOf(HypergradientKFAC(d.net, inv, dw[:10], d.Jv[:10*len(d.rv)], d.rv, d.m)), "parameters"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, c.err, c.want)
		}
	}
}

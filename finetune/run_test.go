package finetune

import (
	"math"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/lqf-go/lqf/backend/backendtest"
	"github.com/lqf-go/lqf/internal/lqftest"
	"github.com/lqf-go/lqf/model"
)

// TestExactLQFIsStationary solves LQF in kernel form (per-sample Jacobian
// rows, float64 Gram and Cholesky) and LQF-FC in primal form, and checks
// with GoMLX's automatic differentiation of the linearized network that the
// gradient of the LQF objective (paper eq. 3) vanishes there, relative to
// its size at dw = 0.
func TestExactLQFIsStationary(t *testing.T) {
	be := backendtest.Shared(t)
	net, splits, err := lqftest.Setup(be, 15, 10, 100)
	if err != nil {
		t.Fatal(err)
	}
	classes := splits.Train.NumClasses
	const lambda = 1e-3
	for _, m := range []Method{LQF, LQFFC} {
		o := DefaultOptions(m)
		o.Solver, o.Lambdas = SolverExact, []float64{lambda}
		_, pred, err := Run(be, net, splits, o)
		if err != nil {
			t.Fatal(err)
		}
		lin := pred.(model.LinearizedNetwork)
		trained := func(v *context.Variable) bool {
			return m == LQF || strings.HasPrefix(v.Scope(), "/"+model.ScopeTangent+"/"+model.ScopeHead)
		}
		gradNorm := func() float64 {
			onehot := make([]float32, splits.Train.Len()*classes)
			for i, l := range splits.Train.Labels {
				onehot[i*classes+int(l)] = 1
			}
			out := context.MustNewExec(be, lin.Ctx, func(ctx *context.Context, x, y *Node) *Node {
				loss := model.LossGraph(model.MSE, lin.Arch.LinearizedLogits(ctx, x), y, model.DefaultAlpha)
				var values []*Node
				for _, v := range model.TangentVariables(ctx) {
					if trained(v) {
						values = append(values, v.ValueGraph(x.Graph()))
						loss = Add(loss, MulScalar(ReduceAllSum(Square(values[len(values)-1])), lambda/2))
					}
				}
				var sq *Node
				for _, g := range Gradient(loss, values...) {
					s := ReduceAllSum(Square(g))
					if sq == nil {
						sq = s
					} else {
						sq = Add(sq, s)
					}
				}
				return Sqrt(sq)
			}).MustExec(model.ImageBatch(splits.Train, 0, splits.Train.Len()),
				tensors.FromFlatDataAndDimensions(onehot, splits.Train.Len(), classes))[0]
			return float64(tensors.ToScalar[float32](out))
		}
		atOpt := gradNorm()
		if err := lin.SetTangent(make([]float64, lin.NumParameters())); err != nil {
			t.Fatal(err)
		}
		atZero := gradNorm()
		t.Logf("%s: gradient norm %.3g at the exact solution, %.3g at dw = 0", m, atOpt, atZero)
		if !(atOpt < 1e-3*atZero) {
			t.Errorf("%s: gradient norm %.3g at the exact solution vs %.3g at dw = 0: not the optimum", m, atOpt, atZero)
		}
	}
}

// TestExactLQFSharedKernel: the closed form with a kernel set-up passed in
// (Options.Kernel, as lqf finetune shares it with attribution) selects the
// same lambda and predicts exactly as when it computes its own; a kernel of
// another training set is refused.
func TestExactLQFSharedKernel(t *testing.T) {
	be := backendtest.Shared(t)
	net, splits, err := lqftest.Setup(be, 12, 4, 20)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions(LQF)
	o.Solver, o.Seed = SolverExact, 3
	own, p1, err := Run(be, net, splits, o)
	if err != nil {
		t.Fatal(err)
	}
	head, err := net.ReplaceHead(be, splits.Train.NumClasses, o.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if o.Kernel, err = model.NewKernel(be, head, splits.Train, o.Alpha, nil); err != nil {
		t.Fatal(err)
	}
	shared, p2, err := Run(be, net, splits, o)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := p1.Predict(be, splits.Test)
	b, _ := p2.Predict(be, splits.Test)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("output %d: %g with its own kernel, %g with the shared one", i, a[i], b[i])
		}
	}
	if own.Lambda != shared.Lambda || own.TestError != shared.TestError {
		t.Errorf("own %+v, shared %+v", own, shared)
	}
	for i := range a {
		if shared.TestOutputs[i] != a[i] {
			t.Fatalf("Result.TestOutputs[%d] = %g, the model predicts %g", i, shared.TestOutputs[i], a[i])
		}
	}
	if !(o.Kernel.Seconds > 0) || shared.Seconds < o.Kernel.Seconds {
		t.Errorf("Seconds %g with a shared kernel set-up of %g s: the set-up is not charged to LQF", shared.Seconds, o.Kernel.Seconds)
	}
	other := *splits
	other.Train = splits.Train.Subset([]int{0, 1, 2, 3, 4, 5})
	if _, _, err := Run(be, net, &other, o); err == nil || !strings.Contains(err.Error(), "Options.Kernel") {
		t.Errorf("kernel of another training set: %v", err)
	}
}

// TestObjectiveGap: the objective Run reports from the model's outputs
// and dw (float32 outputs, float64 sums) equals the closed form's own
// objective (linalg, float64 from the Jacobian rows) at the closed form,
// and an SGD run of LQF-FC with ClosedFormGap stops above that minimum:
// 0 <= gap, with a gap that shrinks with more epochs.
func TestObjectiveGap(t *testing.T) {
	be := backendtest.Shared(t)
	net, splits, err := lqftest.Setup(be, 15, 10, 100)
	if err != nil {
		t.Fatal(err)
	}
	const lambda = 1e-3
	for _, m := range []Method{LQF, LQFFC} {
		o := DefaultOptions(m)
		o.Solver, o.Lambdas = SolverExact, []float64{lambda}
		r, _, err := Run(be, net, splits, o)
		if err != nil {
			t.Fatal(err)
		}
		if g := r.ObjectiveGap(); math.Abs(g) > 1e-4 || r.Objective <= 0 {
			t.Errorf("%s closed form: objective %g from outputs vs %g from the solver (gap %g)", m, r.Objective, r.ClosedFormObjective, g)
		}
	}
	gap := func(epochs float64) float64 {
		o := DefaultOptions(LQFFC)
		o.LearningRates, o.Lambdas, o.Epochs, o.ClosedFormGap = []float64{0.01}, []float64{lambda}, epochs, true
		r, _, err := Run(be, net, splits, o)
		if err != nil {
			t.Fatal(err)
		}
		g := r.ObjectiveGap()
		if math.IsNaN(g) || g < -1e-4 {
			t.Fatalf("LQF-FC SGD, %g epochs: objective %g below the minimum %g", epochs, r.Objective, r.ClosedFormObjective)
		}
		return g
	}
	short, long := gap(1), gap(20)
	if !(long < short) {
		t.Errorf("LQF-FC SGD: gap %g after 20 epochs, %g after 1: want it to shrink", long, short)
	}
	if r := (&Result{Objective: math.Inf(1), ClosedFormObjective: 2}); !math.IsInf(r.ObjectiveGap(), 1) {
		t.Error("a non-finite objective: gap not +Inf")
	}
	if r := (&Result{Objective: 3}); !math.IsNaN(r.ObjectiveGap()) {
		t.Error("no closed form: gap not NaN")
	}
}

package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

// This file holds the fine-tuning that several experiments share: the
// configurations of figs. 4-5 and tables 2-3 (ftSpec), their options in
// quick and full mode (ftOptions), a cache of the embedded backbones
// (ftBackbones), cached runs that survive divergence (ftRunCell,
// finetuneEachPoint) and the K-FAC preconditioner computed once per
// training set (memoKFAC).

// ftSpec is one fine-tuning configuration: a method with its solver,
// preconditioner, optimizer and pooling.
type ftSpec struct {
	// Name labels the configuration in tables and legends.
	Name   string
	Method finetune.Method
	// Exact solves LQF or LQF-FC in closed form (finetune.SolverExact): the
	// optimum that SGD with K-FAC approaches, at no learning-rate search.
	Exact bool
	// KFAC preconditions the SGD of LQF or LQF-FC with K-FAC (the
	// settings of `lqf finetune`, recommendedCurvature) and takes
	// finetune.CurvatureGrid's learning rates.
	KFAC bool
	// Adam trains with Adam and the paper's Adam grid (finetune.AdamGrid).
	Adam bool
	// Pooling is model.AvgPooling (empty) or model.BilinearPooling.
	Pooling model.Pooling
}

// recommendedCurvature is lqf's K-FAC preconditioner (kfac.Recommended
// factors, kfac.RecommendedDamping), seeded.
func recommendedCurvature(seed uint64) model.CurvatureFunc {
	o := kfac.Recommended()
	o.Seed = seed
	return kfac.CurvatureFunc(o, kfac.RecommendedDamping)
}

// ftNLFTLearningRates is the learning-rate grid of NLFT with SGD here: the
// paper's {0.01, 0.001} with 0.05 in front, which the short runs of few
// training images need (with 20 steps on 50 images of fashion-5-9, eta =
// 0.05 halved the test error of eta = 0.01). Quick mode keeps the first.
var ftNLFTLearningRates = []float64{0.05, 0.01, 0.001}

// ftEpochs returns the number of epochs (at least epochs) that gives at
// least minSteps steps on n training images with batch size batch: the
// batcher drops partial batches, so an epoch of n < batch images is one
// step of n images. Low-shot training sets would otherwise get a handful
// of steps.
func ftEpochs(n, batch int, epochs float64, minSteps int) float64 {
	if n < 1 {
		return epochs
	}
	perEpoch := max(1, n/min(max(batch, 1), n))
	return math.Max(epochs, math.Ceil(float64(minSteps)/float64(perEpoch)))
}

// ftMinSteps is the fewest SGD steps per grid point.
func ftMinSteps(quick bool) int {
	if quick {
		return 20
	}
	return 100
}

// ftOptions returns the fine-tuning options of spec for a training set of
// n images. Quick mode keeps the first learning rate and weight decay of
// every iterative grid (the exact solvers and the linear probe, which are
// cheap, keep their grids).
func ftOptions(spec ftSpec, quick bool, n int, seed uint64) finetune.Options {
	o := finetune.DefaultOptions(spec.Method)
	o.Seed = seed
	switch {
	case spec.Exact:
		o.Solver = finetune.SolverExact
	case spec.Adam:
		o = o.WithAdam()
	case spec.KFAC:
		o = o.WithCurvature(recommendedCurvature(seed))
	case spec.Method == finetune.NLFT:
		o.LearningRates = slices.Clone(ftNLFTLearningRates)
	}
	o.Epochs = ftEpochs(n, o.BatchSize, o.Epochs, ftMinSteps(quick))
	// The gap to the closed form at the selected lambda, for the runs'
	// validity (validity.go): one kernel solve per run, cheap beside SGD on
	// the training sets of these experiments.
	o.ClosedFormGap = !spec.Exact && (spec.Method == finetune.LQF || spec.Method == finetune.LQFFC)
	if quick && !spec.Exact && spec.Method != finetune.FC {
		o.LearningRates, o.Lambdas = o.LearningRates[:1], o.Lambdas[:1]
	}
	return o
}

// ftBackbones loads each embedded backbone once per run, with the pooling
// it is asked for (model.Network.WithPooling, as `lqf finetune --pooling`
// does; Finetune then replaces the head).
type ftBackbones struct {
	be   backends.Backend
	nets map[string]*model.Network
	// jacobians shares the Jacobian features of the linear methods between
	// the runs on one task (the most recent training set and backbone).
	jacobians *finetune.JacobianCache
}

func newFTBackbones(be backends.Backend) *ftBackbones {
	return &ftBackbones{be: be, nets: map[string]*model.Network{}, jacobians: &finetune.JacobianCache{}}
}

// For returns the backbone of spec: Leaky-ReLU for LQF and LQF-FC, ReLU
// for the others (finetune.Method.Activation).
func (b *ftBackbones) For(spec ftSpec) (*model.Network, error) {
	act := spec.Method.Activation()
	pool := spec.Pooling
	if pool == "" {
		pool = model.AvgPooling
	}
	key := string(act) + "/" + string(pool)
	if n, ok := b.nets[key]; ok {
		return n, nil
	}
	n, err := pretrained.Load(b.be, act)
	if err != nil {
		return nil, err
	}
	if pool != model.AvgPooling {
		if n, err = n.WithPooling(pool); err != nil {
			return nil, err
		}
	}
	b.nets[key] = n
	return n, nil
}

// ftRun fine-tunes spec on splits and returns the result at the grid point
// of lowest validation error, and the model.
func ftRun(env *Env, nets *ftBackbones, spec ftSpec, splits *data.Splits, seed uint64) (*finetune.Result, finetune.Predictor, error) {
	base, err := nets.For(spec)
	if err != nil {
		return nil, nil, err
	}
	o := ftOptions(spec, env.Quick, splits.Train.Len(), seed)
	o.JacobianCache = nets.jacobians
	r, p, err := finetune.Run(env.Backend, base, splits, o)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	return r, p, nil
}

// ftRunCell is ftRun for runs that need only the result, cached as the
// seed's cell name (see Cell) so that an interrupted seed resumes. Grid
// points whose training diverges are skipped (finetuneEachPoint: the
// result's Grid lists the points that trained, ftDiverged counts the
// others); when every point diverges the result is chance level (1 - 1/C)
// with an empty Grid.
// The run's end state is recorded for its validity (Env.noteRun).
func ftRunCell(env *Env, nets *ftBackbones, spec ftSpec, splits *data.Splits, seed uint64, name string) (*finetune.Result, error) {
	r, err := ftRunCellUnrecorded(env, nets, spec, splits, seed, name)
	if err == nil {
		env.noteRun(seed, name, r, !spec.Exact)
	}
	return r, err
}

func ftRunCellUnrecorded(env *Env, nets *ftBackbones, spec ftSpec, splits *data.Splits, seed uint64, name string) (*finetune.Result, error) {
	return Cell(env, seed, name, func() (*finetune.Result, error) {
		base, err := nets.For(spec)
		if err != nil {
			return nil, err
		}
		o := ftOptions(spec, env.Quick, splits.Train.Len(), seed)
		o.JacobianCache = nets.jacobians
		if o.Curvature != nil {
			o.Curvature = memoCurvature(o.Curvature) // once for every grid point
		}
		r, _, err := finetuneEachPoint(env.Backend, base, splits, o)
		if errors.Is(err, model.ErrDiverged) {
			chance := 1 - 1/float64(splits.Train.NumClasses)
			return &finetune.Result{Method: o.Method, Loss: o.Loss, Epochs: o.Epochs, BatchSize: o.BatchSize,
				TrainError: chance, ValError: chance, TestError: chance,
				TrainSize: splits.Train.Len(), ValSize: splits.Val.Len(), TestSize: splits.Test.Len()}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", spec.Name, err)
		}
		return r, nil
	})
}

// ftDiverged is the number of grid points of spec that diverged in a
// result of ftRunCell.
func ftDiverged(spec ftSpec, quick bool, n int, r *finetune.Result) int {
	o := ftOptions(spec, quick, n, 1)
	points := len(o.Lambdas)
	if !spec.Exact {
		points *= len(o.LearningRates)
	}
	return max(0, points-len(r.Grid))
}

// loadBackbones loads the embedded ReLU and Leaky-ReLU backbones
// (pretrained.Load), keyed by activation: finetune.Method.Activation picks
// a method's.
func loadBackbones(be backends.Backend) (map[model.Activation]*model.Network, error) {
	out := map[model.Activation]*model.Network{}
	for _, a := range []model.Activation{model.ReLU, model.LeakyReLU} {
		n, err := pretrained.Load(be, a)
		if err != nil {
			return nil, err
		}
		out[a] = n
	}
	return out, nil
}

// finetuneEachPoint is finetune.Run that survives divergence: an
// iterative method is fine-tuned one grid point at a time, a point whose
// loss overflows is counted in diverged and skipped, and the point with the
// lowest validation error is returned (its Grid lists the points that
// trained). The exact solver, which cannot diverge, runs the whole grid at
// once. It fails if every point diverged. o.Curvature is called once per
// point: wrap it with memoCurvature to compute the factors once (the
// Jacobian features are shared through o.JacobianCache).
func finetuneEachPoint(be backends.Backend, base *model.Network, splits *data.Splits, o finetune.Options) (best *finetune.Result, diverged int, err error) {
	if o.Solver == finetune.SolverExact {
		r, _, err := finetune.Run(be, base, splits, o)
		return r, 0, err
	}
	if o.JacobianCache == nil {
		// The points share the linear methods' Jacobian features.
		o.JacobianCache = &finetune.JacobianCache{}
	}
	var grid []finetune.GridPoint
	seconds := 0.0
	for _, lr := range o.LearningRates {
		for _, wd := range o.Lambdas {
			p := o
			p.LearningRates, p.Lambdas = []float64{lr}, []float64{wd}
			r, _, err := finetune.Run(be, base, splits, p)
			if errors.Is(err, model.ErrDiverged) {
				diverged++
				continue
			}
			if err != nil {
				return nil, 0, fmt.Errorf("lr %g, wd %g: %w", lr, wd, err)
			}
			grid = append(grid, r.Grid...)
			seconds += r.Seconds
			if best == nil || r.ValError < best.ValError {
				best = r
			}
		}
	}
	if best == nil {
		return nil, diverged, fmt.Errorf("every one of the %d grid points diverged: %w", diverged, model.ErrDiverged)
	}
	best.Grid, best.Seconds = grid, seconds
	return best, diverged, nil
}

// memoCurvature wraps f so that the curvature is computed on the first
// call and returned again on the next ones: valid while every call passes
// the same training set and a network with the same weights (Finetune
// replaces the head with the same seed at every grid point).
func memoCurvature(f model.CurvatureFunc) model.CurvatureFunc {
	var (
		c     model.Curvature
		train *data.Set
	)
	return func(be backends.Backend, net *model.Network, set *data.Set) (model.Curvature, error) {
		if c != nil && set == train {
			return c, nil
		}
		var err error
		if c, err = f(be, net, set); err != nil {
			c = nil
			return nil, err
		}
		train = set
		return c, nil
	}
}

// memoKFAC is the K-FAC curvature lqf finetune uses for LQF
// (recommendedCurvature: KFC factors, EK-FAC eigenvalue correction, extra
// damping kfac.RecommendedDamping), computed once per training set
// (memoCurvature).
func memoKFAC(seed uint64) model.CurvatureFunc {
	return memoCurvature(recommendedCurvature(seed))
}

// methodLabel is a method's name in tables and legends.
func methodLabel(m finetune.Method) string {
	switch m {
	case finetune.LQFFC:
		return "LQF-FC"
	case finetune.GaF:
		return "GaF"
	}
	return strings.ToUpper(string(m))
}

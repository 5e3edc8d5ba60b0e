package model

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
)

// Loss is the training objective on the network outputs z [B, C] for one-hot
// labels y [B, C].
type Loss string

const (
	// CrossEntropy is mean_i (logsumexp(z_i) - <y_i, z_i>).
	CrossEntropy Loss = "ce"
	// MSE is mean_i ||z_i - alpha y_i||^2: regression onto scaled one-hot
	// targets (LQF's loss, paper eq. 3, written as a mean over samples).
	MSE Loss = "mse"
)

// DefaultAlpha is the MSE target scale of the paper.
const DefaultAlpha = 15

// ParseLoss accepts "ce" (or "cross-entropy") and "mse".
func ParseLoss(s string) (Loss, error) {
	switch s {
	case "ce", "cross-entropy":
		return CrossEntropy, nil
	case "mse":
		return MSE, nil
	}
	return "", fmt.Errorf("unknown loss %q (want ce or mse)", s)
}

// LossGraph returns the mean loss of outputs z [B, C] against one-hot
// targets y [B, C]; alpha scales the targets of MSE.
func LossGraph(loss Loss, z, y *Node, alpha float64) *Node {
	switch loss {
	case MSE:
		d := Sub(z, MulScalar(y, alpha))
		return ReduceAllMean(ReduceSum(Square(d), 1))
	default:
		m := StopGradient(ReduceAndKeep(z, ReduceMax, 1))
		lse := Add(Log(ReduceSum(Exp(Sub(z, m)), 1)), Reshape(m, -1))
		return ReduceAllMean(Sub(lse, ReduceSum(Mul(y, z), 1)))
	}
}

// Preconditioner turns gradients into update directions inside the training
// graph (for example K-FAC's (F + lambda I)^-1 g). params and grads are
// aligned; the returned directions have the shapes of grads.
type Preconditioner interface {
	Precondition(ctx *context.Context, params []*context.Variable, grads []*Node) []*Node
}

// Curvature is the constant curvature of a linearized network's loss over
// a training set, turned into a preconditioner for a damping lambda.
type Curvature interface {
	Preconditioner(lambda float64) (Preconditioner, error)
}

// CurvatureFunc computes the Curvature of net (with its new head) on train.
type CurvatureFunc func(be backends.Backend, net *Network, train *data.Set) (Curvature, error)

// Optimizer is the update rule of TrainGraph.
type Optimizer string

const (
	SGD  Optimizer = "sgd"
	Adam Optimizer = "adam"
)

// ParseOptimizer accepts "sgd" and "adam".
func ParseOptimizer(s string) (Optimizer, error) {
	switch Optimizer(s) {
	case SGD, Adam:
		return Optimizer(s), nil
	}
	return "", fmt.Errorf("unknown optimizer %q (want sgd or adam)", s)
}

// TrainOptions configures Network.Train. Zero values take the documented
// defaults.
type TrainOptions struct {
	Loss  Loss    // default CrossEntropy
	Alpha float64 // MSE target scale; default DefaultAlpha
	// LearningRate eta of SGD; it follows a cosine decay to 0 over the run
	// unless ConstantLR is set.
	LearningRate float64
	ConstantLR   bool
	Momentum     float64 // heavy-ball momentum m: v <- m v + g, w <- w - eta v
	// Optimizer is SGD (default, with Momentum) or Adam (AdamBeta1,
	// AdamBeta2, AdamEpsilon; defaults 0.9, 0.999, 1e-8).
	Optimizer   Optimizer
	AdamBeta1   float64
	AdamBeta2   float64
	AdamEpsilon float64
	// Lambda is the weight decay lambda: it adds lambda/2 ||w||^2 over the
	// trained parameters to the loss (L2 in the loss, as in the paper; not
	// decoupled decay). lqf calls the weight decay lambda everywhere (the
	// flag --wd); the ridge of the kernel-form closed form is
	// rho = lambda N / 2 (linalg.RidgeTerm).
	Lambda    float64
	BatchSize int     // default 32
	Epochs    float64 // passes over the training set; default 1
	Seed      uint64  // shuffling and augmentation
	Augment   data.Augmentation
	// BatchNorm is TrainBatchStats (normalize with batch statistics, update
	// running ones) or Eval (frozen statistics: a fixed function).
	BatchNorm Mode
	// Scopes lists the trained parameter scopes, relative to the root
	// (ScopeBackbone, ScopeHead, ScopeTangent, ScopeTangent+"/"+ScopeHead);
	// empty trains ScopeBackbone and ScopeHead.
	Scopes         []string
	Preconditioner Preconditioner
	Progress       io.Writer // progress lines; nil for none
	Label          string    // progress label
	// OnEpoch, if set, is called after each epoch (1, 2, ...) with the
	// parameters updated; returning ErrStopTraining ends training there,
	// another error aborts it.
	OnEpoch func(epoch int) error
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Loss == "" {
		o.Loss = CrossEntropy
	}
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 32
	}
	if o.Epochs == 0 {
		o.Epochs = 1
	}
	if o.Label == "" {
		o.Label = "train"
	}
	if o.Optimizer == "" {
		o.Optimizer = SGD
	}
	if o.AdamBeta1 == 0 {
		o.AdamBeta1 = 0.9
	}
	if o.AdamBeta2 == 0 {
		o.AdamBeta2 = 0.999
	}
	if o.AdamEpsilon == 0 {
		o.AdamEpsilon = 1e-8
	}
	return o
}

func (o TrainOptions) validate() error {
	switch {
	case o.LearningRate <= 0 || math.IsNaN(o.LearningRate):
		return fmt.Errorf("learning rate %g must be > 0", o.LearningRate)
	case o.Momentum < 0 || o.Momentum >= 1:
		return fmt.Errorf("momentum %g must be in [0, 1)", o.Momentum)
	case o.Lambda < 0:
		return fmt.Errorf("weight decay %g must be >= 0", o.Lambda)
	case o.Epochs < 0:
		return fmt.Errorf("epochs %g must be > 0", o.Epochs)
	case o.Loss != CrossEntropy && o.Loss != MSE:
		return fmt.Errorf("unknown loss %q", o.Loss)
	case o.Optimizer != SGD && o.Optimizer != Adam:
		return fmt.Errorf("unknown optimizer %q", o.Optimizer)
	case o.AdamBeta1 < 0 || o.AdamBeta1 >= 1 || o.AdamBeta2 < 0 || o.AdamBeta2 >= 1:
		return fmt.Errorf("Adam betas %g, %g must be in [0, 1)", o.AdamBeta1, o.AdamBeta2)
	}
	return nil
}

// ErrDiverged is wrapped by the error of a run whose loss overflowed.
var ErrDiverged = errors.New("training diverged")

// ErrStopTraining, returned by TrainOptions.OnEpoch, ends training early.
var ErrStopTraining = errors.New("stop training")

// TrainResult records a training run.
type TrainResult struct {
	StepLoss  []float64     // mean batch loss (without the L2 term) per step
	EpochLoss []float64     // mean of StepLoss per epoch
	Samples   int           // samples processed
	Duration  time.Duration // wall time of the steps
}

// SamplesPerSecond is the training throughput.
func (r *TrainResult) SamplesPerSecond() float64 {
	return float64(r.Samples) / r.Duration.Seconds()
}

// BatchSource yields training batches: inputs flattened in row-major order
// with per-sample dimensions Dims(), and labels.
type BatchSource interface {
	Next() (inputs []float32, labels []int32)
	BatchSize() int
	BatchesPerEpoch() int
	Dims() []int
}

type imageSource struct{ *data.Batcher }

func (s imageSource) Next() ([]float32, []int32) {
	x, y, _ := s.Batcher.Next()
	return x, y
}
func (s imageSource) Dims() []int {
	h, w, c := s.Batcher.Geometry()
	return []int{h, w, c}
}

// ImageBatches returns the batches Network.Train uses for images.
func ImageBatches(set *data.Set, batchSize int, aug data.Augmentation, seed uint64) BatchSource {
	return imageSource{data.NewBatcher(set, batchSize, aug, seed)}
}

// Train fits the network to set by SGD with momentum on the images'
// outputs (Logits). See TrainOptions for the objective.
func (n *Network) Train(be backends.Backend, set *data.Set, opts TrainOptions) (*TrainResult, error) {
	opts = opts.withDefaults()
	if set.Len() == 0 {
		return nil, errors.New("training set is empty")
	}
	if set.NumClasses != n.NumClasses() {
		return nil, fmt.Errorf("training set has %d classes but the network outputs %d; replace the head first", set.NumClasses, n.NumClasses())
	}
	if err := n.CheckSet(set); err != nil {
		return nil, err
	}
	arch := n.Arch
	mode := opts.BatchNorm
	forward := func(ctx *context.Context, x *Node) *Node { return arch.Logits(ctx, x, mode) }
	return TrainGraph(be, n.Ctx, forward, ImageBatches(set, opts.BatchSize, opts.Augment, opts.Seed), arch.NumClasses(), opts)
}

// TrainGraph runs SGD with momentum on any model function forward(ctx, x)
// -> outputs [B, numClasses] whose parameters live in ctx: the training
// loop shared by every lqf method (full network, classifier on features,
// linearized network).
func TrainGraph(be backends.Backend, ctx *context.Context, forward func(ctx *context.Context, x *Node) *Node,
	src BatchSource, numClasses int, opts TrainOptions) (res *TrainResult, err error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := ResetOptimizer(ctx); err != nil {
		return nil, err
	}
	bs := src.BatchSize()
	steps := int(math.Ceil(opts.Epochs * float64(src.BatchesPerEpoch())))
	if steps < 1 {
		steps = 1
	}
	var exec *context.Exec
	dims := append([]int{bs}, src.Dims()...)
	return trainLoop(src.BatchesPerEpoch(), bs, steps, numClasses, opts,
		func() ([]float32, []int32) { return src.Next() },
		func(xs, onehot []float32, lr float64) float64 {
			if exec == nil {
				exec = context.MustNewExec(be, ctx, func(ctx *context.Context, x, y, lr *Node) *Node {
					return sgdStep(ctx, forward, x, y, lr, opts)
				})
			}
			x := tensors.FromFlatDataAndDimensions(xs, dims...)
			y := tensors.FromFlatDataAndDimensions(onehot, bs, numClasses)
			return float64(tensors.ToScalar[float32](exec.MustExec(x, y, float32(lr))[0]))
		},
		func() {
			if exec != nil {
				exec.Finalize()
			}
		})
}

// trainLoop runs the steps of a training run: batches from next, one-hot
// targets, the learning-rate schedule, divergence checks, epoch losses,
// OnEpoch and progress; step applies one update and returns the batch's
// data loss, finish releases its resources. Panics inside (GoMLX errors)
// become the returned error.
func trainLoop(perEpoch, bs, steps, numClasses int, opts TrainOptions, next func() ([]float32, []int32),
	step func(xs, onehot []float32, lr float64) float64, finish func()) (res *TrainResult, err error) {
	err = TryCatch(func() {
		defer finish()
		res = &TrainResult{}
		bar := progress.New(opts.Progress, opts.Label, steps*bs, "img")
		start := time.Now()
		onehot := make([]float32, bs*numClasses)
		epochSum, epochN := 0.0, 0
		perEpoch := max(1, perEpoch)
		for s := range steps {
			xs, labels := next()
			clear(onehot)
			for i, l := range labels {
				onehot[i*numClasses+int(l)] = 1
			}
			lr := opts.LearningRate
			if !opts.ConstantLR {
				lr *= 0.5 * (1 + math.Cos(math.Pi*float64(s)/float64(steps)))
			}
			loss := step(xs, onehot, lr)
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				panic(fmt.Errorf("%w at step %d (loss %g): lower the learning rate (now %g)", ErrDiverged, s, loss, opts.LearningRate))
			}
			res.StepLoss = append(res.StepLoss, loss)
			epochSum += loss
			epochN++
			res.Samples += bs
			if epochN == perEpoch || s == steps-1 {
				res.EpochLoss = append(res.EpochLoss, epochSum/float64(epochN))
				epochSum, epochN = 0, 0
				if opts.OnEpoch != nil {
					if err := opts.OnEpoch(len(res.EpochLoss)); err != nil {
						if errors.Is(err, ErrStopTraining) {
							break
						}
						panic(err)
					}
				}
			}
			bar.SetStatus("loss %.4f", loss)
			bar.Add(bs)
		}
		res.Duration = time.Since(start)
		bar.Finish()
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// trainedVariables lists the trainable variables under scopes (default:
// ScopeBackbone and ScopeHead).
func trainedVariables(ctx *context.Context, scopes []string) []*context.Variable {
	if len(scopes) == 0 {
		scopes = []string{ScopeBackbone, ScopeHead}
	}
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable && inScopes(v.Scope(), scopes) {
			vars = append(vars, v)
		}
	}
	sortVariables(vars)
	return vars
}

// sgdStep builds one step: loss, gradients, optional preconditioning, and the
// momentum update of the trained parameters. It returns the data loss (without L2).
func sgdStep(ctx *context.Context, forward func(*context.Context, *Node) *Node, x, y, lr *Node, opts TrainOptions) *Node {
	g := x.Graph()
	z := forward(ctx, x)
	// Listed after forward: it may create variables (such as dw).
	params := trainedVariables(ctx, opts.Scopes)
	if len(params) == 0 {
		panic(fmt.Errorf("no trainable parameters under scopes %v", opts.Scopes))
	}
	loss := LossGraph(opts.Loss, z, y, opts.Alpha)
	total := loss
	values := make([]*Node, len(params))
	for i, p := range params {
		values[i] = p.ValueGraph(g)
	}
	if opts.Lambda > 0 {
		var sq *Node
		for _, w := range values {
			s := ReduceAllSum(Square(w))
			if sq == nil {
				sq = s
			} else {
				sq = Add(sq, s)
			}
		}
		total = Add(total, MulScalar(sq, opts.Lambda/2))
	}
	applyUpdates(ctx, params, values, Gradient(total, values...), lr, opts)
	return loss
}

// applyUpdates turns the gradients of the trained parameters (values are
// their current values in the graph) into the optimizer's update:
// preconditioning, then momentum or Adam, then w <- w - lr dir.
func applyUpdates(ctx *context.Context, params []*context.Variable, values, grads []*Node, lr *Node, opts TrainOptions) {
	g := lr.Graph()
	if opts.Preconditioner != nil {
		grads = opts.Preconditioner.Precondition(ctx, params, grads)
	}
	state := func(p *context.Variable, suffix string) *context.Variable {
		return ctx.InAbsPath(context.ScopeSeparator+ScopeOptimizer+p.Scope()).Checked(false).
			WithInitializer(initializers.Zero).
			VariableWithShape(p.Name()+suffix, p.Shape()).SetTrainable(false)
	}
	var biasCorrection1, biasCorrection2 *Node
	if opts.Optimizer == Adam {
		// Step counter t for Adam's bias corrections 1 - beta^t.
		stepVar := ctx.InAbsPath(context.ScopeSeparator+ScopeOptimizer).Checked(false).
			WithInitializer(initializers.Zero).VariableWithShape("adam_step", shapes.Make(dtypes.Float32)).SetTrainable(false)
		t := AddScalar(stepVar.ValueGraph(g), 1)
		stepVar.SetValueGraph(t)
		biasCorrection1 = OneMinus(Pow(Scalar(g, dtypes.Float32, opts.AdamBeta1), t))
		biasCorrection2 = OneMinus(Pow(Scalar(g, dtypes.Float32, opts.AdamBeta2), t))
	}
	for i, p := range params {
		dir := grads[i]
		switch {
		case opts.Optimizer == Adam:
			// m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
			// dir = (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
			m, v := state(p, "_adam_m"), state(p, "_adam_v")
			mNew := Add(MulScalar(m.ValueGraph(g), opts.AdamBeta1), MulScalar(dir, 1-opts.AdamBeta1))
			vNew := Add(MulScalar(v.ValueGraph(g), opts.AdamBeta2), MulScalar(Square(dir), 1-opts.AdamBeta2))
			m.SetValueGraph(mNew)
			v.SetValueGraph(vNew)
			mHat := Div(mNew, ConvertDType(biasCorrection1, dir.DType()))
			vHat := Div(vNew, ConvertDType(biasCorrection2, dir.DType()))
			dir = Div(mHat, AddScalar(Sqrt(vHat), opts.AdamEpsilon))
		case opts.Momentum > 0:
			vel := state(p, "_velocity")
			dir = Add(MulScalar(vel.ValueGraph(g), opts.Momentum), dir)
			vel.SetValueGraph(dir)
		}
		p.SetValueGraph(Sub(values[i], Mul(ConvertDType(lr, dir.DType()), dir)))
	}
}

// ResetOptimizer discards optimizer state (momentum), so that a new run
// starts from rest.
func ResetOptimizer(ctx *context.Context) error {
	return ctx.InAbsPath(context.ScopeSeparator + ScopeOptimizer).DeleteVariablesInScope()
}

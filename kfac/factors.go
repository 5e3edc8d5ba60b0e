package kfac

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/layers"
	"github.com/lqf-go/lqf/model"
)

// Options configures Compute.
type Options struct {
	BatchSize int // images per pass; default 64
	// MonteCarlo replaces the C backward passes per batch (one per output)
	// by one with Gaussian output noise u ~ N(0, I): E[g_u g_u^T] equals
	// sum_c g_c g_c^T, so G is unbiased at 1/C of the cost.
	MonteCarlo bool
	// Expand selects the KFC factors of Grosse & Martens (2016), which
	// treat spatial positions as independent samples; the default is
	// K-FAC-reduce (Eschenhagen et al., 2023), which sums gradients and
	// averages patches over positions first. With global average pooling
	// the gradients of all positions of a map are strongly correlated and
	// KFC underestimates the curvature by up to the number of positions,
	// which makes preconditioned SGD diverge; reduce is exact when they are
	// equal.
	Expand bool
	// EigenCorrection runs CorrectEigenvalues after the factors (EK-FAC)
	// when the factors are used through CurvatureFunc.
	EigenCorrection bool
	Seed            uint64
	Progress        io.Writer
}

// Recommended returns the factors lqf uses by default, for training and
// attribution: KFC (Expand) with the EK-FAC eigenvalue correction, the
// variant closest to the exact Gauss-Newton blocks on lqf's backbones
// (lqf check kfac, lqf influence validate). Set Seed and Progress on it.
func Recommended() Options { return Options{Expand: true, EigenCorrection: true} }

// RecommendedDamping is the extra damping lqf adds to the loss's lambda when
// K-FAC preconditions training (CurvatureFunc): the Kronecker approximation
// underestimates the curvature of some directions, and steps along them must
// stay bounded.
const RecommendedDamping = 1e-3

// batchSize is the batch size of passes over n images (default 64).
func (o Options) batchSize(n int) int {
	if o.BatchSize <= 0 {
		return min(64, n)
	}
	return min(o.BatchSize, n)
}

// Factors are the K-FAC factors of the Gauss-Newton matrix of LQF's loss
// at w0 (the curvature of the linearized model, constant in dw):
//
//	F = (2/N) sum_i J_i^T J_i   for   L = (1/N) sum_i ||f_i - alpha y_i||^2,
//
// block-diagonal over units (layers.Unit: a convolution with the batch norm
// folded into it, a convolution alone, a dense layer, a batch norm alone).
// A unit's weights W [in, out] (a kernel [k, k, cin, cout] as
// [k*k*cin, cout], a dense layer's weights [F, out]; its own biases, if any,
// as a last row, in = k*k*cin + 1 or F + 1) get the block A (x) G with, for
// the unit's inputs a_t ([in]: the im2col patches of a convolution, the
// feature vector of a dense layer, each followed by a 1 when the unit has
// biases) and the gradients g_t [out] of output c with respect to its output
// at the T positions t (T = 1 for a dense layer; for a convolution followed
// by a batch norm, multiplied by the frozen batch-norm scale s = gamma /
// sigma, since the unit's output is conv(x, K s)): K-FAC-reduce (default)
// A = (1/N) sum_i abar abar^T with abar = (1/T) sum_t a_t and
// G = (2/N) sum_i sum_c gsum gsum^T with gsum = sum_t g_t; KFC
// (Options.Expand) A = (1/N) sum_i sum_t a_t a_t^T and
// G = (2/(N T)) sum_i sum_c sum_t g_t g_t^T. With T = 1 (dense layers,
// convolutions with one output position) both are the same and the block of
// one image is exact: its gradients are a g^T. Batch norm (gamma_o, beta_o),
// folded into a convolution or alone, gets the exact 2x2 block of each
// channel, (2/N) sum_i sum_c [u1 u1, u1 u2; u1 u2, u2 u2] with
// u1 = sum_t g_t xhat_t and u2 = sum_t g_t (xhat the normalized input of the
// batch norm, (x - mu) / sigma). The classifier's block is exactly
// A (x) 2I with A = (1/N) sum_i [h_i, 1][h_i, 1]^T.
type Factors struct {
	N     int
	Units []*Unit
	// ExtraDamping is added to lambda by Preconditioner (CurvatureFunc sets
	// it).
	ExtraDamping float64
}

// Unit holds the factors of one unit of the network: a Kronecker block
// A (x) G of its weights (In > 0: a convolution, or a dense layer when
// IsHead), and the 2x2 blocks of its batch norm (BNScope set: folded into
// the convolution, or alone with In = 0, Scope empty and no A, G).
// The Kronecker block's parameters are laid out as a matrix [In, Out]: a
// kernel [k, k, cin, cout] as [k*k*cin, cout], a dense layer's weights
// [F, C], each followed, when HasBias, by its biases as a last row
// ([k*k*cin+1, cout], [F+1, C]).
type Unit struct {
	Scope   string // the kernel's or weights' scope, e.g. "/backbone/stage1/conv1" or "/head"; "" for a batch norm alone
	BNScope string // the batch norm's scope, e.g. "/backbone/stage1/conv1/bn"; "" without a batch norm
	IsHead  bool   // a dense layer (the classifier or a hidden one): weights, not a kernel
	HasBias bool   // the last row of the Kronecker block is the unit's own biases
	In, Out int    // the Kronecker block [In, Out] (In = 0: none); Out is also the batch norm's channels
	A, G    *mat.SymDense
	// BN[o] = {F_gg, F_gb, F_bb}: the Fisher block of (gamma_o, beta_o).
	BN [][3]float64
	// S, if set by CorrectEigenvalues, replaces the Kronecker eigenvalues
	// a_i g_j [In, Out] (EK-FAC).
	S *mat.Dense
	// eig caches the eigendecompositions of A and G (eigenbases).
	eig *unitEigen
}

// Name is the unit's scope, or its batch norm's for a batch norm alone.
func (u *Unit) Name() string {
	if u.Scope != "" {
		return u.Scope
	}
	return u.BNScope
}

// kron reports whether the unit has a Kronecker block (weights).
func (u *Unit) kron() bool { return u.In > 0 }

// blockIndex returns the flat parameter index (offsets: scope/name ->
// offset in the order of Network.TrainableVariables) of every entry of the
// unit's Kronecker block [In, Out], row-major: the kernel's or weights'
// entries, then the biases (HasBias).
func (u *Unit) blockIndex(offsets map[string]int) ([]int, error) {
	main := u.Scope + "/kernel"
	if u.IsHead {
		main = u.Scope + "/weights"
	}
	rows := u.In
	if u.HasBias {
		rows--
	}
	w, ok := offsets[main]
	if !ok {
		return nil, fmt.Errorf("kfac: the unit %s has no trainable parameter %s", u.Name(), main)
	}
	idx := make([]int, 0, u.In*u.Out)
	for k := range rows * u.Out {
		idx = append(idx, w+k)
	}
	if u.HasBias {
		b, ok := offsets[u.Scope+"/biases"]
		if !ok {
			return nil, fmt.Errorf("kfac: the unit %s has no trainable parameter %s/biases", u.Name(), u.Scope)
		}
		for c := range u.Out {
			idx = append(idx, b+c)
		}
	}
	return idx, nil
}

// probe returns a layers.Net probe that records every unit: for a unit
// with weights its inputs a_t as rows [B*T, in] (im2col patches of a
// convolution, T its output positions; the features of a dense layer,
// T = 1; with a ones column when the unit has biases), and for a unit with
// a batch norm the normalized batch-norm input xhat [B*T, out] (for a
// convolution folded with its batch norm, (conv(x, K) - (mu - b)) / sigma).
// It covers every unit layers reports: convolutions with or without a
// batch norm and biases, dense layers with or without biases and batch
// norms alone; anything else panics with an error naming the layer.
func probe(units *[]unitNodes) func(layers.Unit) {
	return func(u layers.Unit) {
		var un unitNodes
		un.unit = u
		withOnes := func(p *Node) *Node {
			if !u.HasBias {
				return p
			}
			rows := p.Shape().Dimensions[0]
			return Concatenate([]*Node{p, Ones(p.Graph(), shapes.Make(p.DType(), rows, 1))}, 1)
		}
		switch {
		case u.Kernel == nil && u.BNScope != "" && u.Scale != nil && u.Mean != nil && u.InvSigma != nil:
			// A batch norm alone: y = x scale + (beta - mu scale).
			d := u.Input.Shape().Dimensions
			c := d[len(d)-1]
			rows := u.Input.Shape().Size() / c
			un.t = rows / d[0]
			x := Reshape(u.Input, rows, c)
			un.xhat = Mul(Sub(x, Reshape(u.Mean, 1, c)), Reshape(u.InvSigma, 1, c))
		case u.Kernel != nil && u.Conv && u.Input.Rank() == 4:
			d := u.Output.Shape().Dimensions
			un.t = d[1] * d[2]
			p := layers.Im2Col(u.Input, u.Geometry)
			kk := p.Shape().Dimensions[3]
			p = Reshape(p, d[0]*un.t, kk)
			if u.BNScope != "" {
				z := MatMul(p, Reshape(u.Kernel, kk, d[3]))
				un.xhat = Mul(Sub(z, Reshape(u.Mean, 1, d[3])), Reshape(u.InvSigma, 1, d[3]))
			}
			un.patches = withOnes(p)
		case u.Kernel != nil && !u.Conv && u.BNScope == "" && u.Input.Rank() == 2:
			un.patches = withOnes(u.Input)
			un.t = 1
		default:
			panic(fmt.Errorf("kfac: the unit %q%s is not a convolution (with or without a batch norm), a dense layer on feature vectors or a batch norm: K-FAC does not support it",
				u.Scope, map[bool]string{true: " (batch norm " + u.BNScope + ")"}[u.BNScope != ""]))
		}
		*units = append(*units, un)
	}
}

// cotangents returns the output cotangents of one pass: one-hot per class,
// or the Gaussian noise input for Monte Carlo.
func cotangents(z, noise *Node, mc bool) []*Node {
	if mc {
		return []*Node{noise}
	}
	b, classes := z.Shape().Dimensions[0], z.Shape().Dimensions[1]
	var out []*Node
	for c := range classes {
		mask := make([]float32, classes)
		mask[c] = 1
		out = append(out, BroadcastToDims(ConvertDType(Const(z.Graph(), [][]float32{mask}), z.DType()), b, classes))
	}
	return out
}

// accumulate runs exec over set in batches of bs (the last one with its own
// size), with Gaussian noise [n, classes] as second input, and returns the
// float64 sums of its outputs.
func accumulate(exec *context.Exec, set *data.Set, arch *layers.Net, bs int, seed uint64, bar *progress.Bar) [][]float64 {
	var sums [][]float64
	rng := rand.New(rand.NewPCG(seed, 0x6b666163))
	classes := arch.NumClasses()
	noise := make([]float32, bs*classes)
	for start := 0; start < set.Len(); start += bs {
		n := min(bs, set.Len()-start)
		for i := range n * classes {
			noise[i] = float32(rng.NormFloat64())
		}
		// The last partial batch runs with its own size (one more
		// compilation): padding images would add to the sums.
		outs := exec.MustExec(model.ImageBatch(set, start, n),
			tensors.FromFlatDataAndDimensions(noise[:n*classes], n, classes))
		if sums == nil {
			sums = make([][]float64, len(outs))
			for i, o := range outs {
				sums[i] = make([]float64, o.Shape().Size())
			}
		}
		for i, o := range outs {
			for j, v := range tensors.MustCopyFlatData[float32](o) {
				sums[i][j] += float64(v)
			}
		}
		bar.Add(n)
	}
	return sums
}

// unitNodes are the nodes probe records for one unit.
type unitNodes struct {
	unit    layers.Unit
	patches *Node // [B*T, in]: the inputs a_t of the weights (nil without weights)
	xhat    *Node // [B*T, out]: the normalized batch-norm input (nil without a batch norm)
	t       int   // positions T per image
}

// kron reports whether the unit has weights (a Kronecker block).
func (u *unitNodes) kron() bool { return u.patches != nil }

// hasBN reports whether the unit has a batch norm (gamma, beta).
func (u *unitNodes) hasBN() bool { return u.xhat != nil }

// width is the unit's output channels.
func (u *unitNodes) width() int {
	d := u.unit.Output.Shape().Dimensions
	return d[len(d)-1]
}

// outputGradients returns, for the gradient grad [B, ..., out] of the
// output with respect to the unit's output, g [B*T, out] and the gradients
// with respect to the pre-activations of the weights' product,
// gs [B*T, out]: g times the frozen batch-norm scale for a convolution
// folded with its batch norm, g otherwise.
func (u *unitNodes) outputGradients(grad *Node, b int) (g, gs *Node) {
	out := u.width()
	g = Reshape(grad, b*u.t, out)
	gs = g
	if u.kron() && u.unit.Scale != nil {
		gs = Mul(g, Reshape(u.unit.Scale, 1, out))
	}
	return g, gs
}

// bnGradients returns the per-sample batch-norm gradients u1 = sum_t g_t
// xhat_t (gamma) and u2 = sum_t g_t (beta), [B, out], for g [B*T, out].
func (u *unitNodes) bnGradients(g *Node, b int) (u1, u2 *Node) {
	out := u.width()
	u1 = ReduceSum(Reshape(Mul(g, u.xhat), b, u.t, out), 1)
	u2 = ReduceSum(Reshape(g, b, u.t, out), 1)
	return u1, u2
}

// Compute accumulates the factors over set for the network (frozen
// batch-norm statistics), in float64 on the host.
func Compute(be backends.Backend, net *model.Network, set *data.Set, opts Options) (*Factors, error) {
	if set.Len() == 0 {
		return nil, errors.New("kfac: empty training set")
	}
	if err := net.CheckSet(set); err != nil {
		return nil, err
	}
	bs := opts.batchSize(set.Len())
	arch := net.Arch
	var units []unitNodes
	arch = arch.WithProbe(probe(&units))
	f := &Factors{}
	var sums [][]float64 // per unit: A sum and G sum (weights), BN sums (3*out, batch norm)
	err := model.TryCatch(func() {
		exec := context.MustNewExec(be, net.Ctx, func(ctx *context.Context, x, noise *Node) []*Node {
			units = units[:0]
			z := arch.Logits(ctx, x, model.Eval)
			outs := make([]*Node, len(units))
			for i, u := range units {
				outs[i] = u.unit.Output
			}
			b := x.Shape().Dimensions[0]
			reduce := !opts.Expand
			gSum := make([]*Node, len(units))
			bnSum := make([]*Node, len(units))
			for _, cot := range cotangents(z, noise, opts.MonteCarlo) {
				grads := Gradient(ReduceAllSum(Mul(z, cot)), outs...)
				for i, u := range units {
					out := u.width()
					g, gs := u.outputGradients(grads[i], b)
					if u.kron() {
						if reduce && u.t > 1 {
							gs = ReduceSum(Reshape(gs, b, u.t, out), 1) // [B, out]
						}
						gg := MatMul(Transpose(gs, 0, 1), gs)
						if gSum[i] == nil {
							gSum[i] = gg
						} else {
							gSum[i] = Add(gSum[i], gg)
						}
					}
					if u.hasBN() {
						u1, u2 := u.bnGradients(g, b)
						s := Stack([]*Node{ReduceSum(Mul(u1, u1), 0), ReduceSum(Mul(u1, u2), 0), ReduceSum(Mul(u2, u2), 0)}, 0)
						if bnSum[i] == nil {
							bnSum[i] = s
						} else {
							bnSum[i] = Add(bnSum[i], s)
						}
					}
				}
			}
			var res []*Node
			for i, u := range units {
				if u.kron() {
					p := u.patches
					if reduce && u.t > 1 {
						kk := p.Shape().Dimensions[1]
						p = ReduceMean(Reshape(p, b, u.t, kk), 1) // [B, in]
					}
					res = append(res, MatMul(Transpose(p, 0, 1), p), gSum[i])
				}
				if u.hasBN() {
					res = append(res, bnSum[i])
				}
			}
			return res
		})
		defer exec.Finalize()
		bar := progress.New(opts.Progress, "kfac factors", set.Len(), "img")
		sums = accumulate(exec, set, arch, bs, opts.Seed, bar)
		bar.Finish()
	})
	if err != nil {
		return nil, err
	}
	n := float64(set.Len())
	f.N = set.Len()
	k := 0
	for _, u := range units {
		out := u.width()
		fu := &Unit{Scope: u.unit.Scope, BNScope: u.unit.BNScope, IsHead: u.kron() && !u.unit.Conv, HasBias: u.kron() && u.unit.HasBias, Out: out}
		if u.kron() {
			in := u.patches.Shape().Dimensions[1]
			fu.In = in
			a := sums[k]
			g := sums[k+1]
			k += 2
			fu.A = mat.NewSymDense(in, nil)
			for i := range in {
				for j := i; j < in; j++ {
					fu.A.SetSym(i, j, a[i*in+j]/n)
				}
			}
			t := float64(u.t)
			if !opts.Expand {
				t = 1
			}
			fu.G = mat.NewSymDense(out, nil)
			for i := range out {
				for j := i; j < out; j++ {
					fu.G.SetSym(i, j, 2*g[i*out+j]/(n*t))
				}
			}
		}
		if u.hasBN() {
			bn := sums[k]
			k++
			fu.BN = make([][3]float64, out)
			for o := range out {
				fu.BN[o] = [3]float64{2 * bn[o] / n, 2 * bn[out+o] / n, 2 * bn[2*out+o] / n}
			}
		}
		f.Units = append(f.Units, fu)
	}
	if len(f.Units) == 0 {
		return nil, fmt.Errorf("kfac: the network reported no layers")
	}
	return f, nil
}

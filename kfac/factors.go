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
	// ExtraDamping is added to the loss's lambda when the factors
	// precondition training: the Kronecker approximation can underestimate
	// the curvature of some directions, and steps along them must stay
	// bounded.
	ExtraDamping float64
	// EigenCorrection runs CorrectEigenvalues after the factors (EK-FAC)
	// when the factors are used through CurvatureFunc.
	EigenCorrection bool
	Seed            uint64
	Progress        io.Writer
}

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
// block-diagonal over units. A convolution's kernel block is A (x) G with,
// for its im2col patches a_t and the gradients g_t of output c with respect
// to its output at the T positions t (scaled by the frozen batch-norm
// scale): K-FAC-reduce (default) A = (1/N) sum_i abar abar^T with
// abar = (1/T) sum_t a_t and G = (2/N) sum_i sum_c gsum gsum^T with
// gsum = sum_t g_t; KFC (Options.Expand) A = (1/N) sum_i sum_t a_t a_t^T and
// G = (2/(N T)) sum_i sum_c sum_t g_t g_t^T. Batch norm (gamma_o, beta_o) gets the exact
// 2x2 block of each channel; the head's block is exactly A (x) 2I with
// A = (1/N) sum_i [h_i, 1][h_i, 1]^T.
type Factors struct {
	N     int
	Units []*Unit
	// ExtraDamping is added to lambda by Preconditioner.
	ExtraDamping float64
}

// Unit holds the factors of one convolution + batch-norm unit or of a dense
// layer with biases (IsHead: the classifier, or any dense layer).
// Parameters are laid out as matrices [in, out]: a kernel [k, k, cin, cout]
// as [k*k*cin, cout]; a dense layer's weights [F, C] with its biases as a
// last row, [F+1, C].
type Unit struct {
	Scope   string // e.g. "/backbone/stage1/conv1" or "/head"
	BNScope string // the batch norm's scope, e.g. "/backbone/stage1/conv1/bn" (convolutions)
	IsHead  bool   // a dense layer
	In, Out int
	A, G    *mat.SymDense
	// BN[o] = {F_gg, F_gb, F_bb}: the Fisher block of (gamma_o, beta_o).
	BN [][3]float64
	// S, if set by CorrectEigenvalues, replaces the Kronecker eigenvalues
	// a_i g_j [In, Out] (EK-FAC).
	S *mat.Dense
	// eig caches the eigendecompositions of A and G (eigenbases).
	eig *unitEigen
}

// probe returns a layers.Net probe that records every unit's patches (with
// a ones column for dense layers) and, for convolutions, the normalized
// pre-activations xhat. K-FAC covers convolutions followed by a batch norm
// (without their own bias) and dense layers with biases; other units panic
// with an error naming the layer.
func probe(units *[]unitNodes) func(layers.Unit) {
	return func(u layers.Unit) {
		var un unitNodes
		un.unit = u
		switch {
		case u.Kernel == nil:
			panic(fmt.Errorf("kfac: the batch norm %s follows no convolution: K-FAC supports convolutions with a batch norm and dense layers with biases", u.BNScope))
		case u.Conv && (u.BNScope == "" || u.HasBias):
			panic(fmt.Errorf("kfac: the convolution %s has no batch norm after it or has its own bias: K-FAC supports convolutions with a batch norm and no bias, and dense layers with biases", u.Scope))
		case !u.Conv && !u.HasBias:
			panic(fmt.Errorf("kfac: the dense layer %s has no biases: K-FAC supports dense layers with biases", u.Scope))
		}
		if !u.Conv {
			b := u.Input.Shape().Dimensions[0]
			un.patches = Concatenate([]*Node{u.Input, Ones(u.Input.Graph(), shapes.Make(u.Input.DType(), b, 1))}, 1)
			un.t = 1
		} else {
			d := u.Output.Shape().Dimensions
			un.t = d[1] * d[2]
			p := layers.Im2Col(u.Input, u.Geometry)
			kk := p.Shape().Dimensions[3]
			un.patches = Reshape(p, d[0]*un.t, kk)
			z := MatMul(un.patches, Reshape(u.Kernel, kk, d[3]))
			un.xhat = Mul(Sub(z, Reshape(u.Mean, 1, d[3])), Reshape(u.InvSigma, 1, d[3]))
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
		outs := exec.MustExec(tensors.FromFlatDataAndDimensions(set.Images[start*data.ImageSize:(start+n)*data.ImageSize], n, arch.Input.Height, arch.Input.Width, arch.Input.Channels),
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

type unitNodes struct {
	unit    layers.Unit
	patches *Node // [B*T, in]
	xhat    *Node // [B*T, out] (conv only)
	t       int
}

// Compute accumulates the factors over set for the network (frozen
// batch-norm statistics), in float64 on the host.
func Compute(be backends.Backend, net *model.Network, set *data.Set, opts Options) (*Factors, error) {
	if set.Len() == 0 {
		return nil, errors.New("kfac: empty training set")
	}
	bs := opts.batchSize(set.Len())
	arch := net.Arch
	var units []unitNodes
	arch = arch.WithProbe(probe(&units))
	f := &Factors{}
	var sums [][]float64 // per unit: A sum, G sum, BN sums (3*out)
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
					d := u.unit.Output.Shape().Dimensions
					out := d[len(d)-1]
					g := Reshape(grads[i], b*u.t, out)
					gs := g
					if u.unit.Conv {
						gs = Mul(g, Reshape(u.unit.Scale, 1, out))
						if reduce {
							gs = ReduceSum(Reshape(gs, b, u.t, out), 1) // [B, out]
						}
					}
					gg := MatMul(Transpose(gs, 0, 1), gs)
					if gSum[i] == nil {
						gSum[i] = gg
					} else {
						gSum[i] = Add(gSum[i], gg)
					}
					if u.unit.Conv {
						// Per sample: u1 = sum_t g xhat (d/dgamma), u2 = sum_t g (d/dbeta).
						u1 := ReduceSum(Reshape(Mul(g, u.xhat), b, u.t, out), 1)
						u2 := ReduceSum(Reshape(g, b, u.t, out), 1)
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
				p := u.patches
				if reduce && u.unit.Conv {
					kk := p.Shape().Dimensions[1]
					p = ReduceMean(Reshape(p, b, u.t, kk), 1) // [B, in]
				}
				res = append(res, MatMul(Transpose(p, 0, 1), p), gSum[i])
				if bnSum[i] != nil {
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
		d := u.unit.Output.Shape().Dimensions
		out := d[len(d)-1]
		in := u.patches.Shape().Dimensions[1]
		fu := &Unit{Scope: u.unit.Scope, BNScope: u.unit.BNScope, IsHead: !u.unit.Conv, In: in, Out: out}
		a := sums[k]
		g := sums[k+1]
		k += 2
		fu.A = mat.NewSymDense(in, nil)
		for i := range in {
			for j := i; j < in; j++ {
				fu.A.SetSym(i, j, a[i*in+j]/n)
			}
		}
		fu.G = mat.NewSymDense(out, nil)
		for i := range out {
			for j := i; j < out; j++ {
				t := float64(u.t)
				if !opts.Expand {
					t = 1
				}
				fu.G.SetSym(i, j, 2*g[i*out+j]/(n*t))
			}
		}
		if u.unit.Conv {
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

package kfac

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/model"
)

// CorrectEigenvalues replaces, for every Kronecker block, the eigenvalues
// a_i g_j of A (x) G by the exact second moments of the per-sample
// gradients in the same eigenbasis (EK-FAC, George et al. 2018):
//
//	S_ij = (2/N) sum_n sum_c ((U_A^T grad_W f_c(x_n) U_G)_ij)^2,
//
// the diagonal of the exact block F in the Kronecker eigenbasis, so the
// preconditioner keeps the cheap eigenbasis but gets each direction's
// curvature (and the block's trace) right. It costs one more pass over the
// data, with C backward passes per batch (or one, Options.MonteCarlo).
func (f *Factors) CorrectEigenvalues(be backends.Backend, net *model.Network, set *data.Set, opts Options) error {
	bases := make([][2]*mat.Dense, len(f.Units))
	for i, u := range f.Units {
		ua, _, ug, _, err := u.eigenbases()
		if err != nil {
			return err
		}
		bases[i] = [2]*mat.Dense{ua, ug}
	}
	bs := opts.batchSize(set.Len())
	arch := net.Arch
	var units []unitNodes
	arch = arch.WithProbe(probe(&units))
	var sums [][]float64
	err := model.TryCatch(func() {
		exec := context.MustNewExec(be, net.Ctx, func(ctx *context.Context, x, noise *Node) []*Node {
			units = units[:0]
			z := arch.Logits(ctx, x, model.Eval)
			if len(units) != len(f.Units) {
				panic(fmt.Errorf("kfac: the network has %d units, the factors %d", len(units), len(f.Units)))
			}
			res := make([]*Node, len(units))
			eigenbasisGradients(z, cotangents(z, noise, opts.MonteCarlo), units, bases, func(_, i int, pg, _, _ *Node) {
				sq := ReduceSum(Square(pg), 0)
				if res[i] == nil {
					res[i] = sq
				} else {
					res[i] = Add(res[i], sq)
				}
			})
			return res
		})
		defer exec.Finalize()
		bar := progress.New(opts.Progress, "kfac eigenvalue correction", set.Len(), "img")
		sums = accumulate(exec, set, arch, bs, opts.Seed+1, bar)
		bar.Finish()
	})
	if err != nil {
		return err
	}
	n := float64(set.Len())
	for i, u := range f.Units {
		u.S = mat.NewDense(u.In, u.Out, nil)
		for k, v := range sums[i] {
			u.S.Set(k/u.Out, k%u.Out, 2*v/n)
		}
	}
	return nil
}

// eigenbasisGradients computes, for every cotangent (one per class, or the
// Monte-Carlo noise) and every unit, the per-sample gradients of
// <z, cotangent> with respect to the unit's parameter matrix in its
// Kronecker eigenbasis, pg [B, in, out] = sum_t (U_A^T a_t)(U_G^T s g_t)^T,
// and for convolutions the per-sample batch-norm gradients
// u1 = sum_t g_t xhat_t (gamma) and u2 = sum_t g_t (beta), [B, out]; it
// calls emit with the cotangent's and the unit's indices.
func eigenbasisGradients(z *Node, cots []*Node, units []unitNodes, bases [][2]*mat.Dense, emit func(c, i int, pg, u1, u2 *Node)) {
	outs := make([]*Node, len(units))
	for i, u := range units {
		outs[i] = u.unit.Output
	}
	b := z.Shape().Dimensions[0]
	proj := make([]*Node, len(units)) // patches in the A eigenbasis, [B, T, in]
	for i, u := range units {
		ua := ConvertDType(Const(z.Graph(), dense32(bases[i][0])), z.DType())
		in := u.patches.Shape().Dimensions[1]
		proj[i] = Reshape(MatMul(u.patches, ua), b, u.t, in)
	}
	for c, cot := range cots {
		grads := Gradient(ReduceAllSum(Mul(z, cot)), outs...)
		for i, u := range units {
			d := u.unit.Output.Shape().Dimensions
			out := d[len(d)-1]
			g := Reshape(grads[i], b*u.t, out)
			gs := g
			var u1, u2 *Node
			if u.unit.Conv {
				gs = Mul(g, Reshape(u.unit.Scale, 1, out))
				u1 = ReduceSum(Reshape(Mul(g, u.xhat), b, u.t, out), 1)
				u2 = ReduceSum(Reshape(g, b, u.t, out), 1)
			}
			ug := ConvertDType(Const(z.Graph(), dense32(bases[i][1])), z.DType())
			gp := Reshape(MatMul(gs, ug), b, u.t, out)
			pg := DotGeneral(proj[i], []int{1}, []int{0}, gp, []int{1}, []int{0}) // [B, in, out]
			emit(c, i, pg, u1, u2)
		}
	}
}

func dense32(m *mat.Dense) [][]float32 {
	r, c := m.Dims()
	out := make([][]float32, r)
	for i := range r {
		out[i] = make([]float32, c)
		for j := range c {
			out[i][j] = float32(m.At(i, j))
		}
	}
	return out
}

package kfac

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/model"
)

// Gradients are per-sample, per-output gradients grad_w f_c(x_i) of a set
// (row i*C+c), kept in the Kronecker eigenbasis of a DampedInverse: for
// each unit its parameter matrix U_A^T V U_G (in*out values), then for
// convolutions the batch-norm gradients (gamma, then beta). Inner products
// through the inverse are then weighted dot products.
type Gradients struct {
	Rows, Width int
	Data        []float32 // Rows x Width, row-major
}

// ProjectGradients computes the Gradients of every image of set at w0
// (one backward pass per output and batch).
func (inv *DampedInverse) ProjectGradients(be backends.Backend, net *model.Network, set *data.Set, opts Options) (*Gradients, error) {
	bases := make([][2]*mat.Dense, len(inv.units))
	width := 0
	for i, u := range inv.units {
		bases[i] = [2]*mat.Dense{u.ua, u.ug}
		width += u.In * u.Out
		if !u.IsHead {
			width += 2 * u.Out
		}
	}
	cfg := net.Config
	classes := cfg.NumClasses
	var units []unitNodes
	cfg.Probe = probe(&units)
	g := &Gradients{Rows: set.Len() * classes, Width: width}
	g.Data = make([]float32, 0, g.Rows*width)
	bs := opts.batchSize(set.Len())
	err := model.TryCatch(func() {
		exec := context.MustNewExec(be, net.Ctx, func(ctx *context.Context, x *Node) *Node {
			units = units[:0]
			z := cfg.Logits(ctx, x, model.Eval)
			if len(units) != len(inv.units) {
				panic(fmt.Errorf("kfac: the network has %d units, the inverse %d", len(units), len(inv.units)))
			}
			b := x.Shape().Dimensions[0]
			perClass := make([][]*Node, classes)
			eigenbasisGradients(z, cotangents(z, nil, false), units, bases, func(c, _ int, pg, u1, u2 *Node) {
				perClass[c] = append(perClass[c], Reshape(pg, b, -1))
				if u1 != nil {
					perClass[c] = append(perClass[c], u1, u2)
				}
			})
			rows := make([]*Node, classes)
			for c, parts := range perClass {
				rows[c] = Concatenate(parts, 1) // [B, width]
			}
			return Stack(rows, 1) // [B, C, width]: row i*C+c after flattening
		})
		defer exec.Finalize()
		bar := progress.New(opts.Progress, "kfac gradients", set.Len(), "img")
		for start := 0; start < set.Len(); start += bs {
			n := min(bs, set.Len()-start)
			x := tensors.FromFlatDataAndDimensions(set.Images[start*data.ImageSize:(start+n)*data.ImageSize], n, cfg.Height, cfg.Width, cfg.Channels)
			g.Data = append(g.Data, tensors.MustCopyFlatData[float32](exec.MustExec(x)[0])...)
			bar.Add(n)
		}
		bar.Finish()
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// InnerProducts returns the matrix of g_a^T (F_kfac + d I)^-1 g_b for every
// row a of ga and b of gb, in float64.
func (inv *DampedInverse) InnerProducts(ga, gb *Gradients) (*mat.Dense, error) {
	if ga.Width != gb.Width {
		return nil, fmt.Errorf("kfac: gradients of widths %d and %d", ga.Width, gb.Width)
	}
	w := ga.Width
	// T(b): eigen-direction entries divided by (eigenvalue + d), batch-norm
	// pairs multiplied by their 2x2 inverse.
	tb := mat.NewDense(gb.Rows, w, nil)
	for r := range gb.Rows {
		row := gb.Data[r*w : (r+1)*w]
		off := 0
		for _, u := range inv.units {
			for j := range u.In {
				for k := range u.Out {
					tb.Set(r, off+j*u.Out+k, float64(row[off+j*u.Out+k])/(u.eigenvalue(j, k)+inv.Damping))
				}
			}
			off += u.In * u.Out
			if u.IsHead {
				continue
			}
			for o, m := range u.bnInv {
				vg, vb := float64(row[off+o]), float64(row[off+u.Out+o])
				tb.Set(r, off+o, m[0]*vg+m[1]*vb)
				tb.Set(r, off+u.Out+o, m[1]*vg+m[2]*vb)
			}
			off += 2 * u.Out
		}
	}
	a := mat.NewDense(ga.Rows, w, nil)
	for r := range ga.Rows {
		for k, v := range ga.Data[r*w : (r+1)*w] {
			a.Set(r, k, float64(v))
		}
	}
	var out mat.Dense
	out.Mul(a, tb.T())
	return &out, nil
}

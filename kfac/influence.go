package kfac

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/model"
)

// Gradients are per-sample, per-output gradients grad_w f_c(x_i) of a set
// (row i*C+c), kept in the Kronecker eigenbasis of a DampedInverse: for
// each unit its weight matrix U_A^T V U_G (In*Out values, none for a batch
// norm alone), then, for units with a batch norm, the batch-norm gradients
// (Out for gamma, then Out for beta). Inner products through the inverse
// are then weighted dot products.
type Gradients struct {
	Rows, Width int
	Data        []float32 // Rows x Width, row-major
}

// ProjectGradients computes the Gradients of every image of set at w0
// (one backward pass per output and batch).
func (inv *DampedInverse) ProjectGradients(be backends.Backend, net *model.Network, set *data.Set, opts Options) (*Gradients, error) {
	g := &Gradients{Rows: set.Len() * net.NumClasses(), Width: inv.GradientWidth()}
	g.Data = make([]float32, 0, g.Rows*g.Width)
	err := inv.EachGradientBatch(be, net, set, opts, func(_, _ int, rows []float32) error {
		g.Data = append(g.Data, rows...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// GradientWidth is the number of values of one gradient row in the
// Kronecker eigenbasis: the number of trainable parameters.
func (inv *DampedInverse) GradientWidth() int {
	width := 0
	for _, u := range inv.units {
		width += u.In * u.Out
		if u.BNScope != "" {
			width += 2 * u.Out
		}
	}
	return width
}

// EachGradientBatch streams the per-sample, per-output gradients of set in
// the Kronecker eigenbasis (the layout of Gradients), one batch at a time:
// fn gets the batch's first image, its size n and rows [n*C, width]
// (reused after fn returns). An error from fn stops the pass.
func (inv *DampedInverse) EachGradientBatch(be backends.Backend, net *model.Network, set *data.Set, opts Options, fn func(start, n int, rows []float32) error) error {
	if err := net.CheckSet(set); err != nil {
		return err
	}
	bases := make([][2]*mat.Dense, len(inv.units))
	factors := make([]*Unit, len(inv.units))
	for i, u := range inv.units {
		bases[i] = [2]*mat.Dense{u.ua, u.ug}
		factors[i] = u.Unit
	}
	arch := net.Arch
	classes := arch.NumClasses()
	var units []unitNodes
	arch = arch.WithProbe(probe(&units))
	bs := opts.batchSize(set.Len())
	var fnErr error
	err := model.TryCatch(func() {
		exec := context.MustNewExec(be, net.Ctx, func(ctx *context.Context, x *Node) *Node {
			units = units[:0]
			z := arch.Logits(ctx, x, model.Eval)
			if err := matchUnits(factors, units); err != nil {
				panic(err)
			}
			b := x.Shape().Dimensions[0]
			perClass := make([][]*Node, classes)
			eigenbasisGradients(z, cotangents(z, nil, false), units, bases, func(c, _ int, pg, u1, u2 *Node) {
				if pg != nil {
					perClass[c] = append(perClass[c], Reshape(pg, b, -1))
				}
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
		defer bar.Finish()
		var buf []float32
		for start := 0; start < set.Len(); start += bs {
			n := min(bs, set.Len()-start)
			x := model.ImageBatch(set, start, n)
			out := exec.MustExec(x)[0]
			if size := out.Shape().Size(); cap(buf) < size {
				buf = make([]float32, size)
			} else {
				buf = buf[:size]
			}
			out.MustConstFlatData(func(flat any) { copy(buf, flat.([]float32)) })
			out.FinalizeAll()
			if fnErr = fn(start, n, buf); fnErr != nil {
				return
			}
			bar.Add(n)
		}
	})
	if err != nil {
		return err
	}
	return fnErr
}

// Whiten multiplies gradient rows (the layout of Gradients, width values
// each) in place by (F_kfac + d I)^-1/2: eigen-direction entries are divided
// by sqrt(eigenvalue + d), batch-norm pairs multiplied by the inverse square
// root of their 2x2 block. Inner products of whitened rows are then
// g_a^T (F_kfac + d I)^-1 g_b, and sums of them can be sketched.
func (inv *DampedInverse) Whiten(rows []float32) error {
	width := inv.GradientWidth()
	if len(rows)%width != 0 {
		return fmt.Errorf("kfac: %d gradient values are not rows of width %d", len(rows), width)
	}
	scale := make([]float32, 0, width)
	type pair struct {
		gamma, beta int // offsets of a channel's batch-norm entries
		m           [3]float64
	}
	var pairs []pair
	off := 0
	for _, u := range inv.units {
		for j := range u.In {
			for k := range u.Out {
				scale = append(scale, float32(1/math.Sqrt(u.eigenvalue(j, k)+inv.Damping)))
			}
		}
		off += u.In * u.Out
		if u.BNScope == "" {
			continue
		}
		for o, blk := range u.BN {
			pairs = append(pairs, pair{off + o, off + u.Out + o, pow2x2(blk[0]+inv.Damping, blk[1], blk[2]+inv.Damping, -0.5)})
		}
		for range 2 * u.Out {
			scale = append(scale, 1) // batch-norm entries: mixed by pairs
		}
		off += 2 * u.Out
	}
	for r := 0; r < len(rows); r += width {
		row := rows[r : r+width]
		for k, s := range scale {
			row[k] *= s
		}
		for _, p := range pairs {
			vg, vb := float64(row[p.gamma]), float64(row[p.beta])
			row[p.gamma] = float32(p.m[0]*vg + p.m[1]*vb)
			row[p.beta] = float32(p.m[1]*vg + p.m[2]*vb)
		}
	}
	return nil
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
			if u.BNScope == "" {
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

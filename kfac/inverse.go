package kfac

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/lqf-go/lqf/data"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// DampedInverse applies (F_kfac + damping I)^-1 exactly, block by block: a
// Kronecker block in the eigenbases of its factors,
//
//	(A (x) G + d I)^-1 vec(V) = vec(U_A [(U_A^T V U_G) / (a g^T + d)] U_G^T),
//
// with A = U_A diag(a) U_A^T and G = U_G diag(g) U_G^T (negative round-off
// eigenvalues of the positive semi-definite factors set to 0), V [In, Out]
// a unit's weights with its biases as a last row, and each batch-norm
// channel's 2x2 block directly.
type DampedInverse struct {
	Damping   float64
	units     []*inverseUnit
	byScope   map[string]*inverseUnit
	byBNScope map[string]*inverseUnit
}

type inverseUnit struct {
	*Unit
	ua, ug   *mat.Dense // eigenvectors (columns); nil for a batch norm alone
	ea, eg   []float64  // eigenvalues
	bnInv    [][3]float64
	constant map[*Graph]*graphConstants
}

// graphConstants are a unit's inverse as constants of one graph: U_A [in, in],
// U_G [out, out] and 1/(a g^T + d) [in, out] (nil for a batch norm alone),
// and the entries {a, b, c} of each channel's inverse 2x2 batch-norm block
// [[a, b], [b, c]] as three [out] vectors (nil without a batch norm).
type graphConstants struct {
	ua, ug, scale *Node
	bn            [3]*Node
}

// Invert eigendecomposes every factor (gonum, float64) for damping d > 0.
func (f *Factors) Invert(d float64) (*DampedInverse, error) {
	if d <= 0 {
		return nil, fmt.Errorf("kfac: damping %g must be > 0", d)
	}
	inv := &DampedInverse{Damping: d, byScope: map[string]*inverseUnit{}, byBNScope: map[string]*inverseUnit{}}
	for _, u := range f.Units {
		iu := &inverseUnit{Unit: u, constant: map[*Graph]*graphConstants{}}
		if u.kron() {
			var err error
			if iu.ua, iu.ea, iu.ug, iu.eg, err = u.eigenbases(); err != nil {
				return nil, err
			}
		}
		for _, b := range u.BN {
			// Inverse of [[gg + d, gb], [gb, bb + d]].
			p, q, r := b[0]+d, b[1], b[2]+d
			det := p*r - q*q
			iu.bnInv = append(iu.bnInv, [3]float64{r / det, -q / det, p / det})
		}
		inv.units = append(inv.units, iu)
		if u.Scope != "" {
			inv.byScope[u.Scope] = iu
		}
		if u.BNScope != "" {
			inv.byBNScope[u.BNScope] = iu
		}
	}
	return inv, nil
}

func eigen(s *mat.SymDense) (*mat.Dense, []float64, error) {
	v, vals, err := linalg.SymEigen(s)
	if err != nil {
		return nil, nil, err
	}
	for i, x := range vals {
		if x < 0 { // round-off of a positive semi-definite factor
			vals[i] = 0
		}
	}
	return v, vals, nil
}

// eigenbases returns the eigendecompositions of the unit's factors A and
// G, computed on first use and kept: EK-FAC and every damping of Invert
// share them (A and G do not change after Compute). A unit without weights
// (a batch norm alone) has none.
func (u *Unit) eigenbases() (ua *mat.Dense, ea []float64, ug *mat.Dense, eg []float64, err error) {
	if !u.kron() {
		return nil, nil, nil, nil, fmt.Errorf("kfac: the unit %s has no Kronecker block", u.Name())
	}
	if u.eig == nil {
		var e unitEigen
		if e.ua, e.ea, err = eigen(u.A); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("kfac: %s A: %w", u.Name(), err)
		}
		if e.ug, e.eg, err = eigen(u.G); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("kfac: %s G: %w", u.Name(), err)
		}
		u.eig = &e
	}
	return u.eig.ua, u.eig.ea, u.eig.ug, u.eig.eg, nil
}

// unitEigen caches a unit's factor eigendecompositions.
type unitEigen struct {
	ua, ug *mat.Dense
	ea, eg []float64
}

// eigenvalue is the curvature of eigen-direction (i, j): a_i g_j, or the
// EK-FAC corrected S_ij.
func (u *inverseUnit) eigenvalue(i, j int) float64 {
	if u.S != nil {
		return u.S.At(i, j)
	}
	return u.ea[i] * u.eg[j]
}

// applyBlock returns (A (x) G + d I)^-1 applied to V [in, out] (row-major).
func (u *inverseUnit) applyBlock(v []float64, d float64) []float64 {
	return u.applyBlockPower(v, d, -1)
}

// applyBlockPower returns (A (x) G + d I)^power applied to V [in, out].
func (u *inverseUnit) applyBlockPower(v []float64, d, power float64) []float64 {
	V := mat.NewDense(u.In, u.Out, v)
	var t, w mat.Dense
	t.Mul(u.ua.T(), V)
	w.Mul(&t, u.ug)
	for i := range u.In {
		for j := range u.Out {
			w.Set(i, j, w.At(i, j)*math.Pow(u.eigenvalue(i, j)+d, power))
		}
	}
	t.Mul(u.ua, &w)
	var out mat.Dense
	out.Mul(&t, u.ug.T())
	return append([]float64(nil), out.RawMatrix().Data...)
}

// lookup says which block a parameter (scope, name) belongs to: the
// Kronecker block of a unit's weights ("kernel" of a convolution, "weights"
// of a dense layer) and biases ("biases", when the unit has them), or the
// 2x2 blocks of a batch norm ("gamma", "beta"); nil for none.
func (inv *DampedInverse) lookup(scope, name string) (u *inverseUnit, kind string) {
	switch name {
	case "kernel", "weights":
		if u := inv.byScope[scope]; u != nil && u.IsHead == (name == "weights") {
			return u, "weights"
		}
	case "biases":
		if u := inv.byScope[scope]; u != nil && u.HasBias {
			return u, name
		}
	case "gamma", "beta":
		if u := inv.byBNScope[scope]; u != nil {
			return u, name
		}
	}
	return nil, ""
}

// Apply returns (F_kfac + d I)^-1 v for a flat vector v over the network's
// trainable parameters (in the order of Network.TrainableVariables).
func (inv *DampedInverse) Apply(net *model.Network, v []float64) ([]float64, error) {
	return inv.ApplyPower(net, v, -1)
}

// ApplyPower returns (F_kfac + d I)^power v (power -1: the inverse; -1/2:
// the symmetric preconditioner of spectra). Every trainable parameter must
// be in a unit's block.
func (inv *DampedInverse) ApplyPower(net *model.Network, v []float64, power float64) ([]float64, error) {
	vars := net.TrainableVariables()
	offsets := map[string]int{}
	off := 0
	for _, p := range vars {
		offsets[p.ScopeAndName()] = off
		off += p.Shape().Size()
	}
	if off != len(v) {
		return nil, fmt.Errorf("kfac: %d values for %d parameters", len(v), off)
	}
	out := make([]float64, len(v))
	done := make([]bool, len(v))
	d := inv.Damping
	for _, u := range inv.units {
		if u.kron() {
			idx, err := u.blockIndex(offsets)
			if err != nil {
				return nil, err
			}
			block := make([]float64, len(idx))
			for k, i := range idx {
				block[k] = v[i]
			}
			for k, x := range u.applyBlockPower(block, d, power) {
				out[idx[k]] = x
				done[idx[k]] = true
			}
		}
		if u.BNScope == "" {
			continue
		}
		g, okg := offsets[u.BNScope+"/gamma"]
		b, okb := offsets[u.BNScope+"/beta"]
		if !okg || !okb {
			return nil, fmt.Errorf("kfac: the batch norm %s has no trainable gamma and beta", u.BNScope)
		}
		for o, blk := range u.BN {
			m := pow2x2(blk[0]+d, blk[1], blk[2]+d, power)
			vg, vb := v[g+o], v[b+o]
			out[g+o] = m[0]*vg + m[1]*vb
			out[b+o] = m[1]*vg + m[2]*vb
		}
		markDone(done, g, u.Out)
		markDone(done, b, u.Out)
	}
	off = 0
	for _, p := range vars {
		for i := off; i < off+p.Shape().Size(); i++ {
			if !done[i] {
				return nil, fmt.Errorf("kfac: parameter %s (value %d) is in no K-FAC block", p.ScopeAndName(), i-off)
			}
		}
		off += p.Shape().Size()
	}
	return out, nil
}

// pow2x2 returns the entries {a, b, c} of [[p, q], [q, r]]^power for a
// symmetric positive definite 2x2 matrix, through its eigendecomposition.
func pow2x2(p, q, r, power float64) [3]float64 {
	mean, diff := (p+r)/2, (p-r)/2
	rad := math.Hypot(diff, q)
	l1, l2 := mean+rad, mean-rad
	// Unit eigenvector of l1: (cos t, sin t) with tan 2t = 2q/(p-r).
	t := 0.5 * math.Atan2(q, diff)
	c, s := math.Cos(t), math.Sin(t)
	f1, f2 := math.Pow(l1, power), math.Pow(l2, power)
	return [3]float64{f1*c*c + f2*s*s, (f1 - f2) * c * s, f1*s*s + f2*c*c}
}

func markDone(done []bool, start, n int) {
	for i := start; i < start+n; i++ {
		done[i] = true
	}
}

// Precondition implements model.Preconditioner for the linearized network:
// params are the displacement variables dw (under model.ScopeTangent) and
// grads their gradients; each block is multiplied by (F_kfac + d I)^-1: a
// unit's weights and biases together as V [In, Out] (the kernel or weights
// reshaped, the biases as a last row), each batch-norm channel's (gamma,
// beta) pair by its 2x2 inverse. Parameters of no unit are left unchanged.
// It panics if only part of a block is among params.
func (inv *DampedInverse) Precondition(ctx *context.Context, params []*context.Variable, grads []*Node) []*Node {
	out := append([]*Node(nil), grads...)
	prefix := context.ScopeSeparator + model.ScopeTangent
	type parts struct{ w, b int } // indices in params, -1: absent
	blocks := map[*inverseUnit]*parts{}
	var order []*inverseUnit // first-seen order, for a deterministic graph
	bns := map[*inverseUnit][2]int{}
	var bnOrder []*inverseUnit
	for i, p := range params {
		scope := strings.TrimPrefix(p.Scope(), prefix)
		u, kind := inv.lookup(scope, p.Name())
		if u == nil {
			continue
		}
		switch kind {
		case "weights", "biases":
			h := blocks[u]
			if h == nil {
				h = &parts{-1, -1}
				blocks[u] = h
				order = append(order, u)
			}
			if kind == "weights" {
				h.w = i
			} else {
				h.b = i
			}
		case "gamma", "beta":
			pair, seen := bns[u]
			if !seen {
				bnOrder = append(bnOrder, u)
			}
			if kind == "gamma" {
				pair[0] = i + 1
			} else {
				pair[1] = i + 1
			}
			bns[u] = pair
		}
	}
	for _, u := range order {
		h := blocks[u]
		if h.w < 0 || (u.HasBias && h.b < 0) {
			panic(fmt.Errorf("kfac: the unit %s needs its weights and biases trained together (K-FAC block [%d, %d])", u.Name(), u.In, u.Out))
		}
		g := grads[h.w]
		c := u.constants(g.Graph(), inv.Damping, g.DType())
		if !u.HasBias {
			out[h.w] = Reshape(applyGraph(Reshape(g, u.In, u.Out), c), g.Shape().Dimensions...)
			continue
		}
		v := Concatenate([]*Node{Reshape(g, u.In-1, u.Out), Reshape(grads[h.b], 1, u.Out)}, 0)
		r := applyGraph(v, c)
		out[h.w] = Reshape(Slice(r, AxisRange(0, u.In-1), AxisRange()), g.Shape().Dimensions...)
		out[h.b] = Reshape(Slice(r, AxisRange(u.In-1, u.In), AxisRange()), u.Out)
	}
	for _, u := range bnOrder {
		pair := bns[u]
		if pair[0] == 0 || pair[1] == 0 {
			panic(fmt.Errorf("kfac: %s needs both gamma and beta trained", u.BNScope))
		}
		gi, bi := pair[0]-1, pair[1]-1
		c := u.constants(grads[gi].Graph(), inv.Damping, grads[gi].DType())
		m0, m1, m2 := c.bn[0], c.bn[1], c.bn[2]
		vg, vb := grads[gi], grads[bi]
		out[gi] = Add(Mul(m0, vg), Mul(m1, vb))
		out[bi] = Add(Mul(m1, vg), Mul(m2, vb))
	}
	return out
}

// applyGraph is applyBlock in the graph: U_A [(U_A^T V U_G) / (a g^T + d)] U_G^T.
func applyGraph(v *Node, c *graphConstants) *Node {
	w := MatMul(MatMul(Transpose(c.ua, 0, 1), v), c.ug)
	return MatMul(MatMul(c.ua, Mul(w, c.scale)), Transpose(c.ug, 0, 1))
}

// constants returns the unit's inverse as constants of graph g (built once
// per graph).
func (u *inverseUnit) constants(g *Graph, d float64, dtype dtypes.DType) *graphConstants {
	if c, ok := u.constant[g]; ok {
		return c
	}
	c := &graphConstants{}
	if u.kron() {
		scale := make([][]float32, u.In)
		for i := range u.In {
			scale[i] = make([]float32, u.Out)
			for j := range u.Out {
				scale[i][j] = float32(1 / (u.eigenvalue(i, j) + d))
			}
		}
		c.ua = ConvertDType(Const(g, dense32(u.ua)), dtype)
		c.ug = ConvertDType(Const(g, dense32(u.ug)), dtype)
		c.scale = ConvertDType(Const(g, scale), dtype)
	}
	if u.bnInv != nil {
		for k := range 3 {
			col := make([]float32, u.Out)
			for o := range u.Out {
				col[o] = float32(u.bnInv[o][k])
			}
			c.bn[k] = ConvertDType(Const(g, col), dtype)
		}
	}
	u.constant[g] = c
	return c
}

// Preconditioner returns the damped inverse for lambda plus the factors'
// ExtraDamping: Factors implement model.Curvature.
func (f *Factors) Preconditioner(lambda float64) (model.Preconditioner, error) {
	return f.Invert(lambda + f.ExtraDamping)
}

// CurvatureFunc returns the K-FAC curvature for finetune.Options:
// factors computed once per fine-tuning run, at w0 with the task's head,
// whose preconditioner for the loss's lambda damps with lambda +
// extraDamping (RecommendedDamping, with Recommended factors, is lqf's
// default).
func CurvatureFunc(opts Options, extraDamping float64) model.CurvatureFunc {
	return func(be backends.Backend, net *model.Network, train *data.Set) (model.Curvature, error) {
		f, err := Compute(be, net, train, opts)
		if err != nil {
			return nil, err
		}
		if opts.EigenCorrection {
			if err := f.CorrectEigenvalues(be, net, train, opts); err != nil {
				return nil, err
			}
		}
		f.ExtraDamping = extraDamping
		return f, nil
	}
}

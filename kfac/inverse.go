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
// with A = U_A diag(a) U_A^T and G = U_G diag(g) U_G^T, and each batch-norm
// channel's 2x2 block directly.
type DampedInverse struct {
	Damping   float64
	units     []*inverseUnit
	byScope   map[string]*inverseUnit
	byBNScope map[string]*inverseUnit
}

type inverseUnit struct {
	*Unit
	ua, ug   *mat.Dense // eigenvectors (columns)
	ea, eg   []float64  // eigenvalues
	bnInv    [][3]float64
	constant map[*Graph][]*Node // ua, ug, 1/(a g^T + d), bnInv as graph constants
}

// Invert eigendecomposes every factor (gonum, float64) for damping d > 0.
func (f *Factors) Invert(d float64) (*DampedInverse, error) {
	if d <= 0 {
		return nil, fmt.Errorf("kfac: damping %g must be > 0", d)
	}
	inv := &DampedInverse{Damping: d, byScope: map[string]*inverseUnit{}, byBNScope: map[string]*inverseUnit{}}
	for _, u := range f.Units {
		iu := &inverseUnit{Unit: u, constant: map[*Graph][]*Node{}}
		var err error
		if iu.ua, iu.ea, iu.ug, iu.eg, err = u.eigenbases(); err != nil {
			return nil, err
		}
		for _, b := range u.BN {
			// Inverse of [[gg + d, gb], [gb, bb + d]].
			p, q, r := b[0]+d, b[1], b[2]+d
			det := p*r - q*q
			iu.bnInv = append(iu.bnInv, [3]float64{r / det, -q / det, p / det})
		}
		inv.units = append(inv.units, iu)
		inv.byScope[u.Scope] = iu
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
// share them (A and G do not change after Compute).
func (u *Unit) eigenbases() (ua *mat.Dense, ea []float64, ug *mat.Dense, eg []float64, err error) {
	if u.eig == nil {
		var e unitEigen
		if e.ua, e.ea, err = eigen(u.A); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("kfac: %s A: %w", u.Scope, err)
		}
		if e.ug, e.eg, err = eigen(u.G); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("kfac: %s G: %w", u.Scope, err)
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

// paramKind says which block a parameter belongs to.
func (inv *DampedInverse) lookup(scope, name string) (u *inverseUnit, kind string) {
	switch {
	case name == "kernel":
		return inv.byScope[scope], "kernel"
	case name == "gamma" || name == "beta":
		return inv.byBNScope[scope], name
	case name == "weights" || name == "biases":
		if u := inv.byScope[scope]; u != nil && u.IsHead {
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
// the symmetric preconditioner of spectra).
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
		if u.IsHead {
			w, b := offsets[u.Scope+"/weights"], offsets[u.Scope+"/biases"]
			block := append(append([]float64(nil), v[w:w+(u.In-1)*u.Out]...), v[b:b+u.Out]...)
			r := u.applyBlockPower(block, d, power)
			copy(out[w:], r[:(u.In-1)*u.Out])
			copy(out[b:], r[(u.In-1)*u.Out:])
			markDone(done, w, (u.In-1)*u.Out)
			markDone(done, b, u.Out)
			continue
		}
		k := offsets[u.Scope+"/kernel"]
		copy(out[k:], u.applyBlockPower(v[k:k+u.In*u.Out], d, power))
		markDone(done, k, u.In*u.Out)
		g, b := offsets[u.BNScope+"/gamma"], offsets[u.BNScope+"/beta"]
		for o, blk := range u.BN {
			m := pow2x2(blk[0]+d, blk[1], blk[2]+d, power)
			vg, vb := v[g+o], v[b+o]
			out[g+o] = m[0]*vg + m[1]*vb
			out[b+o] = m[1]*vg + m[2]*vb
		}
		markDone(done, g, u.Out)
		markDone(done, b, u.Out)
	}
	for i, ok := range done {
		if !ok {
			return nil, fmt.Errorf("kfac: parameter value %d is in no block", i)
		}
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
// grads their gradients; each block is multiplied by (F_kfac + d I)^-1.
func (inv *DampedInverse) Precondition(ctx *context.Context, params []*context.Variable, grads []*Node) []*Node {
	out := append([]*Node(nil), grads...)
	prefix := context.ScopeSeparator + model.ScopeTangent
	type headParts struct{ w, b int }
	heads := map[*inverseUnit]*headParts{}
	bns := map[*inverseUnit][2]int{}
	for i, p := range params {
		scope := strings.TrimPrefix(p.Scope(), prefix)
		u, kind := inv.lookup(scope, p.Name())
		if u == nil {
			continue
		}
		g := grads[i].Graph()
		c := u.constants(g, inv.Damping, grads[i].DType())
		switch kind {
		case "kernel":
			v := Reshape(grads[i], u.In, u.Out)
			out[i] = Reshape(applyGraph(v, c), grads[i].Shape().Dimensions...)
		case "weights", "biases":
			h := heads[u]
			if h == nil {
				h = &headParts{-1, -1}
				heads[u] = h
			}
			if kind == "weights" {
				h.w = i
			} else {
				h.b = i
			}
		case "gamma", "beta":
			pair := bns[u]
			if kind == "gamma" {
				pair[0] = i + 1
			} else {
				pair[1] = i + 1
			}
			bns[u] = pair
		}
	}
	for u, h := range heads {
		if h.w < 0 || h.b < 0 {
			panic(fmt.Sprintf("kfac: head %s needs both weights and biases trained", u.Scope))
		}
		c := u.constants(grads[h.w].Graph(), inv.Damping, grads[h.w].DType())
		v := Concatenate([]*Node{grads[h.w], Reshape(grads[h.b], 1, u.Out)}, 0)
		r := applyGraph(v, c)
		out[h.w] = Slice(r, AxisRange(0, u.In-1), AxisRange())
		out[h.b] = Reshape(Slice(r, AxisRange(u.In-1, u.In), AxisRange()), u.Out)
	}
	for u, pair := range bns {
		if pair[0] == 0 || pair[1] == 0 {
			panic(fmt.Sprintf("kfac: %s needs both gamma and beta trained", u.Scope))
		}
		gi, bi := pair[0]-1, pair[1]-1
		c := u.constants(grads[gi].Graph(), inv.Damping, grads[gi].DType())
		m0, m1, m2 := c[3], c[4], c[5]
		vg, vb := grads[gi], grads[bi]
		out[gi] = Add(Mul(m0, vg), Mul(m1, vb))
		out[bi] = Add(Mul(m1, vg), Mul(m2, vb))
	}
	return out
}

// applyGraph is applyBlock in the graph: c = {U_A, U_G, 1/(a g^T + d)}.
func applyGraph(v *Node, c []*Node) *Node {
	ua, ug, scale := c[0], c[1], c[2]
	w := MatMul(MatMul(Transpose(ua, 0, 1), v), ug)
	return MatMul(MatMul(ua, Mul(w, scale)), Transpose(ug, 0, 1))
}

func (u *inverseUnit) constants(g *Graph, d float64, dtype dtypes.DType) []*Node {
	if c, ok := u.constant[g]; ok {
		return c
	}
	scale := make([][]float32, u.In)
	for i := range u.In {
		scale[i] = make([]float32, u.Out)
		for j := range u.Out {
			scale[i][j] = float32(1 / (u.eigenvalue(i, j) + d))
		}
	}
	c := []*Node{ConvertDType(Const(g, dense32(u.ua)), dtype), ConvertDType(Const(g, dense32(u.ug)), dtype), ConvertDType(Const(g, scale), dtype)}
	if u.bnInv != nil {
		for k := range 3 {
			col := make([]float32, u.Out)
			for o := range u.Out {
				col[o] = float32(u.bnInv[o][k])
			}
			c = append(c, ConvertDType(Const(g, col), dtype))
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

// CurvatureFunc returns the K-FAC curvature for model.FinetuneOptions:
// factors computed once per fine-tuning run, at w0 with the task's head.
func CurvatureFunc(opts Options) model.CurvatureFunc {
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
		f.ExtraDamping = opts.ExtraDamping
		return f, nil
	}
}

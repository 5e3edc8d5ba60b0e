package influence

import (
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/internal/lqftest"
	"github.com/lqf-go/lqf/model"
)

// exactResiduals returns e = rho a, the residuals of the exact fit.
func exactResiduals(t *testing.T, d *ntk) []float64 {
	t.Helper()
	ex, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	e := ex.Coefficients()
	for k := range e {
		e[k] *= d.ridge
	}
	return e
}

// One block covering every parameter is the exact curvature: the block
// formula (push-through on per-block kernels) must reproduce the exact
// leave-one-out (block Woodbury on the inverse of K + rho I).
func TestBlockInfluenceOneBlockIsExact(t *testing.T) {
	d := loadNTK(t)
	ex, err := NewExact(d.K, d.r, d.c, d.ridge)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ex.LeaveOneOut(d.Kx)
	if err != nil {
		t.Fatal(err)
	}
	bi, err := NewBlockInfluence(d.J, d.Jx, d.p, d.c, exactResiduals(t, d), d.ridge, []model.Block{{Start: 0, End: d.p}})
	if err != nil {
		t.Fatal(err)
	}
	got, clamped, err := bi.LeaveOneOut(LeverageExact)
	if err != nil {
		t.Fatal(err)
	}
	if clamped != 0 {
		t.Errorf("%d samples clamped with the exact curvature", clamped)
	}
	assertClose(t, "one block vs exact leave-one-out", flat(got), flat(want), 1e-8)
}

// Several blocks: compare with the primal formula on an explicit P x P
// block-diagonal A = blockdiag((2/N) J_b^T J_b + lambda I), for both
// leverage corrections.
func TestBlockInfluenceMatchesPrimal(t *testing.T) {
	d := loadNTK(t)
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	net, err := lqftest.TinyNetwork(be, d.c)
	if err != nil {
		t.Fatal(err)
	}
	blocks := model.LayerBlocks(net)
	e := exactResiduals(t, d)
	n, c, p := d.n, d.c, d.p
	lambda := 2 * d.ridge / float64(n)
	A := mat.NewDense(p, p, nil)
	for _, b := range blocks {
		for r := range n * c {
			row := d.J[r*p : (r+1)*p]
			for x := b.Start; x < b.End; x++ {
				for y := b.Start; y < b.End; y++ {
					A.Set(x, y, A.At(x, y)+2/float64(n)*float64(row[x])*float64(row[y]))
				}
			}
		}
	}
	for x := range p {
		A.Set(x, x, A.At(x, x)+lambda)
	}
	var Ainv mat.Dense
	if err := Ainv.Inverse(A); err != nil {
		t.Fatal(err)
	}
	toDense := func(J []float32, rows int) *mat.Dense {
		m := mat.NewDense(rows, p, nil)
		for r := range rows {
			for k := range p {
				m.Set(r, k, float64(J[r*p+k]))
			}
		}
		return m
	}
	Jtr, Jte := toDense(d.J, n*c), toDense(d.Jx, len(d.Jx)/p)
	var G, Ggt mat.Dense // G = (2/N) J A^-1: rows of the training outputs
	G.Mul(Jtr, &Ainv)
	G.Scale(2/float64(n), &G)
	Ggt.Mul(Jte, &Ainv)
	Ggt.Scale(2/float64(n), &Ggt)
	bi, err := NewBlockInfluence(d.J, d.Jx, p, c, e, d.ridge, blocks)
	if err != nil {
		t.Fatal(err)
	}
	for _, lev := range []Leverage{LeverageExact, LeverageNone} {
		got, _, err := bi.LeaveOneOut(lev)
		if err != nil {
			t.Fatal(err)
		}
		var want []float64
		for i := range n {
			Ji := Jtr.Slice(i*c, (i+1)*c, 0, p)
			// S_i = (2/N) J_i A^-1 J_i^T; layer blocks can push its
			// eigenvalues past 1, so (I - S_i)^-1 e_i goes through the
			// same clamped solve as K-FAC's.
			var S mat.Dense
			S.Mul(G.Slice(i*c, (i+1)*c, 0, p), Ji.T())
			sym := mat.NewSymDense(c, nil)
			for x := range c {
				for y := x; y < c; y++ {
					sym.SetSym(x, y, (S.At(x, y)+S.At(y, x))/2)
				}
			}
			wv, _, err := leverageSolve(lev, sym, e[i*c:(i+1)*c])
			if err != nil {
				t.Fatal(err)
			}
			w := mat.NewVecDense(c, wv)
			var delta mat.VecDense
			var T mat.Dense
			T.Mul(&Ggt, Ji.T())
			delta.MulVec(&T, w)
			want = append(want, delta.RawVector().Data...)
		}
		assertClose(t, "layer blocks vs primal ("+string(lev)+")", flat(got), want, 1e-7)
	}
}

func TestBlockInfluenceBadInputs(t *testing.T) {
	d := loadNTK(t)
	e := exactResiduals(t, d)
	for _, tc := range []struct {
		name   string
		blocks []model.Block
		ridge  float64
	}{
		{"no blocks", nil, d.ridge},
		{"out of range", []model.Block{{Start: 0, End: d.p + 1}}, d.ridge},
		{"overlap", []model.Block{{Start: 0, End: 10}, {Start: 5, End: 20}}, d.ridge},
		{"zero ridge", []model.Block{{Start: 0, End: d.p}}, 0},
	} {
		if _, err := NewBlockInfluence(d.J, d.Jx, d.p, d.c, e, tc.ridge, tc.blocks); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	bi, err := NewBlockInfluence(d.J, d.Jx, d.p, d.c, e, d.ridge, []model.Block{{Start: 0, End: d.p}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bi.LeaveOneOut(LeveragePaper); err == nil {
		t.Error("LeaveOneOut accepted the paper's leverage correction")
	}
}

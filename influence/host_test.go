package influence

import (
	"testing"

	"github.com/lqf-go/lqf/linalg"
)

// TestExactOnBothHosts: exact attribution (NewExact, LeaveOneOut,
// SelfInfluence, Remove) gives the same numbers, to 1e-9 relative, with
// OpenBLAS and with gonum's pure Go, on the empirical NTK of a small
// network and real images.
func TestExactOnBothHosts(t *testing.T) {
	d := loadNTK(t)
	host := linalg.HostLinearAlgebra()
	defer func() {
		if err := linalg.UseHostLinearAlgebra(host); err != nil {
			t.Error(err)
		}
	}()
	if err := linalg.UseHostLinearAlgebra("openblas"); err != nil {
		t.Skipf("OpenBLAS is not installed here (%v): nothing to compare", err)
	}
	run := func(host string) (loo, self, removed []float64) {
		if err := linalg.UseHostLinearAlgebra(host); err != nil {
			t.Fatal(err)
		}
		e, err := NewExact(d.K, d.r, d.c, d.ridge)
		if err != nil {
			t.Fatal(err)
		}
		l, err := e.LeaveOneOut(d.Kx)
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.Remove([]int{1, 3})
		if err != nil {
			t.Fatal(err)
		}
		return flat(l), flat(e.SelfInfluence()), r.Coefficients()
	}
	loo0, self0, rem0 := run("gonum")
	loo1, self1, rem1 := run("openblas")
	assertClose(t, "LeaveOneOut", loo1, loo0, 1e-9)
	assertClose(t, "SelfInfluence", self1, self0, 1e-9)
	assertClose(t, "Remove", rem1, rem0, 1e-9)
}

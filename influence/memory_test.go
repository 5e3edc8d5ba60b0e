package influence

import (
	"testing"

	"github.com/lqf-go/lqf/backend/backendtest"
	"github.com/lqf-go/lqf/internal/lqftest"
)

// TestExactMemoryMatchesArrays: the parts of ExactMemory that are arrays
// of Fit are the sizes of the arrays Fit actually holds, so the prediction
// follows the code when either changes.
func TestExactMemoryMatchesArrays(t *testing.T) {
	be := backendtest.Shared(t)
	net, sp, err := lqftest.Setup(be, 12, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Fit(be, net, sp.Train, FitOptions{Lambda: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	p := m.Problem()
	got := ExactMemory(p.N, p.C, p.P, sp.Test.Len())
	if want := int64(len(p.J)) * 4; got.JacobianRows != want {
		t.Errorf("JacobianRows %d, Fit holds %d bytes", got.JacobianRows, want)
	}
	if want := int64(len(p.K.RawSymmetric().Data)) * 8; got.Kernel != want {
		t.Errorf("Kernel %d, Fit holds %d bytes", got.Kernel, want)
	}
	if want := int64(len(m.e.ainv)) * 8; got.Inverse != want {
		t.Errorf("Inverse %d, Fit holds %d bytes", got.Inverse, want)
	}
	kt, err := m.testKernel(be, sp.Test)
	if err != nil {
		t.Fatal(err)
	}
	if r, c := kt.Dims(); got.Queries < int64(r*c)*8 {
		t.Errorf("Queries %d below the test kernel's %d bytes", got.Queries, r*c*8)
	}
	if got.Total() != got.JacobianRows+got.Kernel+got.Inverse+got.Queries+got.Work {
		t.Error("Total is not the sum of the parts")
	}
}

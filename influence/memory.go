package influence

import (
	"fmt"

	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

// Memory is the predicted peak memory, in bytes, of exact attribution in
// kernel form (Fit, then Explain or Scores) by what holds it, for N
// training samples of C outputs, a network of P parameters and T test
// images, with n = N*C kernel rows:
//
//	JacobianRows  n P 4      the training set's Jacobian rows (float32, model.Kernel.J)
//	Kernel        n^2 8      K = J J^T (float64, model.Kernel.K)
//	Inverse       n^2 8      (K + rho I)^-1 (Exact, inverted in place of a copy of K)
//	Queries       T C n 8 + N T C 8 + min(T C, 256) n 8 + the cross kernel's
//	              chunk of test Jacobian rows (model.CrossChunkBytes): the test
//	              kernel, the leave-one-out scores and LeaveOneOut's block
//	Work          linalg.Gram's float64 column block, n 2048 8, and
//	              ProcessBytes for the rest of the process (the backend and its
//	              compiled graphs, the data, the Go runtime)
//
// Everything is held at once at the peak (the queries run while J, K and
// the inverse are kept), so the peak is the sum. With P = 78k and 100 test images of 10 classes it
// is about 6.9 GiB at N = 1,000 and 25 GiB at N = 3,000.
type Memory struct {
	JacobianRows, Kernel, Inverse, Queries, Work int64
}

// ProcessBytes is Memory's allowance for everything but the attribution's
// own arrays: the Go runtime and its garbage-collection headroom, the
// backend with its compiled graphs and buffers, OpenBLAS and the data set.
// `lqf influence --task fashion --max-test 100` peaked at 3.26 GiB
// resident with --max-train 300 (1.96 GiB above its arrays), and at
// 4.24 GiB with --max-train 500 (2.04 GiB above them) once it set its Go
// memory limit to the prediction; lqf influence now sets that limit 256
// MiB lower, for the memory outside Go's heap.
const ProcessBytes = 2 << 30

// ExactMemory predicts the peak memory of exact attribution (see Memory).
func ExactMemory(n, classes, params, tests int) Memory {
	rows, tc := int64(n)*int64(classes), int64(tests)*int64(classes)
	return Memory{
		JacobianRows: rows * int64(params) * 4,
		Kernel:       rows * rows * 8,
		Inverse:      rows * rows * 8,
		Queries:      tc*rows*8 + int64(n)*tc*8 + min(tc, looBlock)*rows*8 + min(tc*int64(params)*4, model.CrossChunkBytes),
		Work:         linalg.GramBufferBytes(int(rows), params) + ProcessBytes,
	}
}

// Total is the predicted peak in bytes.
func (m Memory) Total() int64 {
	return m.JacobianRows + m.Kernel + m.Inverse + m.Queries + m.Work
}

// String is the total and its parts in GiB, for messages.
func (m Memory) String() string {
	g := func(b int64) float64 { return float64(b) / (1 << 30) }
	return fmt.Sprintf("%.1f GiB (Jacobian rows %.1f, kernel %.1f, its inverse %.1f, test queries %.1f, work %.1f)",
		g(m.Total()), g(m.JacobianRows), g(m.Kernel), g(m.Inverse), g(m.Queries), g(m.Work))
}

package model

import (
	"io"
	"time"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/progress"
	"github.com/lqf-go/lqf/linalg"
)

// Kernel is LQF's linear problem on a training set in kernel form, set up
// from the network at w0: its outputs F0, the residual targets
// R = alpha Y - F0, the per-sample Jacobian rows J and the empirical NTK
// K = J J^T, from which package linalg's closed form
// dw* = J^T (K + rho I)^-1 R, rho = lambda N / 2 (paper eq. 4), and its
// relatives (the lambda path, leave-one-out, attribution) start. It is
// the one place where lqf computes that sequence.
type Kernel struct {
	Net     *Network      // at w0, with the task's head
	Alpha   float64       // scale of the one-hot targets in R
	N, C, P int           // training samples, classes (outputs), parameters
	F0      []float32     // [N, C] outputs at w0 (frozen batch norm)
	R       []float64     // [N*C] alpha Y - F0 (linalg.Residuals)
	J       []float32     // [N*C, P] row i*C+c = grad_w f_c(x_i) (Network.JacobianRows)
	K       *mat.SymDense // [N*C, N*C] J J^T in float64 (linalg.Gram)
	// Seconds is the wall time NewKernel took (0 for a kernel set-up
	// loaded from elsewhere), for reports that share the set-up to
	// charge it to the method that needs it.
	Seconds float64
}

// NewKernel computes the Kernel of net (which must carry the task's head,
// Network.ReplaceHead) on the training set: one forward pass for F0, C
// backward passes per image for J (reported to progress), and the Gram
// matrix.
func NewKernel(be backends.Backend, net *Network, train *data.Set, alpha float64, progress io.Writer) (*Kernel, error) {
	start := time.Now()
	k := &Kernel{Net: net, Alpha: alpha, N: train.Len(), C: net.NumClasses()}
	var err error
	if k.F0, k.R, err = k.Outputs(be, train); err != nil {
		return nil, err
	}
	if k.J, k.P, err = net.JacobianRows(be, train, progress); err != nil {
		return nil, err
	}
	k.K = linalg.Gram(k.J, k.N*k.C, k.P)
	k.Seconds = time.Since(start).Seconds()
	return k, nil
}

// Outputs returns the outputs of the network at w0 on set [T, C] and their
// residuals alpha Y - f0 [T*C] (for a validation or test set, as F0 and R
// are for the training set).
func (k *Kernel) Outputs(be backends.Backend, set *data.Set) ([]float32, []float64, error) {
	f0, err := k.Net.Logits(be, set)
	if err != nil {
		return nil, nil, err
	}
	return f0, linalg.Residuals(f0, set.Labels, k.C, k.Alpha), nil
}

// Cross returns the kernel between the outputs of set and the training
// outputs, Jx J^T [T*C, N*C] (float64, linalg.CrossGram), and set's
// Jacobian rows Jx [T*C, P] (C backward passes per image, reported to
// progress).
func (k *Kernel) Cross(be backends.Backend, set *data.Set, progress io.Writer) (*mat.Dense, []float32, error) {
	jx, _, err := k.Net.JacobianRows(be, set, progress)
	if err != nil {
		return nil, nil, err
	}
	return linalg.CrossGram(jx, set.Len()*k.C, k.J, k.N*k.C, k.P), jx, nil
}

// Solve returns the closed form dw* = J^T (K + rho I)^-1 R [P] for weight
// decay lambda, rho = lambda N / 2 (linalg.SolveKernel).
func (k *Kernel) Solve(lambda float64) ([]float64, error) {
	return linalg.SolveKernel(k.J, k.N*k.C, k.P, k.K, k.R, linalg.RidgeTerm(lambda, k.N))
}

// Objective is LQF's objective (1/N) ||J dw - R||^2 + lambda/2 ||dw||^2
// at dw (linalg.Objective).
func (k *Kernel) Objective(dw []float64, lambda float64) float64 {
	return linalg.Objective(k.J, k.P, k.R, dw, lambda, k.N)
}

// CrossChunkBytes bounds the Jacobian rows CrossKernel holds at once.
const CrossChunkBytes = 256 << 20

// CrossKernel is Cross without set's Jacobian rows: they are computed a
// chunk of images at a time (at most CrossChunkBytes of rows, at least one
// image), so that set may be far larger than its rows would fit in memory.
// It returns Jx J^T [T*C, N*C]; progress counts set's images.
func (k *Kernel) CrossKernel(be backends.Backend, set *data.Set, progress io.Writer) (*mat.Dense, error) {
	return k.crossKernel(be, set, max(1, int(CrossChunkBytes/(int64(k.C)*int64(k.P)*4))), progress)
}

// crossKernel is CrossKernel with chunks of chunk images.
func (k *Kernel) crossKernel(be backends.Backend, set *data.Set, chunk int, w io.Writer) (*mat.Dense, error) {
	if set.Len() <= chunk {
		kx, _, err := k.Cross(be, set, w)
		return kx, err
	}
	c, rows := k.C, k.N*k.C
	out := mat.NewDense(set.Len()*c, rows, nil)
	bar := progress.New(w, "cross kernel", set.Len(), "img")
	for start := 0; start < set.Len(); start += chunk {
		end := min(start+chunk, set.Len())
		idx := make([]int, end-start)
		for i := range idx {
			idx[i] = start + i
		}
		kx, _, err := k.Cross(be, set.Subset(idx), nil)
		if err != nil {
			return nil, err
		}
		out.Slice(start*c, end*c, 0, rows).(*mat.Dense).Copy(kx)
		bar.Add(len(idx))
	}
	bar.Finish()
	return out, nil
}

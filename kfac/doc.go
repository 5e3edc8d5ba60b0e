// Package kfac computes the constant K-FAC curvature of the linearized
// network and uses it to precondition LQF's SGD (it plugs into
// model.FinetuneOptions.Curvature and model.TrainOptions.Preconditioner) and
// to apply (F + lambda I)^-1 to parameter vectors on the host.
//
// Because f_lin(x) = f0(x) + J(x) dw is linear in dw and the loss is
// quadratic, the Fisher equals the Gauss-Newton matrix and the Hessian, and
// it does not change during training: the Kronecker factors are computed
// once at w0 (Compute), optionally corrected in their eigenbasis (EK-FAC,
// Factors.CorrectEigenvalues), damped, and inverted exactly in the
// Kronecker eigenbasis (Factors.Invert).
//
// For influence queries, DampedInverse.ProjectGradients keeps per-sample
// gradients in the Kronecker eigenbasis and InnerProducts returns
// g_a^T (F + lambda I)^-1 g_b for whole batches. Lanczos (with Spectra)
// estimates the spectra of the exact Gauss-Newton matrix, alone or
// preconditioned.
//
// What is checked: the head's block and each batch-norm channel's block
// equal the brute-force Fisher (2/N) J^T J; EK-FAC's corrected eigenvalues
// sum to each block's exact trace; the damped inverse round-trips; the
// in-graph preconditioner equals the host one; inner products equal the
// brute force; Lanczos extremes equal a dense eigendecomposition.
package kfac

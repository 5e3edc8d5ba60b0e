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
// preconditioned. ExactBlocks is the exact curvature restricted to layer
// blocks, the ceiling of any block-diagonal approximation; CheckConvergence
// compares plain SGD, K-FAC and that ceiling on a full-batch problem.
//
// What is checked: the head's block and each batch-norm channel's block
// equal the brute-force Fisher (2/N) J^T J; EK-FAC's corrected eigenvalues
// sum to each block's exact trace; the damped inverse round-trips; the
// in-graph preconditioner equals the host one; inner products equal the
// brute force; Lanczos extremes equal a dense eigendecomposition; the
// host-side iteration of CheckConvergence reproduces the graph's SGD and,
// with the exact curvature, lands on the optimum in one Newton step.
package kfac

// Package kfac computes the constant K-FAC curvature of the linearized
// network and uses it to precondition LQF's SGD (paper Sec. 3.2: the
// update w <- w - eta P g of eq. 5 with P = (F_kfac + lambda I)^-1; it
// plugs into finetune.Options.Curvature and
// model.TrainOptions.Preconditioner) and to apply (F + lambda I)^-1 to
// parameter vectors on the host (DampedInverse; the preconditioned
// validation gradient of eq. 12, package weightdecay).
//
// Because f_lin(x) = f0(x) + J(x) dw (eq. 1) is linear in dw and the loss
// of eq. 3 is quadratic, the Fisher equals the Gauss-Newton matrix and the
// Hessian, and it does not change during training (Sec. 3.2): the
// Kronecker factors (K-FAC, Martens & Grosse 2015; for convolutions
// K-FAC-reduce or the KFC factors of Grosse & Martens 2016) are computed
// once at w0 (Compute), optionally corrected in their eigenbasis (EK-FAC,
// George et al. 2018, the implementation the paper uses, Sec. 4;
// Factors.CorrectEigenvalues), damped, and inverted exactly in the
// Kronecker eigenbasis (Factors.Invert).
//
// For influence queries, DampedInverse.ProjectGradients keeps per-sample
// gradients in the Kronecker eigenbasis and InnerProducts returns
// g_a^T (F + lambda I)^-1 g_b for whole batches, the kernel of eq. 8
// (Sec. 3.4, Appendix A.3). Lanczos (with Spectra) estimates the spectra of
// the exact Gauss-Newton matrix, alone or preconditioned (Fig. 3).
// ExactBlocks is the exact curvature restricted to layer blocks, the
// ceiling of any block-diagonal approximation; CheckConvergence compares
// plain SGD, K-FAC and that ceiling on a full-batch problem (the rate
// (I - eta P H)^t of eq. 6).
//
// It works on any layer graph (layers.Net): every unit that layers reports
// gets a block. A convolution (with or without its own bias, with or
// without a batch norm folded into it) or a dense layer (with or without
// biases) gets a Kronecker block A (x) G over its weights, its biases an
// extra input of ones; a batch norm gets the exact 2x2 block of each
// channel's (gamma, beta), whether folded into a convolution or alone.
//
// What is checked, on the default backbone and on the layer graphs of
// layers/layerstest plus one with every kind of unit: the block of every
// unit with one output position (dense layers, 1x1-output convolutions) and
// each batch-norm channel's block equal the brute-force Fisher (2/N) J^T J
// on one image; EK-FAC's corrected eigenvalues sum to each block's exact
// trace; the first convolution's A equals its patches' second moment
// computed by direct loops; the damped inverse round-trips; the in-graph
// preconditioner equals the host one; inner products equal the brute
// force; Lanczos extremes equal a dense eigendecomposition; the host-side
// iteration of CheckConvergence reproduces the graph's SGD and, with the
// exact curvature, lands on the optimum in one Newton step.
package kfac

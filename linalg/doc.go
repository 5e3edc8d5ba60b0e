// Package linalg is lqf's host linear algebra: the float64 mathematics of
// LQF's linear problem once the network has been reduced to numbers (its
// outputs f0 and Jacobian rows J at w0), with no network in it. It imports
// gonum and the standard library only; package model (which computes f0
// and J, and sets the problem up: model.Kernel) and everything above it
// build on it.
//
// Equation numbers are the paper's (Achille et al., "LQF: Linear Quadratic
// Fine-Tuning", CVPR 2021). The network linearized at the pretrained
// weights w0 is f_lin(x) = f0(x) + J(x) dw (eq. 1). lqf writes the loss of
// eq. 3 (Sec. 3.1) as a mean over the N training samples plus the L2 term,
//
//	L(dw) = (1/N) ||J dw - R||^2 + lambda/2 ||dw||^2,  R = alpha Y - f0(X),
//
// with J [N*C, P] the per-sample Jacobian rows (row i*C+c = grad_w
// f_c(x_i), float32 row-major, as model.Network.JacobianRows returns them),
// Y the one-hot labels and alpha = 15 (Residuals gives R, Objective and
// ObjectiveGradient L and its gradient (2/N) J^T (J dw - R) + lambda dw).
// Its Hessian is (2/N) J^T J + lambda I and its unique minimizer is the
// closed form of eq. 4,
//
//	dw* = (J^T J + rho I)^-1 J^T R = J^T (K + rho I)^-1 R,  rho = lambda N / 2,
//
// with K = J J^T [N*C, N*C] the empirical NTK (RidgeTerm gives rho; with
// the sum of eq. 3 it would be lambda / 2). The kernel form is what lqf
// computes: Gram (K, in float64), CrossGram (the kernel between test and
// training rows), ShiftedCholesky (K + rho I) and SolveKernel (dw*).
// SolveLinearHead is the primal form of the same problem for LQF-FC, on
// fixed features with a bias: (Phi^T Phi + rho I) [dW; db] = Phi^T R.
//
// Iteratively, CG solves either system by conjugate gradients: the kernel
// system (K + rho I) a = R (ShiftedOperator; dw = J^T a) or, matrix-free,
// the normal equations ((2/N) J^T J + lambda I) dw = (2/N) J^T R with
// Gauss-Newton products (model.GaussNewton.SolveCG). SymEigen is the
// symmetric eigendecomposition behind K-FAC's inverse factors, the lambda
// path of package weightdecay (eq. 10-12, Appendix A.1) and the leverages
// of attribution (eq. 7-8, Appendix A.3). MaxRelError and RelDistance are
// the relative errors lqf's checks and tests compare with, under one rule
// for zeros and NaN.
//
// The host linear algebra is gonum's (blas64, lapack64, mat), run by
// OpenBLAS where the host has it: when the package is initialized it
// loads OpenBLAS (libopenblas.so.0) and LAPACKE (liblapacke.so.3; Debian
// packages libopenblas0-pthread and liblapacke) at run time with dlopen,
// with no cgo and no build tags (a CGO_ENABLED=0 build uses them too).
// Gram and CrossGram, Cholesky factorizations, inverses and solves then
// run on OpenBLAS, and SymEigen on LAPACK's dsyevd, 6-16x faster than pure
// Go on 2 cores. Without the libraries, or with the environment variable
// LQF_HOST_BLAS=gonum, everything is gonum's pure Go. HostLinearAlgebra
// says which is in use. lqf calls the host linear algebra from one
// goroutine at a time; other code may call it from several at once, which
// a thread-safe OpenBLAS (Debian's pthread and OpenMP builds) allows.
package linalg

// Package weightdecay tunes the L2 coefficient lambda of LQF exactly, in
// kernel form, from one eigendecomposition of the empirical NTK (paper
// Appendix A.1, "Tuning weight-decay": eq. 10-12 and Fig. 8).
//
// LQF's mean-form objective on N training samples with C outputs each,
//
//	L(dw) = (1/N) ||J dw - R||^2 + lambda/2 ||dw||^2,
//
// with the Jacobian rows J [N*C, P] and residuals R = alpha Y - f0 [N*C],
// has the optimum dw*(lambda) = J^T a(lambda), a = (K + rho I)^-1 R, with
// K = J J^T and rho = lambda N / 2 (linalg.RidgeTerm). With
// K = U diag(s) U^T:
//
//   - Path gives a(lambda) = U diag(1/(s + rho)) U^T R and dw*(lambda) for
//     every lambda (eq. 10), and Path.On / Path.Validation prepare a cross
//     kernel Kx [T*C, N*C] as Kx U, so predictions Kx a(lambda) cost
//     O(T*C * N*C) per lambda.
//   - Without a validation set (not in the paper, which leaves leave-one-out
//     cross-validation to future work, Sec. 5): exact sample-level
//     leave-one-out residuals e_I = [(A^-1)_II]^-1 a_I (A = K + rho I,
//     C x C blocks) and their score (Path.LOO), and generalized
//     cross-validation (Path.GCV), each chosen over a grid by
//     Path.ChooseLOO and Path.ChooseGCV (LogGrid).
//   - With M validation samples, Validation.Loss is
//     L_val = (1/M) ||Kx a - R_v||^2 (eq. 11) and Validation.Hypergradient
//     its exact derivative
//     dL_val/dlambda = -(N/M) (Kx a - R_v)^T Kx (K + rho I)^-1 a (eq. 12 in
//     kernel form); Validation.Search minimizes L_val in log lambda on it,
//     and Validation.Choose over a grid.
//   - HypergradientKFAC is eq. 12 with K-FAC curvature, as the paper
//     suggests: d dw*/dlambda ~= -(F_kfac + lambda I)^-1 dw*, for when the
//     kernel is too large (F = (2/N) J^T J, kfac.DampedInverse).
//   - WarmStart re-solves (K + rho I) a = R by conjugate gradients started
//     at the solution for another lambda and counts the iterations saved
//     over a start at zero (the warm start of paper Fig. 8).
//
// What is checked (weightdecay tests, on the NTK of a small network on real
// mnist-5-9 images): the path equals fresh Cholesky solves and
// linalg.SolveKernel at 5 lambdas to 1e-8 relative; the leave-one-out
// residuals equal retraining without each sample to 1e-9; GCV equals its
// formula with an explicit inverse; the exact hypergradient equals central
// finite differences of L_val to 1e-6; the K-FAC hypergradient equals its
// definition; Search lands within one step of a fine grid's minimum; warm
// starts need fewer iterations and reach the same solution. `lqf check
// hypergradient` compares the exact hypergradient with finite differences
// of fresh closed-form solves on the committed backbone and reports how far
// K-FAC's is from it.
package weightdecay

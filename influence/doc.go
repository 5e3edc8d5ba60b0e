// Package influence answers "how would this prediction change if training
// sample i had not been used?" for the LQF model, exactly: the optimum
// dw* = J^T (K + rho I)^-1 R (K = J J^T the empirical NTK, R = alpha Y -
// f0, rho = lambda N / 2) is updated by the Sherman-Morrison-Woodbury
// identity instead of retraining (paper eq. 7-8, Sec. 3.4; the Newton step
// of eq. 15 and its Woodbury form, Appendix A.3).
//
//   - Exact: kernel form, every training sample's leave-one-out change of
//     every test output from one inverse of K + rho I (N*C up to about
//     10,000); self-influence; exact unlearning (Remove) and incremental
//     learning (Add: the on-line learning of Sec. 4.5, Fig. 5) by block
//     updates of the inverse.
//   - Primal: the same for LQF-FC (only the classifier trains) at any N,
//     through the (F+1) x (F+1) feature Gram matrix.
//   - KFAC: eq. 8 with K-FAC's (F + lambda I)^-1 for large N: whitened
//     per-sample gradients computed once (optionally count-sketched), then
//     a query costs one gradient pass over the test images.
//   - Banzhaf: each sample's average exact contribution to random halves
//     of the training set, the additive attribution that the linear
//     datamodeling score measures (not in the paper).
//   - Problem and NewExplainer tie these to a network and a data set;
//     Scores ranks proponents and opponents and feeds F-SI (FSI, eq. 9:
//     each sample's expected squared change of the validation outputs;
//     DropByFSI summarizes a training set by it); Validate checks
//     everything against retraining (`lqf influence validate`).
//
// Sign convention: a score is f(x) - f_-i(x), the change that training
// sample i causes (positive: i pushes the output up). rho is fixed when
// samples are removed or added.
package influence

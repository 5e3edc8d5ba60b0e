// Package influence answers "how would this prediction change if training
// sample i had not been used?" for the linearized model, exactly: the
// optimum w* = (J^T J + lambda I)^-1 J^T (Y - f0) is updated by the
// Sherman-Morrison-Woodbury identity, in kernel form (empirical NTK) or in
// primal form, and approximately with K-FAC for large training sets (paper
// eq. 7-8, Appendix A.3). It also removes (unlearns) or adds samples without
// retraining.
//
// Status: the package is being built (issue "influence"); it has no API yet.
package influence

// Package influence answers "how would this prediction change if training
// sample i had not been used?" for the linearized model, exactly: the
// optimum w* = (J^T J + rho I)^-1 J^T (Y - f0) is updated by the
// Sherman-Morrison-Woodbury identity, in kernel form (empirical NTK) or in
// primal form, and approximately with K-FAC for large training sets (paper
// eq. 7-8, Appendix A.3).
//
// Status: exact leave-one-out in kernel form (Exact) is here and checked
// against retraining by the closed form; the primal form, K-FAC
// approximation, queries, unlearning and `lqf influence` are being built
// (see the influence issue).
package influence

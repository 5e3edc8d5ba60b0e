// Package weightdecay tunes the L2 coefficient lambda of LQF: warm-starting
// the solution at lambda0 to a new lambda, the hypergradient
// dL_val/dlambda = -w*^T (F + lambda I)^-1 grad_w L_val (paper eq. 10-12),
// the exact solution path over all lambda from one eigendecomposition, and
// choices of lambda without a validation set (leave-one-out, GCV).
//
// Status: the package is being built (issue "analysis and weightdecay"); it
// has no API yet.
package weightdecay

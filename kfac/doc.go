// Package kfac computes the constant K-FAC curvature of the linearized
// network and uses it twice: as the preconditioner of LQF's SGD (it plugs
// into model.TrainGraph through model.Preconditioner) and as the metric of
// influence queries, (F + lambda I)^-1 v.
//
// Because f_lin(x) = f0(x) + J(x) dw is linear in dw and the loss is
// quadratic, the Fisher equals the Gauss-Newton matrix and the Hessian, and
// it does not change during training: the Kronecker factors A = E[a a^T]
// (layer inputs) and G = E[g g^T] (output-side gradients) are computed once
// at w0, damped, and inverted in their eigenbasis (paper Sec. 3.2).
//
// Status: the package is being built (issue "kfac"); it has no API yet.
package kfac

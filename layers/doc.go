// Package layers holds lqf's networks as data: a directed acyclic graph of
// layers (Net) with named parameters and frozen statistics, and, for each
// layer kind, its rules in one place: the forward pass (batch statistics or
// frozen ones), the linearized (tangent) rule of the first-order Taylor
// expansion (paper eq. 1)
//
//	f_lin(x) = f0(x) + J(x) dw,
//
// computed by one modified forward pass that carries the tangent through
// every layer (Gradients as Features, Mu et al., Sec. 3; batch norm in eval
// mode is linearized, not fused into the convolution, Appendix A.2), the
// reverse-mode rule where the pure-Go backend needs a hand-written one
// (im2col convolution, pooling with overlapping windows), what K-FAC needs
// from it (Unit: a layer's inputs or patches, its output and the frozen
// batch-norm scale, paper Sec. 3.2), and its multiply-accumulate count.
//
// Shapes: images are [B, H, W, C] float32 (NHWC); a Net's output is
// [B, NumClasses]. The last node of a Net is its classifier (a Dense layer,
// the "head"); its input is the network's feature vector.
//
// Parameters live in a GoMLX context: the head's under ScopeHead, every
// other node's under ScopeBackbone/<node name>; the displacement
// dw = w - w0 of the linearized network under ScopeTangent with the same
// relative scopes and names. Op kinds: Conv2D, BatchNorm, Activation
// (ReLU, Leaky-ReLU of Sec. 3.3, identity), MaxPool, AvgPool, GlobalAvgPool,
// BilinearPool (paper Sec. 4.2, Appendix A.2: sqrt(Sigma) with Sigma the
// uncentered second moment in place of eq. 13's covariance, tangent
// eq. 14), Add, Flatten, Dense.
package layers

// Package layers holds lqf's networks as data: a directed acyclic graph of
// layers (Net) with named parameters and frozen statistics, and, for each
// layer kind, its rules in one place: the forward pass (batch statistics or
// frozen ones), the linearized (tangent) rule of the first-order Taylor
// expansion (paper eq. 1)
//
//	f_lin(x) = f0(x) + J(x) dw,
//
// computed by one modified forward pass that carries the tangent through
// every layer, the reverse-mode rule where the pure-Go backend needs a
// hand-written one (im2col convolution, pooling with overlapping windows),
// what K-FAC needs from it (Unit: a layer's inputs or patches, its output
// and the frozen batch-norm scale, paper Sec. 3.2), and its multiply-
// accumulate count.
//
// Shapes: images are [B, H, W, C] float32 (NHWC); a Net's output is
// [B, NumClasses]. The last node of a Net is its classifier (a Dense layer,
// the "head"); its input is the network's feature vector.
//
// Parameters live in a GoMLX context: the head's under ScopeHead, every
// other node's under ScopeBackbone/<node name>; the displacement
// dw = w - w0 of the linearized network under ScopeTangent with the same
// relative scopes and names. Op kinds: Conv2D, BatchNorm, Activation
// (ReLU, Leaky-ReLU, identity), MaxPool, AvgPool, GlobalAvgPool,
// BilinearPool (paper Sec. 4.2, eq. 14), Add, Flatten, Dense.
package layers

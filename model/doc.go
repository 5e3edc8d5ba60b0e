// Package model holds lqf's networks and how they are trained: the
// ResNet-style backbone (convolutions as im2col matrix products with
// hand-written reverse-mode rules, so they run and differentiate on every
// GoMLX backend, including the pure-Go one), checkpoints, the SGD-with-
// momentum training loop shared by every method, pretraining on the source
// task (ReLU, then Leaky-ReLU), and the fine-tuning baselines NLFT and FC.
// The linearized network f0(x) + J(x) dw (LQF, GaF) trains either by a
// modified forward pass per batch (Config.LinearizedLogits) or on each
// training image's Jacobian rows computed once (JacobianFeatures), with the
// same iterates; its closed form uses the rows' Gram matrix (SolveKernel).
// SymEigen is the host eigendecomposition of every package above.
//
// Shapes: images are [B, H, W, C] float32 in [0, 1] (NHWC); network outputs
// are [B, NumClasses]. Losses are means over the batch; weight decay lambda
// adds lambda/2 ||w||^2 to the loss.
//
// Graph functions follow GoMLX: func(ctx *context.Context, x *Node) *Node,
// with parameters in ctx under ScopeBackbone and ScopeHead.
package model

// Package model holds lqf's networks and how they are trained: the
// ResNet-style backbone (convolutions as im2col matrix products with
// hand-written reverse-mode rules, so they run and differentiate on every
// GoMLX backend, including the pure-Go one), checkpoints, the SGD-with-
// momentum training loop shared by every method, pretraining on the source
// task (ReLU, then Leaky-ReLU), and the fine-tuning baselines NLFT and FC.
//
// Shapes: images are [B, H, W, C] float32 in [0, 1] (NHWC); network outputs
// are [B, NumClasses]. Losses are means over the batch; weight decay lambda
// adds lambda/2 ||w||^2 to the loss.
//
// Graph functions follow GoMLX: func(ctx *context.Context, x *Node) *Node,
// with parameters in ctx under ScopeBackbone and ScopeHead.
package model

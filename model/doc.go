// Package model holds lqf's networks with their parameters and how they are
// trained: a Network is a layer graph (package layers) with its parameters
// in a GoMLX context; Config builds lqf's ResNet-style backbone family as a
// layer graph (average or bilinear pooling, Sec. 4.2); checkpoints; the
// SGD-with-momentum training loop (and Adam) shared by every method, with
// the losses of paper eq. 3 (MSE on alpha-scaled one-hot targets plus
// lambda/2 ||dw||^2, Sec. 3.1) and cross-entropy; pretraining on the source
// task (ReLU, then Leaky-ReLU, paper Sec. 3.3 and Appendix A.2). The
// fine-tuning methods and their grids are package
// finetune; model defines the Curvature interface they precondition with
// (the preconditioned update of eq. 5, Sec. 3.2), which package kfac
// implements.
//
// The linearized network f0(x) + J(x) dw (paper eq. 1; LQF, GaF) trains
// either by a modified forward pass per batch (layers.Net.LinearizedLogits)
// or on each training image's Jacobian rows computed once
// (JacobianFeatures), with the same iterates. Its closed form (eq. 4)
// starts from Kernel (outputs f0, residuals R = alpha Y - f0, Jacobian rows
// J, NTK K = J J^T: NewKernel) and is solved on the host by package linalg;
// GaussNewton, the exact Hessian (2/N) J^T J + lambda I of the loss
// (Hessian = Gauss-Newton = Fisher, Sec. 3.2), solves it matrix-free by
// conjugate gradients (linalg.CG).
//
// Shapes: images are [B, H, W, C] float32 in [0, 1] (NHWC); network outputs
// are [B, NumClasses]. Losses are means over the batch; weight decay lambda
// adds lambda/2 ||w||^2 to the loss.
//
// Graph functions follow GoMLX: func(ctx *context.Context, x *Node) *Node,
// with parameters in ctx under ScopeBackbone and ScopeHead. Checkpoints
// written before networks became layer graphs (a ResNet Config in the
// header) load unchanged: the graph Config.Net builds has the same
// parameter scopes.
package model

// Package finetune holds the fine-tuning methods the paper compares
// (Sec. 4.1, Table 1) and their hyper-parameter grids: NLFT (ordinary
// fine-tuning), the linear probe FC, LQF over every layer and LQF-FC over
// the classifier (the linearized network f0(x) + J(x) dw of paper eq. 1,
// batch norm in eval mode as in Appendix A.2, trained on the loss of eq. 3
// with alpha = 15 and lambda/2 ||dw||^2, Sec. 3.1, on a Leaky-ReLU
// backbone, Sec. 3.3), and GaF (the same linearization with cross-entropy
// and ReLU).
//
// Run replaces the pretrained network's head for the task, trains the
// method at every point of its grid (the paper's eta and lambda, batch 28
// and momentum 0.9, Sec. 4 and Appendix A.2; Adam's grid of Table 3,
// Appendix A.1), selects the point of lowest validation error and reports
// its train, validation and test errors. LQF and LQF-FC train by SGD with
// momentum, preconditioned by a model.CurvatureFunc such as K-FAC's
// (w <- w - eta A g, eq. 5, Sec. 3.2), or reach their optimum in
// closed form (SolverExact, eq. 4: kernel form for LQF, primal form for
// LQF-FC). While training, the linearized network is evaluated by a JVP
// pass per batch or on Jacobian rows computed once (Linearization), with
// the same iterates.
package finetune

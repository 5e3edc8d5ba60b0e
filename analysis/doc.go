// Package analysis runs lqf's experiments and draws their figures.
//
// The harness (Experiment, Register, Reproduce, ResultsMarkdown) behind
// `lqf reproduce` regenerates the paper's figures and tables on lqf's
// tasks: each experiment computes one seed's result, cached as JSON so
// that a rerun resumes (long seeds also cache their cells, Cell), and a
// summary over seeds with a table, gonum/plot figures and a finding that
// states what was measured against the paper's claim. Each
// experiment registers its criteria beside it (Experiment.Judge), and
// Judge turns a summary into a verdict: the claim split into parts, each
// tested against a criterion fixed in the code. Quick mode (small sizes) runs in CI; full
// mode is the experiment.
//
// The experiments are Table 1 and Fig. 1 (Sec. 4.1; Fig. 1 right: the best
// effective learning rate eta/((1-m) b) of Sec. 4.7), Fig. 2 (Sec. 4.3,
// ablation), Fig. 3 (Sec. 3.2, Hessian spectra), Fig. 4 (Sec. 4.4, k-shot),
// Fig. 5 (Sec. 4.5, on-line learning), Fig. 6 (Sec. 4.6), Table 2
// (Sec. 4.2, B-LQF) and, from Appendix A.1, Table 3 (Adam), Fig. 7 (NLFT
// with MSE) and Fig. 8 (weight decay: warm start and the choice of
// lambda, eq. 10-12), one file each; what several share is in files of its
// own: the fine-tuning runs (finetune.go), Table 1's method comparison
// that Fig. 1 draws too (comparison.go), the tasks (tasks.go), cross
// kernels (kernel.go) and statistics over seeds (stats.go). Fig. 6 ranks
// samples by F-SI (influence.FSI, eq. 9).
package analysis

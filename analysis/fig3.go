package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
	"github.com/lqf-go/lqf/finetune"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

func init() {
	Register(Experiment{
		ID:    "fig3",
		Title: "Curvature spectra at w0, after NLFT and with K-FAC preconditioning",
		Claim: "At w0 the Hessian of the network's own (cross-entropy) loss is badly conditioned; NLFT moves to better-conditioned regions (kappa over the computed top eigenvalues 1482 -> 180, largest eigenvalues decrease), while LQF's Hessian is fixed and needs K-FAC preconditioning (paper Fig. 3). " +
			"Measured: the cross-entropy Gauss-Newton matrix (1/N) sum_i J_i^T (diag p_i - p_i p_i^T) J_i + lambda I, exactly (kernel form) and by Lanczos, at w0 and after NLFT run to a plateau of the training loss, its kappa over the top k eigenvalues and on its range; " +
			"as a labelled variant LQF's MSE Gauss-Newton (2/N) J^T J + lambda I (Lanczos; its smallest eigenvalue is lambda, on J's null space), its exact kappa on range(J), and K-FAC's improvement of it at w0 split into range(J) and the rest.",
		Run:       runFig3,
		Summarize: summarizeFig3,
		Judge:     judgeFig3,
	})
}

// judgeFig3 tests the paper's claims on the paper's operator (the
// cross-entropy Gauss-Newton matrix, kappa over its top k eigenvalues,
// before and after NLFT run to a plateau) and K-FAC's preconditioning on
// LQF's own (MSE Gauss-Newton) curvature, which is what LQF preconditions.
func judgeFig3(v Measured) Verdict {
	if !v.Has("ce_kappa_topk_w0") {
		return judgeFig3MSE(v)
	}
	w0, nlft := v.Get("ce_kappa_topk_w0"), v.Get("ce_kappa_topk_nlft")
	mw0, mnlft := v.Get("ce_max_eigenvalue_w0"), v.Get("ce_max_eigenvalue_nlft")
	kw0, pre := v.Get("kappa_w0"), v.Get("kappa_preconditioned")
	return verdictOf(
		part(nlft < w0, "NLFT (to a plateau) ends better conditioned than w0: cross-entropy Gauss-Newton kappa over the top %d eigenvalues %.3g -> %.3g", fig3TopK, w0, nlft),
		part(mnlft < mw0, "NLFT lowers the largest eigenvalue of the cross-entropy Gauss-Newton matrix (%.3g -> %.3g)", mw0, mnlft),
		part(pre <= kw0/10, "K-FAC preconditioning lowers the kappa of LQF's MSE Gauss-Newton matrix at w0 at least tenfold (%.3g -> %.3g)", kw0, pre))
}

// judgeFig3MSE judges a summary from before the cross-entropy operator
// (it has only the spectra of LQF's MSE Gauss-Newton matrix with lambda, the
// labelled variant now) by the criteria it was made with.
func judgeFig3MSE(v Measured) Verdict {
	w0, nlft, pre := v.Get("kappa_w0"), v.Get("kappa_nlft"), v.Get("kappa_preconditioned")
	mw0, mnlft := v.Get("max_eigenvalue_w0"), v.Get("max_eigenvalue_nlft")
	return verdictOf(
		part(nlft < w0, "NLFT ends better conditioned than w0 (MSE Gauss-Newton with lambda, older summary; kappa %.3g -> %.3g)", w0, nlft),
		part(mnlft < mw0, "NLFT lowers the largest eigenvalue (MSE Gauss-Newton, older summary; %.3g -> %.3g)", mw0, mnlft),
		part(pre <= w0/10, "K-FAC preconditioning lowers kappa at w0 at least tenfold (%.3g -> %.3g)", w0, pre))
}

// fig3TopK is the number of largest eigenvalues over which the
// cross-entropy kappa is taken, as the paper's kappa can only come from
// the computed top eigenvalues of a 25M-parameter Hessian.
const fig3TopK = 10

// fig3Operators names the three spectra of kfac.SpectraReport (LQF's MSE
// Gauss-Newton matrix, the labelled variant) in the order of the table and
// the figure.
var fig3Operators = []string{"MSE Gauss-Newton (LQF, variant) at w0", "MSE Gauss-Newton (LQF, variant) after short NLFT", "K-FAC-preconditioned MSE Gauss-Newton at w0"}

// fig3CEOperators names the two cross-entropy spectra.
var fig3CEOperators = []string{"cross-entropy Gauss-Newton at w0", "cross-entropy Gauss-Newton after NLFT to a plateau"}

// fig3Result is one seed's spectra.
type fig3Result struct {
	Task string `json:"task"`
	*kfac.SpectraReport
	// CE is the paper's operator; absent in results of older runs.
	CE *fig3CE `json:"cross_entropy,omitempty"`
}

// spectra returns the three spectra in the order of fig3Operators.
func (r fig3Result) spectra() []*kfac.Spectrum {
	return []*kfac.Spectrum{r.W0, r.NLFT, r.Preconditioned}
}

// fig3Curvature is the curvature of one network on the training set.
type fig3Curvature struct {
	// Top holds the largest eigenvalues of G_CE + lambda I, descending,
	// exact (kernel form, fig3CEEigenvalues).
	Top []float64 `json:"top"`
	// Lanczos is Lanczos on the product (G_CE + lambda I) v (fig3CEApply).
	Lanczos *kfac.Spectrum `json:"lanczos"`
	// Rank is the number of nonzero eigenvalues of G_CE (at most N(C-1)).
	Rank       int     `json:"rank"`
	KappaTopK  float64 `json:"kappa_top_k"` // Top[0] / Top[k-1]
	KappaRange float64 `json:"kappa_range"` // over the nonzero eigenvalues of G_CE (+ lambda)
	KappaFull  float64 `json:"kappa_full"`  // Top[0] / lambda: set by lambda
	// MSEMax and MSERangeKappa are of LQF's (2/N) J^T J + lambda I: its
	// largest eigenvalue and its kappa on range(J) (the row space of J),
	// exact from the eigenvalues of K = J J^T.
	MSEMax        float64 `json:"mse_max"`
	MSERangeKappa float64 `json:"mse_range_kappa"`
	TrainLoss     float64 `json:"train_loss"` // mean cross-entropy, frozen statistics
}

// fig3CE is one seed's cross-entropy analysis.
type fig3CE struct {
	TopK int            `json:"top_k"`
	W0   *fig3Curvature `json:"w0"`
	NLFT *fig3Curvature `json:"nlft"`
	// NLFTLoss is the training loss after each epoch of NLFT, which ran
	// until it reached a plateau (fig3Plateau) or NLFTMaxEpochs.
	NLFTLoss      []float64 `json:"nlft_loss"`
	NLFTMaxEpochs int       `json:"nlft_max_epochs"`
	// KFACRangeKappa is the kappa of the K-FAC-preconditioned MSE
	// Gauss-Newton matrix at w0 compressed to the row space of its
	// (preconditioned) Jacobian (fig3RangeEigenvalues).
	KFACRangeKappa float64 `json:"kfac_range_kappa"`
	Seconds        float64 `json:"seconds"`
}

// fig3Config is the size of one mode.
type fig3Config struct {
	Task       string
	MaxTrain   int
	Steps      int
	NLFTEpochs float64 // the MSE variant's short NLFT (kfac.Spectra)
	// NLFTMaxEpochs bounds NLFT to a plateau.
	NLFTMaxEpochs int
	Lambda        float64
}

func fig3Settings(quick bool) fig3Config {
	if quick {
		return fig3Config{Task: nearTask, MaxTrain: 30, Steps: 20, NLFTEpochs: 5, NLFTMaxEpochs: 150, Lambda: 1e-4}
	}
	return fig3Config{Task: nearTask, MaxTrain: 100, Steps: 60, NLFTEpochs: 10, NLFTMaxEpochs: 150, Lambda: 1e-4}
}

func runFig3(env *Env, seed uint64) (any, error) {
	cfg := fig3Settings(env.Quick)
	// The spectra are those of LQF's loss, whose backbone is Leaky-ReLU.
	base, err := pretrained.Load(env.Backend, finetune.LQF.Activation())
	if err != nil {
		return nil, err
	}
	_, splits, err := loadTask(cfg.Task, data.SplitOptions{Seed: seed, MaxTrain: cfg.MaxTrain, ValPerClass: 1, MaxTest: 1})
	if err != nil {
		return nil, err
	}
	net, err := base.ReplaceHead(env.Backend, splits.Train.NumClasses, seed)
	if err != nil {
		return nil, err
	}
	r, err := kfac.Spectra(env.Backend, net, splits.Train, kfac.SpectraOptions{Lambda: cfg.Lambda, Steps: cfg.Steps,
		NLFTEpochs: cfg.NLFTEpochs, Seed: seed, Progress: env.Progress})
	if err != nil {
		return nil, err
	}
	env.Logf("fig3 seed %d: MSE Gauss-Newton kappa at w0 %.3g, after short NLFT %.3g, K-FAC-preconditioned %.3g", seed, r.KappaW0, r.KappaNLFT, r.KappaPrecond)
	ce, err := fig3CrossEntropy(env, net, splits.Train, cfg, seed)
	if err != nil {
		return nil, err
	}
	env.Logf("fig3 seed %d: cross-entropy Gauss-Newton kappa over the top %d at w0 %.3g, after NLFT (%d epochs, loss %.3g) %.3g", seed, ce.TopK,
		ce.W0.KappaTopK, len(ce.NLFTLoss), ce.NLFTLoss[len(ce.NLFTLoss)-1], ce.NLFT.KappaTopK)
	return fig3Result{Task: cfg.Task, SpectraReport: r, CE: ce}, nil
}

// fig3CrossEntropy measures the cross-entropy Gauss-Newton matrix at w0
// (net) and after NLFT to a plateau, the exact MSE Gauss-Newton kappa on
// range(J) at both, and the K-FAC-preconditioned range kappa at w0.
func fig3CrossEntropy(env *Env, net *model.Network, train *data.Set, cfg fig3Config, seed uint64) (*fig3CE, error) {
	t0 := time.Now()
	be := env.Backend
	ce := &fig3CE{TopK: fig3TopK, NLFTMaxEpochs: cfg.NLFTMaxEpochs}
	var err error
	var J0 []float32
	if ce.W0, J0, err = fig3CurvatureOf(be, net, train, cfg.Lambda, cfg.Steps, seed, env); err != nil {
		return nil, fmt.Errorf("w0: %w", err)
	}
	// K-FAC (KFC factors, EK-FAC eigenvalues, damping lambda) as in
	// kfac.Spectra: W = (F_kfac + lambda I)^-1 J^T, row by row.
	f, err := kfac.Compute(be, net, train, kfac.Options{Expand: true, Seed: seed})
	if err == nil {
		err = f.CorrectEigenvalues(be, net, train, kfac.Options{Seed: seed})
	}
	if err != nil {
		return nil, err
	}
	inv, err := f.Invert(cfg.Lambda)
	if err != nil {
		return nil, err
	}
	rows, p := train.Len()*net.NumClasses(), len(J0)/(train.Len()*net.NumClasses())
	W := make([]float64, rows*p)
	row := make([]float64, p)
	for r := range rows {
		for j := range row {
			row[j] = float64(J0[r*p+j])
		}
		w, err := inv.ApplyPower(net, row, -1)
		if err != nil {
			return nil, err
		}
		copy(W[r*p:], w)
	}
	ev, err := fig3RangeEigenvalues(J0, W, rows, p, train.Len(), cfg.Lambda)
	if err != nil {
		return nil, err
	}
	ce.KFACRangeKappa = ev[len(ev)-1] / ev[0]
	J0, W = nil, nil

	// NLFT to a plateau of the training loss.
	nlft, err := net.Clone()
	if err != nil {
		return nil, err
	}
	var stopErr error
	if _, err := nlft.Train(be, train, model.TrainOptions{LearningRate: 0.01, Momentum: 0.9, Lambda: cfg.Lambda,
		BatchSize: 28, Epochs: float64(cfg.NLFTMaxEpochs), Seed: seed, BatchNorm: model.TrainBatchStats, Progress: env.Progress, Label: "nlft to a plateau",
		OnEpoch: func(int) error {
			logits, err := nlft.Logits(be, train)
			if err != nil {
				stopErr = err
				return err
			}
			_, loss := fig3Softmax(logits, train.Labels, net.NumClasses())
			ce.NLFTLoss = append(ce.NLFTLoss, loss)
			if fig3Plateau(ce.NLFTLoss) {
				return model.ErrStopTraining
			}
			return nil
		}}); err != nil {
		return nil, errors.Join(err, stopErr)
	}
	if len(ce.NLFTLoss) == 0 {
		return nil, errors.New("NLFT ran no epoch")
	}
	if ce.NLFT, _, err = fig3CurvatureOf(be, nlft, train, cfg.Lambda, cfg.Steps, seed, env); err != nil {
		return nil, fmt.Errorf("after NLFT: %w", err)
	}
	ce.Seconds = time.Since(t0).Seconds()
	return ce, nil
}

// fig3Plateau reports whether the per-epoch training losses have reached a
// plateau: at least 20 epochs, and the loss is below 1e-3 or fell by less
// than 2% over the last 10 epochs.
func fig3Plateau(loss []float64) bool {
	n := len(loss)
	if n < 20 {
		return false
	}
	last := loss[n-1]
	return last < 1e-3 || loss[n-11]-last < 0.02*loss[n-11]
}

// fig3Softmax returns the softmax probabilities of logits [N, C] and the
// mean cross-entropy against labels.
func fig3Softmax(logits []float32, labels []int32, c int) ([]float64, float64) {
	n := len(logits) / c
	probs := make([]float64, len(logits))
	loss := 0.0
	for i := range n {
		z := logits[i*c : (i+1)*c]
		m := float64(slices.Max(z))
		s := 0.0
		for k, v := range z {
			probs[i*c+k] = math.Exp(float64(v) - m)
			s += probs[i*c+k]
		}
		for k := range z {
			probs[i*c+k] /= s
		}
		loss += m + math.Log(s) - float64(z[labels[i]])
	}
	return probs, loss / float64(n)
}

// fig3CurvatureOf computes the cross-entropy and MSE curvature of net on
// train from its Jacobian rows, which it also returns.
func fig3CurvatureOf(be backends.Backend, net *model.Network, train *data.Set, lambda float64, steps int, seed uint64, env *Env) (*fig3Curvature, []float32, error) {
	c := net.NumClasses()
	n := train.Len()
	logits, err := net.Logits(be, train)
	if err != nil {
		return nil, nil, err
	}
	probs, loss := fig3Softmax(logits, train.Labels, c)
	J, p, err := net.JacobianRows(be, train, env.Progress)
	if err != nil {
		return nil, nil, err
	}
	rows := n * c
	K := linalg.Gram(J, rows, p)
	cv := &fig3Curvature{TrainLoss: loss}
	ceVals, err := fig3CEEigenvalues(K, probs, n, c)
	if err != nil {
		return nil, nil, err
	}
	if len(ceVals) < fig3TopK {
		return nil, nil, fmt.Errorf("cross-entropy Gauss-Newton has rank %d < top k %d", len(ceVals), fig3TopK)
	}
	cv.Rank = len(ceVals)
	for _, v := range ceVals[:fig3TopK] {
		cv.Top = append(cv.Top, v+lambda)
	}
	cv.KappaTopK = cv.Top[0] / cv.Top[fig3TopK-1]
	cv.KappaRange = (ceVals[0] + lambda) / (ceVals[len(ceVals)-1] + lambda)
	cv.KappaFull = cv.Top[0] / lambda
	if cv.Lanczos, err = kfac.Lanczos(func(v []float64) ([]float64, error) {
		return fig3CEApply(J, rows, p, c, probs, v, lambda), nil
	}, p, steps, seed); err != nil {
		return nil, nil, err
	}
	J64 := make([]float64, len(J))
	for i, v := range J {
		J64[i] = float64(v)
	}
	mse, err := fig3RangeEigenvalues(J, J64, rows, p, n, lambda)
	if err != nil {
		return nil, nil, err
	}
	cv.MSEMax, cv.MSERangeKappa = mse[len(mse)-1], mse[len(mse)-1]/mse[0]
	return cv, J, nil
}

// fig3CEApply returns (G_CE + lambda I) v for the cross-entropy
// Gauss-Newton matrix G_CE = (1/N) sum_i J_i^T (diag p_i - p_i p_i^T) J_i,
// with J [rows = N C, p] row-major (row i*C+c = grad f_c(x_i)) and probs
// [N, C] the softmax outputs.
func fig3CEApply(J []float32, rows, p, c int, probs, v []float64, lambda float64) []float64 {
	n := rows / c
	u := make([]float64, rows)
	for r := range rows {
		s := 0.0
		for j, x := range J[r*p : (r+1)*p] {
			s += float64(x) * v[j]
		}
		u[r] = s
	}
	for i := range n {
		pu := 0.0
		for k := range c {
			pu += probs[i*c+k] * u[i*c+k]
		}
		for k := range c {
			u[i*c+k] = probs[i*c+k] * (u[i*c+k] - pu) / float64(n)
		}
	}
	out := make([]float64, p)
	for j := range out {
		out[j] = lambda * v[j]
	}
	for r := range rows {
		w := u[r]
		for j, x := range J[r*p : (r+1)*p] {
			out[j] += w * float64(x)
		}
	}
	return out
}

// fig3CEEigenvalues returns the nonzero eigenvalues of G_CE (without
// lambda), descending: with A the block diagonal of the N softmax
// covariances diag p_i - p_i p_i^T, G_CE = (1/N) J^T A J has the nonzero
// eigenvalues of (1/N) A^1/2 K A^1/2, K = J J^T. Eigenvalues at most
// 1e-10 of the largest count as zero (each A_i is singular along the
// ones vector).
func fig3CEEigenvalues(K mat.Symmetric, probs []float64, n, c int) ([]float64, error) {
	rows := n * c
	if K.SymmetricDim() != rows || len(probs) != rows {
		return nil, fmt.Errorf("kernel of size %d, %d probabilities, for %d x %d outputs", K.SymmetricDim(), len(probs), n, c)
	}
	half := mat.NewDense(rows, rows, nil)
	for i := range n {
		a := mat.NewSymDense(c, nil)
		for k := range c {
			for l := k; l < c; l++ {
				v := -probs[i*c+k] * probs[i*c+l]
				if k == l {
					v += probs[i*c+k]
				}
				a.SetSym(k, l, v)
			}
		}
		var e mat.EigenSym
		if !e.Factorize(a, true) {
			return nil, errors.New("softmax covariance: eigendecomposition failed")
		}
		vals := e.Values(nil)
		var vecs mat.Dense
		e.VectorsTo(&vecs)
		for k := range c {
			for l := range c {
				s := 0.0
				for m, v := range vals {
					s += vecs.At(k, m) * math.Sqrt(math.Max(v, 0)) * vecs.At(l, m)
				}
				half.Set(i*c+k, i*c+l, s)
			}
		}
	}
	var t, m mat.Dense
	t.Mul(half, K)
	m.Mul(&t, half)
	sym := mat.NewSymDense(rows, nil)
	for i := range rows {
		for j := i; j < rows; j++ {
			sym.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2/float64(n))
		}
	}
	_, vals, err := linalg.SymEigen(sym)
	if err != nil {
		return nil, err
	}
	return fig3Nonzero(vals), nil
}

// fig3Nonzero returns the values above 1e-10 of the largest, descending.
func fig3Nonzero(vals []float64) []float64 {
	top := slices.Max(vals)
	var out []float64
	for _, v := range vals {
		if v > 1e-10*top {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// fig3RangeEigenvalues returns, ascending, the eigenvalues of the
// preconditioned MSE Gauss-Newton matrix M = P^-1/2 ((2/N) J^T J +
// lambda I) P^-1/2 compressed to the row space of J P^-1/2 (range of
// P^-1/2 J^T), given J [rows, p] and W = J P^-1 [rows, p] (W = J: no
// preconditioner, and the compression to range(J^T) has the eigenvalues
// (2/N) eig(J J^T) + lambda over the nonzero ones). With Z = P^-1/2 J^T
// they solve Z^T M Z x = theta Z^T Z x: Z^T Z = B = J W^T and Z^T M Z =
// (2/N) B B + lambda W W^T; directions of B below 1e-10 of its largest
// eigenvalue (dependent rows of J) are left out.
func fig3RangeEigenvalues(J []float32, W []float64, rows, p, n int, lambda float64) ([]float64, error) {
	if len(J) != rows*p || len(W) != rows*p {
		return nil, fmt.Errorf("J has %d values and W %d for %d x %d", len(J), len(W), rows, p)
	}
	J64 := make([]float64, len(J))
	for i, v := range J {
		J64[i] = float64(v)
	}
	jm, wm := mat.NewDense(rows, p, J64), mat.NewDense(rows, p, W)
	var b, ww mat.Dense
	b.Mul(jm, wm.T())
	ww.Mul(wm, wm.T())
	bs := mat.NewSymDense(rows, nil)
	for i := range rows {
		for j := i; j < rows; j++ {
			bs.SetSym(i, j, (b.At(i, j)+b.At(j, i))/2)
		}
	}
	u, s, err := linalg.SymEigen(bs)
	if err != nil {
		return nil, err
	}
	top := slices.Max(s)
	var keep []int
	for i, v := range s {
		if v > 1e-10*top {
			keep = append(keep, i)
		}
	}
	if len(keep) == 0 {
		return nil, errors.New("J is zero")
	}
	// T = S^-1/2 U^T A U S^-1/2 over the kept directions.
	var a mat.Dense
	a.Mul(bs, bs)
	a.Scale(2/float64(n), &a)
	a.Apply(func(i, j int, v float64) float64 { return v + lambda*(ww.At(i, j)+ww.At(j, i))/2 }, &a)
	uk := mat.NewDense(rows, len(keep), nil)
	for c, i := range keep {
		for r := range rows {
			uk.Set(r, c, u.At(r, i)/math.Sqrt(s[i]))
		}
	}
	var au, t mat.Dense
	au.Mul(&a, uk)
	t.Mul(uk.T(), &au)
	ts := mat.NewSymDense(len(keep), nil)
	for i := range keep {
		for j := i; j < len(keep); j++ {
			ts.SetSym(i, j, (t.At(i, j)+t.At(j, i))/2)
		}
	}
	_, vals, err := linalg.SymEigen(ts)
	if err != nil {
		return nil, err
	}
	slices.Sort(vals)
	return vals, nil
}

// fig3RangeKappa returns Max over the smallest Ritz value above 10 lambda:
// a rough condition number on the range of J, leaving out the null space
// of the Gauss-Newton matrix, whose eigenvalue is lambda (P parameters
// against N*C Jacobian rows). It returns NaN when no Ritz value is above
// 10 lambda.
func fig3RangeKappa(s *kfac.Spectrum, lambda float64) float64 {
	low := math.Inf(1)
	for _, v := range s.Values {
		if v > 10*lambda {
			low = math.Min(low, v)
		}
	}
	if math.IsInf(low, 1) {
		return math.NaN()
	}
	return s.Max / low
}

// fig3Density is the stochastic-Lanczos-quadrature estimate of a spectral
// density over t = log10(eigenvalue): sum_i w_i N(t; log10 theta_i, sigma^2)
// for Ritz values theta_i > 0 with weights w_i, evaluated at ts.
func fig3Density(s *kfac.Spectrum, ts []float64, sigma float64) ([]float64, error) {
	if s == nil || len(s.Values) == 0 || len(s.Values) != len(s.Weights) {
		return nil, errors.New("spectrum without Ritz values and weights")
	}
	out := make([]float64, len(ts))
	norm := 1 / (sigma * math.Sqrt(2*math.Pi))
	for i, v := range s.Values {
		if !(v > 0) {
			continue // a non-positive Ritz value has no logarithm; its weight is dropped
		}
		c := math.Log10(v)
		for k, t := range ts {
			z := (t - c) / sigma
			out[k] += s.Weights[i] * norm * math.Exp(-z*z/2)
		}
	}
	return out, nil
}

func summarizeFig3(env *Env, raw []json.RawMessage) (*Summary, error) {
	results, err := Decode[fig3Result](raw)
	if err != nil {
		return nil, err
	}
	if len(results) == 0 {
		return nil, errors.New("no seed results")
	}
	nOps := len(fig3Operators)
	maxs, mins, kappas, logKappas, rangeKappas := make([][]float64, nOps), make([][]float64, nOps), make([][]float64, nOps), make([][]float64, nOps), make([][]float64, nOps)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, r := range results {
		if r.SpectraReport == nil || r.W0 == nil || r.NLFT == nil || r.Preconditioned == nil {
			return nil, fmt.Errorf("seed result %d lacks a spectrum", i+1)
		}
		for k, s := range r.spectra() {
			if !(s.Min > 0) || !(s.Max >= s.Min) {
				return nil, fmt.Errorf("seed result %d, %s: extreme Ritz values %g and %g are not positive and ordered", i+1, fig3Operators[k], s.Min, s.Max)
			}
			maxs[k] = append(maxs[k], s.Max)
			mins[k] = append(mins[k], s.Min)
			kappas[k] = append(kappas[k], s.Kappa())
			logKappas[k] = append(logKappas[k], math.Log10(s.Kappa()))
			rangeKappas[k] = append(rangeKappas[k], fig3RangeKappa(s, r.Lambda))
			lo, hi = math.Min(lo, math.Log10(s.Min)), math.Max(hi, math.Log10(s.Max))
		}
	}
	r0 := results[0]
	s := &Summary{Header: []string{"operator", "largest eigenvalue", "smallest eigenvalue", "kappa", "log10 kappa", "kappa on range (MSE: rough, from Ritz values)", fmt.Sprintf("kappa over the top %d", fig3TopK)}, Values: map[string]float64{}}
	keys := []string{"w0", "nlft", "preconditioned"}
	for k, name := range fig3Operators {
		var topK []float64
		for _, r := range results {
			topK = append(topK, fig3TopKKappa(r.spectra()[k].Values))
		}
		s.Rows = append(s.Rows, []string{name, PlusMinus(maxs[k], "%.4g"), PlusMinus(mins[k], "%.4g"), PlusMinus(kappas[k], "%.4g"), PlusMinus(logKappas[k], "%.2f"), PlusMinus(rangeKappas[k], "%.4g"), PlusMinus(topK, "%.4g")})
		mk, _ := MeanStd(kappas[k])
		mx, _ := MeanStd(maxs[k])
		s.Values["kappa_"+keys[k]] = mk
		s.Values["max_eigenvalue_"+keys[k]] = mx
		s.Values["range_kappa_"+keys[k]], _ = MeanStd(rangeKappas[k])
	}

	ce, err := fig3SummarizeCE(s, results)
	if err != nil {
		return nil, err
	}
	if ce {
		for _, r := range results {
			for _, sp := range []*kfac.Spectrum{r.CE.W0.Lanczos, r.CE.NLFT.Lanczos} {
				lo, hi = math.Min(lo, math.Log10(sp.Min)), math.Max(hi, math.Log10(sp.Max))
			}
		}
	}

	// Eigenvalue densities, averaged over seeds, on a log10 axis.
	const sigma, points, floor = 0.15, 241, 1e-6
	lo, hi = math.Floor(lo-0.5), math.Ceil(hi+0.5)
	ts := make([]float64, points)
	for i := range ts {
		ts[i] = lo + (hi-lo)*float64(i)/float64(points-1)
	}
	var series []figure.Series
	names, spectra := slices.Clone(fig3Operators), func(r fig3Result) []*kfac.Spectrum { return r.spectra() }
	if ce {
		names = append(names, fig3CEOperators...)
		spectra = func(r fig3Result) []*kfac.Spectrum { return append(r.spectra(), r.CE.W0.Lanczos, r.CE.NLFT.Lanczos) }
	}
	for k, name := range names {
		mean := make([]float64, points)
		var kap []float64
		for _, r := range results {
			sp := spectra(r)[k]
			d, err := fig3Density(sp, ts, sigma)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for i, v := range d {
				mean[i] += v / float64(len(results))
			}
			kap = append(kap, sp.Kappa())
		}
		for i := range mean {
			mean[i] = math.Max(mean[i], floor)
		}
		mk, _ := MeanStd(kap)
		series = append(series, figure.Series{Name: fmt.Sprintf("%s (kappa %.3g)", name, mk), X: ts, Y: mean, NoPoint: true, Dashed: k == 2})
	}
	p, err := figure.Lines(series, figure.LineOptions{
		Title:  fmt.Sprintf("%s, %d images, lambda %g: eigenvalue density (%s)", r0.Task, r0.TrainSize, r0.Lambda, meanOverSeeds(len(results))),
		XLabel: "log10 eigenvalue (the peak at log10 lambda: null space of J)", YLabel: "density per unit log10 eigenvalue (smoothed SLQ, Lanczos)", LogY: true})
	if err != nil {
		return nil, err
	}
	name := "fig3.png"
	if err := figure.SavePlot(p, 520, 420, env.Path(name)); err != nil {
		return nil, err
	}
	s.Figures = []string{env.Path(name)}

	kw, kn, kp := s.Values["kappa_w0"], s.Values["kappa_nlft"], s.Values["kappa_preconditioned"]
	mw, mn := s.Values["max_eigenvalue_w0"], s.Values["max_eigenvalue_nlft"]
	mse := fmt.Sprintf("NLFT %s kappa from %.3g at w0 to %.3g after %g epochs (largest eigenvalue %s from %.3g to %.3g; on the range of J, roughly %.3g -> %.3g; paper: 1482 -> 180, largest eigenvalues decrease), and K-FAC preconditioning brings LQF's kappa to %.3g (%.1fx lower than at w0)",
		changed(kn < kw, "lowers", "raises"), kw, kn, fig3Settings(env.Quick).NLFTEpochs, changed(mn < mw, "shrinks", "grows"), mw, mn, s.Values["range_kappa_w0"], s.Values["range_kappa_nlft"], kp, kw/kp)
	if !ce {
		s.Finding = fmt.Sprintf("on %d images of %s (lambda %g, %d Lanczos steps), MSE Gauss-Newton of LQF's loss only: %s.", r0.TrainSize, r0.Task, r0.Lambda, r0.Steps, mse)
		return s, nil
	}
	v := s.Values
	where := "mostly on range(J)"
	if math.Abs(math.Log(v["kfac_improvement_null"])) > math.Abs(math.Log(v["kfac_improvement_range"])) {
		where = "mostly on J's null space (it lifts the null-space eigenvalues lambda towards the range's), not within range(J)"
	}
	s.Finding = fmt.Sprintf("on %d images of %s (lambda %g, %d Lanczos steps), the paper's operator, the cross-entropy Gauss-Newton matrix + lambda I: "+
		"NLFT run to a plateau (%.0f epochs, training loss %.3g -> %.3g, %.3g ten epochs earlier; cosine learning rate over %.0f epochs, at %.2g of its initial value at the end) %s kappa over the top %d eigenvalues from %.3g at w0 to %.3g, "+
		"the largest eigenvalue %s from %.3g to %.3g (kappa on its range %.3g -> %.3g; the full kappa, %.3g -> %.3g, is largest/lambda; paper: 1482 -> 180, largest eigenvalues decrease). "+
		"Variant, LQF's MSE Gauss-Newton (2/N) J^T J + lambda I: exact kappa on range(J) %.3g at w0 and %.3g after NLFT to a plateau; its full kappa %.3g at w0 ends at lambda on J's null space; "+
		"K-FAC lowers it %.3gx (to %.3g): %.3gx on range(J) (%.3g -> %.3g, the preconditioned matrix compressed to the row space of J P^-1/2) and %.3gx from the rest (the gap between range(J) and J's null space), %s; the full kappas are Lanczos estimates, which can only underestimate them, the kappas on range(J) are exact. "+
		"(MSE variant with the Lanczos estimates of %d steps: %s.)",
		r0.TrainSize, r0.Task, r0.Lambda, r0.Steps,
		v["nlft_epochs"], v["nlft_initial_loss"], v["nlft_final_loss"], v["nlft_loss_10_epochs_before"], v["nlft_max_epochs"], v["nlft_lr_fraction_at_end"], changed(v["ce_kappa_topk_nlft"] < v["ce_kappa_topk_w0"], "lowers", "raises"), fig3TopK, v["ce_kappa_topk_w0"], v["ce_kappa_topk_nlft"],
		changed(v["ce_max_eigenvalue_nlft"] < v["ce_max_eigenvalue_w0"], "shrinks", "grows"), v["ce_max_eigenvalue_w0"], v["ce_max_eigenvalue_nlft"], v["ce_kappa_range_w0"], v["ce_kappa_range_nlft"], v["ce_kappa_full_w0"], v["ce_kappa_full_nlft"],
		v["mse_range_kappa_exact_w0"], v["mse_range_kappa_exact_nlft"], kw,
		v["kfac_improvement"], kp, v["kfac_improvement_range"], v["mse_range_kappa_exact_w0"], v["kfac_range_kappa_w0"], v["kfac_improvement_null"], where,
		r0.Steps, mse)
	return s, nil
}

// changed returns yes if holds, else no.
func changed(holds bool, yes, no string) string {
	if holds {
		return yes
	}
	return no
}

// fig3TopKKappa returns the largest Ritz value over the fig3TopK-th
// largest (over the smallest when there are fewer).
func fig3TopKKappa(values []float64) float64 {
	v := slices.Clone(values)
	slices.Sort(v)
	slices.Reverse(v)
	if len(v) == 0 {
		return math.NaN()
	}
	return v[0] / v[min(fig3TopK, len(v))-1]
}

// fig3SummarizeCE adds the cross-entropy rows and values to s; it returns
// false, adding nothing, when the results (of older runs) lack them.
func fig3SummarizeCE(s *Summary, results []fig3Result) (bool, error) {
	n := 0
	for _, r := range results {
		if r.CE != nil {
			n++
		}
	}
	if n == 0 {
		return false, nil
	}
	if n != len(results) {
		return false, fmt.Errorf("%d of %d seed results have the cross-entropy spectra", n, len(results))
	}
	col := func(f func(r fig3Result) float64) []float64 {
		var out []float64
		for _, r := range results {
			out = append(out, f(r))
		}
		return out
	}
	set := func(key string, x []float64) []float64 {
		s.Values[key], _ = MeanStd(x)
		return x
	}
	for k, key := range []string{"w0", "nlft"} {
		cv := func(r fig3Result) *fig3Curvature { return []*fig3Curvature{r.CE.W0, r.CE.NLFT}[k] }
		for _, r := range results {
			if c := cv(r); c == nil || len(c.Top) == 0 || c.Lanczos == nil {
				return false, fmt.Errorf("a seed result lacks the cross-entropy spectrum %s", key)
			}
		}
		maxs := set("ce_max_eigenvalue_"+key, col(func(r fig3Result) float64 { return cv(r).Top[0] }))
		kTop := set("ce_kappa_topk_"+key, col(func(r fig3Result) float64 { return cv(r).KappaTopK }))
		kRange := set("ce_kappa_range_"+key, col(func(r fig3Result) float64 { return cv(r).KappaRange }))
		kFull := set("ce_kappa_full_"+key, col(func(r fig3Result) float64 { return cv(r).KappaFull }))
		logFull := col(func(r fig3Result) float64 { return math.Log10(cv(r).KappaFull) })
		set("ce_rank_"+key, col(func(r fig3Result) float64 { return float64(cv(r).Rank) }))
		set("ce_train_loss_"+key, col(func(r fig3Result) float64 { return cv(r).TrainLoss }))
		// Lanczos on the product against the exact largest eigenvalue.
		set("ce_lanczos_max_rel_error_"+key, col(func(r fig3Result) float64 { return math.Abs(cv(r).Lanczos.Max-cv(r).Top[0]) / cv(r).Top[0] }))
		set("mse_max_eigenvalue_exact_"+key, col(func(r fig3Result) float64 { return cv(r).MSEMax }))
		set("mse_range_kappa_exact_"+key, col(func(r fig3Result) float64 { return cv(r).MSERangeKappa }))
		lambdas := col(func(r fig3Result) float64 { return r.Lambda })
		s.Rows = append(s.Rows, []string{fig3CEOperators[k], PlusMinus(maxs, "%.4g"), PlusMinus(lambdas, "%.4g"), PlusMinus(kFull, "%.4g"), PlusMinus(logFull, "%.2f"), PlusMinus(kRange, "%.4g"), PlusMinus(kTop, "%.4g")})
	}
	set("nlft_epochs", col(func(r fig3Result) float64 { return float64(len(r.CE.NLFTLoss)) }))
	set("nlft_initial_loss", col(func(r fig3Result) float64 { return r.CE.W0.TrainLoss }))
	set("nlft_final_loss", col(func(r fig3Result) float64 { return r.CE.NLFTLoss[len(r.CE.NLFTLoss)-1] }))
	set("nlft_max_epochs", col(func(r fig3Result) float64 { return float64(r.CE.NLFTMaxEpochs) }))
	// The plateau: the loss 10 epochs before the end, and the learning
	// rate at the end as a fraction of the initial one (cosine schedule
	// over NLFTMaxEpochs).
	set("nlft_loss_10_epochs_before", col(func(r fig3Result) float64 { return r.CE.NLFTLoss[max(len(r.CE.NLFTLoss)-11, 0)] }))
	set("nlft_lr_fraction_at_end", col(func(r fig3Result) float64 {
		return (1 + math.Cos(math.Pi*float64(len(r.CE.NLFTLoss))/float64(r.CE.NLFTMaxEpochs))) / 2
	}))
	set("kfac_range_kappa_w0", col(func(r fig3Result) float64 { return r.CE.KFACRangeKappa }))
	// K-FAC's improvement of the full kappa at w0 (MSE variant) and its
	// part on range(J); the rest comes from J's null space (the gap
	// between the range's smallest eigenvalue and lambda).
	total := set("kfac_improvement", col(func(r fig3Result) float64 { return r.KappaW0 / r.KappaPrecond }))
	rng := set("kfac_improvement_range", col(func(r fig3Result) float64 { return r.CE.W0.MSERangeKappa / r.CE.KFACRangeKappa }))
	rest := make([]float64, len(total))
	for i := range total {
		rest[i] = total[i] / rng[i]
	}
	set("kfac_improvement_null", rest)
	return true, nil
}

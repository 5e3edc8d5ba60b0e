package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSolveLinearHeadStationary checks the closed form against the
// definition of the optimum: the gradient of the LQF-FC objective, computed
// directly, vanishes there and not at a perturbed point.
func TestSolveLinearHeadStationary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n, f, c, alpha, lambda = 40, 6, 3, 15.0, 0.05
	h := make([]float32, n*f)
	for i := range h {
		h[i] = float32(rng.NormFloat64())
	}
	f0 := make([]float32, n*c)
	for i := range f0 {
		f0[i] = float32(rng.NormFloat64())
	}
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(rng.IntN(c))
	}
	dW, db, err := SolveLinearHead(h, f0, labels, f, c, alpha, lambda)
	if err != nil {
		t.Fatal(err)
	}
	// grad = (2/N) sum_i [h_i, 1]^T (pred_i - alpha y_i) + lambda theta
	grad := func(dW, db []float64) float64 {
		gW, gb := make([]float64, f*c), make([]float64, c)
		for i := range n {
			for k := range c {
				p := float64(f0[i*c+k]) + db[k]
				for j := range f {
					p += float64(h[i*f+j]) * dW[j*c+k]
				}
				if int(labels[i]) == k {
					p -= alpha
				}
				for j := range f {
					gW[j*c+k] += 2 / float64(n) * float64(h[i*f+j]) * p
				}
				gb[k] += 2 / float64(n) * p
			}
		}
		norm := 0.0
		for j := range gW {
			g := gW[j] + lambda*dW[j]
			norm += g * g
		}
		for k := range gb {
			g := gb[k] + lambda*db[k]
			norm += g * g
		}
		return math.Sqrt(norm)
	}
	if g := grad(dW, db); g > 1e-9 {
		t.Errorf("gradient norm %.3g at the closed-form solution, want ~0", g)
	}
	dW[0] += 1e-3
	if g := grad(dW, db); g < 1e-6 {
		t.Errorf("gradient norm %.3g after a perturbation: the check cannot fail", g)
	}
	if _, _, err := SolveLinearHead(h, f0, labels, f, c, alpha, 0); err == nil {
		t.Error("lambda = 0 accepted")
	}
}

// TestObjectiveGradient: the gradient of ObjectiveGradient matches central
// finite differences of Objective (float64; the objective is quadratic, so
// they agree to round-off), and both return the same objective.
func TestObjectiveGradient(t *testing.T) {
	const rows, p, n, lambda = 8, 5, 4, 0.3
	rng := rand.New(rand.NewPCG(7, 8))
	J := make([]float32, rows*p)
	for i := range J {
		J[i] = float32(rng.NormFloat64())
	}
	residual, dw := make([]float64, rows), make([]float64, p)
	for i := range residual {
		residual[i] = rng.NormFloat64()
	}
	for i := range dw {
		dw[i] = rng.NormFloat64()
	}
	grad := make([]float64, p)
	obj := ObjectiveGradient(J, p, residual, dw, lambda, n, grad)
	if want := Objective(J, p, residual, dw, lambda, n); math.Abs(obj-want) > 1e-12*want {
		t.Errorf("objective %.15g, Objective %.15g", obj, want)
	}
	const h = 1e-3
	for k := range p {
		x := append([]float64(nil), dw...)
		x[k] += h
		up := Objective(J, p, residual, x, lambda, n)
		x[k] -= 2 * h
		fd := (up - Objective(J, p, residual, x, lambda, n)) / (2 * h)
		if math.Abs(fd-grad[k]) > 1e-8*(1+math.Abs(fd)) {
			t.Errorf("d/dw%d: gradient %.12g, finite differences %.12g", k, grad[k], fd)
		}
	}
}

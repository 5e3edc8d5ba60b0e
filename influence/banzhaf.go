package influence

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/internal/progress"
)

// Banzhaf estimates the Banzhaf value of every training sample for every
// test output of the kernel-form LQF model:
//
//	beta_i(x) = E_S [ f_{S+i}(x) - f_S(x) ],
//
// S a random subset of the other samples that holds each with probability
// 1/2, f_S the closed form retrained on S (same rho). Where leave-one-out
// asks what removing one sample from the full set does, the Banzhaf value
// is the sample's average contribution to random halves of the data: the
// best additive model of f_S over uniformly random subsets (Hammer and
// Holzman, 1992), which is what the linear datamodeling score measures.
//
// Each of the sampled subsets S gives the exact marginal f_{S+i} - f_S of
// every sample i outside it from one factorization of K_SS + rho I: with
// W = (K_SS + rho I)^-1 K_S,i, B_i = K_ii + rho I - K_i,S W (C x C) and
// a_S the coefficients on S,
//
//	f_{S+i}(x) - f_S(x) = (k_i(x) - k_S(x)^T W) B_i^-1 (r_i - K_i,S a_S),
//
// so the estimate averages, per sample, about samples/2 exact marginals;
// Monte-Carlo error is the only approximation. The kernel k is
// [N*C, N*C], the residuals r [N*C], kTest [M, N*C]; the result has the
// layout of Exact.LeaveOneOut: D[i][m].
func Banzhaf(k *mat.SymDense, r []float64, classes int, ridge float64, kTest *mat.Dense, samples int, seed uint64, w io.Writer) ([][]float64, error) {
	if k == nil || kTest == nil {
		return nil, errors.New("influence: nil kernel")
	}
	rows := k.SymmetricDim()
	m, cols := kTest.Dims()
	switch {
	case classes < 1 || rows == 0 || rows%classes != 0:
		return nil, fmt.Errorf("influence: the kernel has %d rows, not a positive multiple of %d classes", rows, classes)
	case len(r) != rows:
		return nil, fmt.Errorf("influence: %d residuals for a kernel of %d rows", len(r), rows)
	case cols != rows:
		return nil, fmt.Errorf("influence: the test kernel has %d columns, want %d", cols, rows)
	case samples < 1:
		return nil, fmt.Errorf("influence: %d Banzhaf samples; need at least 1", samples)
	}
	if err := checkRidge(ridge); err != nil {
		return nil, err
	}
	c, n := classes, rows/classes
	sum := make([][]float64, n)
	for i := range sum {
		sum[i] = make([]float64, m)
	}
	count := make([]int, n)
	bar := progress.New(w, "banzhaf", samples, "subset")
	defer bar.Finish()
	for _, in := range BanzhafSubsets(n, samples, seed) {
		var set, out []int
		for i, ok := range in {
			if ok {
				set = append(set, i)
			} else {
				out = append(out, i)
			}
		}
		if len(out) > 0 {
			if err := addMarginals(k, r, c, ridge, kTest, set, out, sum); err != nil {
				return nil, err
			}
			for _, i := range out {
				count[i]++
			}
		}
		bar.Add(1)
	}
	for i, row := range sum {
		if count[i] == 0 {
			return nil, fmt.Errorf("influence: training sample %d was in every one of %d Banzhaf subsets; use more samples", i, samples)
		}
		for t := range row {
			row[t] /= float64(count[i])
		}
	}
	return sum, nil
}

// BanzhafSubsets draws the subsets of Banzhaf (each of n samples in with
// probability 1/2), reproducibly from seed.
func BanzhafSubsets(n, samples int, seed uint64) [][]bool {
	rng := rand.New(rand.NewPCG(seed, 0x62616e7a))
	out := make([][]bool, samples)
	for s := range out {
		out[s] = make([]bool, n)
		for i := range n {
			out[s][i] = rng.IntN(2) == 0
		}
	}
	return out
}

// addMarginals adds f_{S+i} - f_S on the test outputs to sum[i] for every
// i in out, S = set.
func addMarginals(k *mat.SymDense, r []float64, c int, ridge float64, kTest *mat.Dense, set, out []int, sum [][]float64) error {
	sRows, uRows := sampleRowsOf(set, c), sampleRowsOf(out, c)
	m, _ := kTest.Dims()
	ns, nu := len(sRows), len(uRows)
	kSU := mat.NewDense(max(ns, 1), nu, nil)
	G := mat.NewDense(m, nu, nil) // k_i(x) - k_S(x)^T W, for all i outside
	for t := range m {
		for b, cb := range uRows {
			G.Set(t, b, kTest.At(t, cb))
		}
	}
	rt := make([]float64, nu) // r_i - K_i,S a_S
	for b, cb := range uRows {
		rt[b] = r[cb]
	}
	var W *mat.Dense // (K_SS + rho I)^-1 K_S,U
	if ns > 0 {
		kSS := mat.NewSymDense(ns, nil)
		for a, ra := range sRows {
			for b := a; b < ns; b++ {
				kSS.SetSym(a, b, k.At(ra, sRows[b]))
			}
			kSS.SetSym(a, a, kSS.At(a, a)+ridge)
			for b, cb := range uRows {
				kSU.Set(a, b, k.At(ra, cb))
			}
		}
		var chol mat.Cholesky
		if !chol.Factorize(kSS) {
			return errors.New("influence: K_SS + rho I is not positive definite")
		}
		W = new(mat.Dense)
		if err := chol.SolveTo(W, kSU); err != nil {
			return err
		}
		rS := mat.NewVecDense(ns, nil)
		for a, ra := range sRows {
			rS.SetVec(a, r[ra])
		}
		var aS mat.VecDense
		if err := chol.SolveVecTo(&aS, rS); err != nil {
			return err
		}
		kTS := mat.NewDense(m, ns, nil)
		for t := range m {
			for a, ra := range sRows {
				kTS.Set(t, a, kTest.At(t, ra))
			}
		}
		var corr mat.Dense
		corr.Mul(kTS, W)
		G.Sub(G, &corr)
		var kaS mat.VecDense
		kaS.MulVec(kSU.T(), &aS)
		for b := range rt {
			rt[b] -= kaS.AtVec(b)
		}
	}
	B := mat.NewDense(c, c, nil)
	z := mat.NewVecDense(c, nil)
	for u, i := range out {
		o := u * c
		for a := range c {
			for b := range c {
				v := k.At(uRows[o+a], uRows[o+b])
				if W != nil {
					v -= mat.Dot(kSU.ColView(o+a), W.ColView(o+b))
				}
				if a == b {
					v += ridge
				}
				B.Set(a, b, v)
			}
		}
		if err := z.SolveVec(B, mat.NewVecDense(c, rt[o:o+c])); err != nil {
			return fmt.Errorf("influence: Schur complement of sample %d: %w", i, err)
		}
		for t := range m {
			s := 0.0
			for a := range c {
				s += G.At(t, o+a) * z.AtVec(a)
			}
			sum[i][t] += s
		}
	}
	return nil
}

// sampleRowsOf returns the kernel rows i*c+a of the samples, in order.
func sampleRowsOf(samples []int, c int) []int {
	rows := make([]int, 0, len(samples)*c)
	for _, i := range samples {
		for a := range c {
			rows = append(rows, i*c+a)
		}
	}
	return rows
}

package influence

import "testing"

// TestBanzhafMatchesRetraining: every exact marginal f_{S+i} - f_S of the
// sampled subsets equals retraining the closed form on S + i and on S from
// scratch; the estimate is their average per sample.
func TestBanzhafMatchesRetraining(t *testing.T) {
	d := loadNTK(t)
	const samples, seed = 12, 3
	got, err := Banzhaf(d.K, d.r, d.c, d.ridge, d.Kx, samples, seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := d.Kx.Dims()
	want := make([][]float64, d.n)
	count := make([]int, d.n)
	for i := range want {
		want[i] = make([]float64, m)
	}
	for _, in := range BanzhafSubsets(d.n, samples, seed) {
		var set []int
		for i, ok := range in {
			if ok {
				set = append(set, i)
			}
		}
		base := make([]float64, m)
		if len(set) > 0 {
			_, base = retrain(t, d, set)
		}
		for i, ok := range in {
			if ok {
				continue
			}
			var with []int // S + i in increasing order
			for j, o := range in {
				if o || j == i {
					with = append(with, j)
				}
			}
			_, f := retrain(t, d, with)
			for r := range f {
				want[i][r] += f[r] - base[r]
			}
			count[i]++
		}
	}
	for i := range want {
		if count[i] == 0 {
			t.Fatalf("sample %d in every subset: pick another seed", i)
		}
		for r := range want[i] {
			want[i][r] /= float64(count[i])
		}
	}
	assertClose(t, "Banzhaf vs retraining", flat(got), flat(want), 1e-9)

	if _, err := Banzhaf(d.K, d.r[:1], d.c, d.ridge, d.Kx, samples, seed, nil); err == nil {
		t.Error("Banzhaf accepted residuals of the wrong length")
	}
	if _, err := Banzhaf(d.K, d.r, d.c, d.ridge, d.Kx, 0, seed, nil); err == nil {
		t.Error("Banzhaf accepted 0 samples")
	}
	if _, err := Banzhaf(d.K, d.r, d.c, d.ridge, d.Kx, 1, 1, nil); err == nil {
		t.Error("Banzhaf with one subset left samples without a marginal and did not say so")
	}
}

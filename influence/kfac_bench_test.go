package influence

import (
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/kfac"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/pretrained"
)

// BenchmarkKFACQuery measures one K-FAC attribution query (one test image
// against every stored training vector) over 50,000 training images, with
// count sketches of dimension 1024, on the committed backbone
// (fashion-5-9, 5 outputs).
//
// The precompute runs for real on 64 training images (reported as
// precompute_ms/image: multiply by N for a real training set); the store
// of 50,000 rows is those 64 real rows repeated, because a query's cost
// (the test image's gradient pass plus a product with the N x 1024 store)
// depends on the shapes only.
func BenchmarkKFACQuery(b *testing.B) {
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	base, err := pretrained.Load(be, model.LeakyReLU)
	if err != nil {
		b.Fatal(err)
	}
	task, _ := data.TaskByName("fashion-5-9")
	sp, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: 64, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		b.Fatal(err)
	}
	net, err := base.ReplaceHead(be, sp.Train.NumClasses, 1)
	if err != nil {
		b.Fatal(err)
	}
	f, err := kfac.Compute(be, net, sp.Train, kfac.Options{})
	if err != nil {
		b.Fatal(err)
	}
	f0, err := net.Logits(be, sp.Train)
	if err != nil {
		b.Fatal(err)
	}
	e := linalg.Residuals(f0, sp.Train.Labels, sp.Train.NumClasses, model.DefaultAlpha)
	b.ResetTimer()
	k, err := NewKFAC(be, net, f, sp.Train, 1e-4, e, KFACOptions{Sketch: 1024, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	precompute := b.Elapsed()
	const n = 50000
	real := k.u
	_, width := real.Dims()
	store := mat.NewDense(n, width, nil)
	for i := range n {
		copy(store.RawRowView(i), real.RawRowView(i%sp.Train.Len()))
	}
	k.u, k.N = store, n
	query := sp.Test.Subset([]int{0})
	b.ResetTimer()
	for range b.N {
		d, err := k.Query(be, query)
		if err != nil {
			b.Fatal(err)
		}
		if len(d) != n {
			b.Fatalf("%d rows, want %d", len(d), n)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/query")
	b.ReportMetric(float64(precompute.Milliseconds())/float64(sp.Train.Len()), "precompute_ms/image")
}

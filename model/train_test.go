package model

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/lqf-go/lqf/data"
)

// tinyConfig is a backbone small enough for unit tests.
func tinyConfig(numClasses int) Config {
	c := DefaultConfig(numClasses)
	c.StemWidth, c.StageWidths = 4, []int{4, 8, 8}
	return c
}

func loadTiny(t testing.TB, task string, maxTrain int) *data.Splits {
	t.Helper()
	tk, err := data.TaskByName(task)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tk.Load(data.SplitOptions{Seed: 3, MaxTrain: maxTrain, ValPerClass: 10, MaxTest: 100})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTrainLossDecreases(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 64)
	for _, loss := range []Loss{CrossEntropy, MSE} {
		n, err := NewNetwork(be, tinyConfig(5), 7)
		if err != nil {
			t.Fatal(err)
		}
		lr := 0.2
		if loss == MSE {
			lr = 0.01
		}
		res, err := n.Train(be, splits.Train, TrainOptions{
			Loss: loss, LearningRate: lr, Momentum: 0.9, Lambda: 1e-4,
			BatchSize: 32, Epochs: 8, Seed: 1, BatchNorm: TrainBatchStats,
		})
		if err != nil {
			t.Fatal(err)
		}
		first, last := res.EpochLoss[0], res.EpochLoss[len(res.EpochLoss)-1]
		t.Logf("%s: epoch loss %.4f -> %.4f", loss, first, last)
		if len(res.EpochLoss) != 8 || !(last < 0.8*first) {
			t.Errorf("%s: epoch losses %v: want 8 epochs and the last below 80%% of the first", loss, res.EpochLoss)
		}
		// The trained network fits its training set well above chance (0.8).
		e, err := n.TestError(be, splits.Train)
		t.Logf("%s: training error %.3f", loss, e)
		if err != nil || e > 0.6 {
			t.Errorf("%s: training error %.3f (err %v), want < 0.6", loss, e, err)
		}
	}
}

func TestTrainSameSeedSameResult(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 40)
	run := func() []float64 {
		n, err := NewNetwork(be, tinyConfig(5), 11)
		if err != nil {
			t.Fatal(err)
		}
		r, err := n.Train(be, splits.Train, TrainOptions{LearningRate: 0.05, Momentum: 0.9, BatchSize: 20, Epochs: 2, Seed: 5, Augment: data.RandomCrop, BatchNorm: TrainBatchStats})
		if err != nil {
			t.Fatal(err)
		}
		return r.StepLoss
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: loss %v then %v with the same seeds", i, a[i], b[i])
		}
	}
}

func TestTrainErrors(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 20)
	n, err := NewNetwork(be, tinyConfig(3), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Train(be, splits.Train, TrainOptions{LearningRate: 0.1}); err == nil || !strings.Contains(err.Error(), "replace the head") {
		t.Errorf("class mismatch: got %v", err)
	}
	n5, _ := n.ReplaceHead(be, 5, 1)
	if _, err := n5.Train(be, splits.Train, TrainOptions{LearningRate: -1}); err == nil || !strings.Contains(err.Error(), "learning rate") {
		t.Errorf("negative learning rate: got %v", err)
	}
	if _, err := n5.Train(be, splits.Train, TrainOptions{LearningRate: 1e6, Loss: MSE, Epochs: 3}); err == nil || !strings.Contains(err.Error(), "diverged") {
		t.Errorf("huge learning rate: got %v, want a divergence error", err)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	be := testBackend(t)
	splits := loadTiny(t, "mnist-5-9", 20)
	n, err := NewNetwork(be, tinyConfig(5), 3)
	if err != nil {
		t.Fatal(err)
	}
	// Move the running statistics away from their initial values.
	if _, err := n.Train(be, splits.Train, TrainOptions{LearningRate: 0.01, BatchSize: 10, BatchNorm: TrainBatchStats}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	type meta struct{ Note string }
	if err := n.WriteCheckpoint(&buf, meta{"hello"}); err != nil {
		t.Fatal(err)
	}
	var got meta
	m, err := ReadCheckpoint(be, bytes.NewReader(buf.Bytes()), &got)
	if err != nil {
		t.Fatal(err)
	}
	if got.Note != "hello" {
		t.Errorf("metadata %+v", got)
	}
	a, _ := n.Logits(be, splits.Test)
	b, _ := m.Logits(be, splits.Test)
	if len(a) != 5*splits.Test.Len() {
		t.Fatalf("%d logits for %d images", len(a), splits.Test.Len())
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("logit %d: %v before saving, %v after loading", i, a[i], b[i])
		}
	}
	raw := buf.Bytes()
	for name, bad := range map[string][]byte{
		"truncated":  raw[:len(raw)-3],
		"bad magic":  append([]byte("XQF"), raw[3:]...),
		"trailing":   append(append([]byte{}, raw...), 0),
		"no header":  []byte(checkpointMagic),
		"empty file": nil,
	} {
		if _, err := ReadCheckpoint(be, bytes.NewReader(bad), nil); err == nil {
			t.Errorf("%s checkpoint: no error", name)
		}
	}
}

func TestSaveCheckpointAtomic(t *testing.T) {
	be := testBackend(t)
	n, err := NewNetwork(be, tinyConfig(2), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := n.SaveCheckpoint(dir+"/missing/x.ckpt", nil); err == nil {
		t.Error("saving into a missing directory: no error")
	}
	path := dir + "/x.ckpt"
	if err := n.SaveCheckpoint(path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(be, path, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCheckpoint(be, dir+"/none.ckpt", nil); err == nil || !strings.Contains(err.Error(), "none.ckpt") {
		t.Errorf("missing file: %v", err)
	}
}

func TestReplaceHeadKeepsBackbone(t *testing.T) {
	be := testBackend(t)
	n, err := NewNetwork(be, tinyConfig(10), 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.ReplaceHead(be, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumClasses() != 3 || n.NumClasses() != 10 {
		t.Fatalf("classes %d (new) and %d (original)", m.NumClasses(), n.NumClasses())
	}
	if got, want := m.NumParameters(ScopeBackbone), n.NumParameters(ScopeBackbone); got != want {
		t.Errorf("backbone parameters %d, want %d", got, want)
	}
	if got, want := m.NumParameters(ScopeHead), 8*3+3; got != want {
		t.Errorf("head parameters %d, want %d", got, want)
	}
	for _, v := range n.Variables() {
		if !strings.HasPrefix(v.Scope(), "/"+ScopeBackbone) {
			continue
		}
		w := m.Ctx.GetVariableByScopeAndName(v.Scope(), v.Name())
		if w == nil {
			t.Fatalf("%s missing after ReplaceHead", v.ScopeAndName())
		}
		x, y := tensors.MustCopyFlatData[float32](v.MustValue()), tensors.MustCopyFlatData[float32](w.MustValue())
		for i := range x {
			if x[i] != y[i] {
				t.Fatalf("%s changed by ReplaceHead", v.ScopeAndName())
			}
		}
	}
}

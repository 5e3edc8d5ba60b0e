package data

import (
	"slices"
	"strings"
	"testing"
)

func TestTasksOrder(t *testing.T) {
	tasks := Tasks()
	if tasks[0].Name != "source" || tasks[0].Role != Source || tasks[0].Rank != 0 || len(tasks[0].ClassNames) != 10 {
		t.Fatalf("first task %+v is not the 10-class source", tasks[0])
	}
	names := map[string]bool{}
	for i, task := range tasks {
		if names[task.Name] {
			t.Errorf("duplicate task %q", task.Name)
		}
		names[task.Name] = true
		if i > 0 && (task.Role != Target || task.Rank != i) {
			t.Errorf("task %q: role %v rank %d, want target rank %d", task.Name, task.Role, task.Rank, i)
		}
		got, err := TaskByName(task.Name)
		if err != nil || got.Name != task.Name {
			t.Errorf("TaskByName(%q) = %v, %v", task.Name, got.Name, err)
		}
		if task.Flip != (strings.HasPrefix(task.Name, "fashion") && task.Name != "fashion-rot90") {
			t.Errorf("task %q: Flip = %v", task.Name, task.Flip)
		}
	}
	if len(tasks) != 9 {
		t.Errorf("%d tasks, want 9", len(tasks))
	}
}

func TestTaskByNameUnknown(t *testing.T) {
	_, err := TaskByName("cifar")
	if err == nil {
		t.Fatal("no error for an unknown task")
	}
	for _, w := range []string{`unknown task "cifar"`, "fashion-5-9", "mnist-rot90", "lqf tasks"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestRotate90AndInvert(t *testing.T) {
	img := make([]float32, ImageSize)
	img[0] = 1         // top-left
	img[27] = 2        // top-right
	img[27*Width] = 3  // bottom-left
	img[3*Width+5] = 4 // (y=3, x=5)
	Rotate90(img)
	// Clockwise: top-left -> top-right -> bottom-right, bottom-left -> top-left,
	// (y, x) -> (x, 27-y).
	if img[27] != 1 || img[27*Width+27] != 2 || img[0] != 3 || img[5*Width+24] != 4 {
		t.Errorf("Rotate90: got %v %v %v %v", img[27], img[27*Width+27], img[0], img[5*Width+24])
	}
	Invert(img)
	if img[27] != 0 || img[1] != 1 || img[0] != -2 {
		t.Errorf("Invert: got %v %v %v", img[27], img[1], img[0])
	}
}

func mustTask(t *testing.T, name string) Task {
	t.Helper()
	task, err := TaskByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func mustLoad(t *testing.T, task Task, opts SplitOptions) *Splits {
	t.Helper()
	s, err := task.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// key identifies a sample of a task by its label and official-file index.
type key struct{ label, origin int32 }

func keys(s *Set) map[key]bool {
	m := map[key]bool{}
	for i := range s.Labels {
		m[key{s.Labels[i], s.Origin[i]}] = true
	}
	return m
}

func TestTaskSplitsFashion59(t *testing.T) {
	requireData(t)
	task := mustTask(t, "fashion-5-9")
	sp := mustLoad(t, task, SplitOptions{Seed: 1, Shots: 5, ValPerClass: 20, MaxTest: 100})
	if got := sp.Train.ClassCounts(); !slices.Equal(got, []int{5, 5, 5, 5, 5}) {
		t.Errorf("train class counts %v, want 5 each", got)
	}
	if got := sp.Val.ClassCounts(); !slices.Equal(got, []int{20, 20, 20, 20, 20}) {
		t.Errorf("val class counts %v, want 20 each", got)
	}
	if got := sp.Test.ClassCounts(); !slices.Equal(got, []int{20, 20, 20, 20, 20}) {
		t.Errorf("test class counts %v, want 20 each", got)
	}
	for k := range keys(sp.Train) {
		if keys(sp.Val)[k] {
			t.Errorf("sample %v is in both train and val", k)
		}
	}
	if len(keys(sp.Train)) != 25 || len(keys(sp.Val)) != 100 || len(keys(sp.Test)) != 100 {
		t.Errorf("duplicate samples within a split")
	}
	if sp.Train.ClassNames[0] != "Sandal" || sp.Train.ClassNames[4] != "Ankle boot" {
		t.Errorf("class names %v", sp.Train.ClassNames)
	}

	// Labels 0..4 are Fashion 5..9 and pixels are the official ones, in the
	// official train file (train, val) or test file (test).
	for _, c := range []struct {
		set          *Set
		images, labs string
	}{
		{sp.Train, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
		{sp.Val, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
		{sp.Test, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"},
	} {
		images, labels := rawIDX(t, FashionMNISTDir, c.images), rawIDX(t, FashionMNISTDir, c.labs)
		for i, l := range c.set.Labels {
			o := int(c.set.Origin[i])
			if int(labels.Data[o]) != int(l)+5 {
				t.Fatalf("%s: sample %d has label %d but official label %d", c.labs, i, l, labels.Data[o])
			}
			for p := 0; p < ImageSize; p += 97 {
				if want := float32(images.Data[o*ImageSize+p]) / 255; c.set.Image(i)[p] != want {
					t.Fatalf("%s: sample %d pixel %d = %v, want %v", c.images, i, p, c.set.Image(i)[p], want)
				}
			}
		}
	}

	// Determinism.
	again := mustLoad(t, task, SplitOptions{Seed: 1, Shots: 5, ValPerClass: 20, MaxTest: 100})
	if !slices.Equal(again.Train.Origin, sp.Train.Origin) || !slices.Equal(again.Val.Origin, sp.Val.Origin) ||
		!slices.Equal(again.Test.Origin, sp.Test.Origin) || !slices.Equal(again.Train.Images, sp.Train.Images) {
		t.Error("same options gave different splits")
	}
	other := mustLoad(t, task, SplitOptions{Seed: 2, Shots: 5, ValPerClass: 20, MaxTest: 100})
	if slices.Equal(other.Train.Origin, sp.Train.Origin) || slices.Equal(other.Val.Origin, sp.Val.Origin) {
		t.Error("a different seed gave the same train or val split")
	}
	if !slices.Equal(other.Test.Origin, sp.Test.Origin) {
		t.Error("the test subsample depends on the seed")
	}
}

func TestTaskSplitsSourceAndDefaults(t *testing.T) {
	requireData(t)
	sp := mustLoad(t, mustTask(t, "source"), SplitOptions{Seed: 3, MaxTrain: 1000, MaxTest: 500})
	if got := sp.Train.ClassCounts(); !slices.Equal(got, slices.Repeat([]int{100}, 10)) {
		t.Errorf("MaxTrain=1000 class counts %v, want 100 each", got)
	}
	if got := sp.Val.ClassCounts(); !slices.Equal(got, slices.Repeat([]int{DefaultValPerClass}, 10)) {
		t.Errorf("default val class counts %v", got)
	}
	fashion := rawIDX(t, FashionMNISTDir, "train-labels-idx1-ubyte.gz")
	mnist := rawIDX(t, MNISTDir, "train-labels-idx1-ubyte.gz")
	for _, s := range []*Set{sp.Train, sp.Val} {
		for i, l := range s.Labels {
			raw := fashion.Data[s.Origin[i]]
			if l >= 5 {
				raw = mnist.Data[s.Origin[i]] + 5
			}
			if int32(raw) != l {
				t.Fatalf("source label %d at origin %d has official label %d", l, s.Origin[i], raw)
			}
		}
	}
	for k := range keys(sp.Train) {
		if keys(sp.Val)[k] {
			t.Fatalf("sample %v in train and val", k)
		}
	}

	// The whole pool minus validation when Shots and MaxTrain are 0.
	full := mustLoad(t, mustTask(t, "mnist-5-9"), SplitOptions{Seed: 1})
	counts := rawIDX(t, MNISTDir, "train-labels-idx1-ubyte.gz")
	want := make([]int, 5)
	for _, l := range counts.Data {
		if l >= 5 {
			want[l-5]++
		}
	}
	for c := range want {
		want[c] -= DefaultValPerClass
	}
	if got := full.Train.ClassCounts(); !slices.Equal(got, want) {
		t.Errorf("full train class counts %v, want %v", got, want)
	}
	if full.Test.Len() != 10000-5139 { // MNIST test has 5139 digits 0-4
		t.Errorf("full test has %d samples, want %d", full.Test.Len(), 10000-5139)
	}
}

func TestTaskTransforms(t *testing.T) {
	requireData(t)
	opts := SplitOptions{Seed: 4, Shots: 2, ValPerClass: 1, MaxTest: 10}
	plain := mustLoad(t, mustTask(t, "mnist"), opts)
	inv := mustLoad(t, mustTask(t, "mnist-inverted"), opts)
	rot := mustLoad(t, mustTask(t, "mnist-rot90"), opts)
	finv := mustLoad(t, mustTask(t, "fashion-inverted"), opts)
	fplain := mustLoad(t, mustTask(t, "fashion"), opts)
	if !slices.Equal(plain.Train.Origin, rot.Train.Origin) || !slices.Equal(plain.Test.Origin, inv.Test.Origin) {
		t.Fatal("transformed tasks picked different samples for the same seed")
	}
	for i := range plain.Test.Len() {
		p, v, r := plain.Test.Image(i), inv.Test.Image(i), rot.Test.Image(i)
		for y := range Height {
			for x := range Width {
				if v[y*Width+x] != 1-p[y*Width+x] {
					t.Fatalf("inverted pixel (%d,%d) = %v, want %v", y, x, v[y*Width+x], 1-p[y*Width+x])
				}
				if r[y*Width+x] != p[(Height-1-x)*Width+y] {
					t.Fatalf("rotated pixel (%d,%d) is not original (%d,%d)", y, x, Height-1-x, y)
				}
			}
		}
		if fi, fp := finv.Test.Image(i), fplain.Test.Image(i); fi[400] != 1-fp[400] {
			t.Fatalf("fashion inverted pixel = %v, want %v", fi[400], 1-fp[400])
		}
	}
}

func TestTaskLoadErrors(t *testing.T) {
	requireData(t)
	_, err := mustTask(t, "mnist-5-9").Load(SplitOptions{Shots: 10000})
	if err == nil {
		t.Fatal("no error for k=10000")
	}
	for _, w := range []string{`"mnist-5-9"`, `class "5"`, "k=10000", "available"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if _, err := mustTask(t, "mnist").Load(SplitOptions{Shots: -1}); err == nil || !strings.Contains(err.Error(), "Shots") {
		t.Errorf("Shots=-1: got %v", err)
	}
	if _, err := (Task{Name: "custom"}).Load(SplitOptions{}); err == nil || !strings.Contains(err.Error(), "TaskByName") {
		t.Errorf("zero task: got %v", err)
	}
}

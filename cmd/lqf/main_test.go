package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/numpy"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/atomicfile"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestTasksJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tasks.json")
	code, stdout, stderr := runCLI("tasks", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var tasks []struct {
		Name, Role string
		Classes    []string
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &tasks); err != nil {
		t.Fatal(err)
	}
	targets := 0
	for _, tk := range tasks {
		if !strings.Contains(stdout, tk.Name) {
			t.Errorf("table lacks task %s", tk.Name)
		}
		if tk.Role == "target" {
			targets++
		}
	}
	if targets < 6 {
		t.Errorf("%d target tasks, want at least 6", targets)
	}
}

// TestFinetuneSmall runs the main job's defaults (LQF in closed form, NLFT
// and FC, then the explanation of a misclassified test image of the LQF
// model) end to end on a few images with the embedded backbone, and checks
// the table, the explanation and the JSON document.
func TestFinetuneSmall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	code, stdout, stderr := runCLI("finetune", "--task", "mnist-5-9", "--max-train", "40", "--val-per-class", "4",
		"--max-test", "40", "--epochs", "1", "--lr", "0.01", "--wd", "1e-4", "--quiet", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"lqf ", "closed form", "nlft", "fc ", "why?", "test image", "proponent", "opponent", "effect on"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	var doc struct {
		TestError map[string]float64 `json:"test_error"`
		Results   []struct {
			Method    string  `json:"method"`
			TestError float64 `json:"test_error"`
			TrainSize int     `json:"train_size"`
		} `json:"results"`
		Explained []struct {
			Label, Predicted int
			Proponents       []struct{ Train int }
		} `json:"explained"`
	}
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
	if len(doc.Results) != 3 || len(doc.TestError) != 3 {
		t.Fatalf("want three results, got %s", raw)
	}
	for _, r := range doc.Results {
		if r.TrainSize != 40 || r.TestError < 0 || r.TestError > 1 || doc.TestError[r.Method] != r.TestError {
			t.Errorf("result %+v inconsistent with %v", r, doc.TestError)
		}
	}
	if len(doc.Explained) != 1 || doc.Explained[0].Label == doc.Explained[0].Predicted || len(doc.Explained[0].Proponents) != 3 {
		t.Errorf("explained: %+v", doc.Explained)
	}
}

func TestCheckJVPCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jvp.json")
	code, stdout, stderr := runCLI("check", "jvp", "--images", "2", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	var doc struct {
		FD   float64 `json:"fd_max_rel_error"`
		VJP  float64 `json:"double_vjp_max_rel_error"`
		Pass bool    `json:"pass"`
	}
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.Pass || doc.FD > 1e-6 || doc.VJP > 1e-5 || doc.FD == 0 || doc.VJP == 0 {
		t.Errorf("check jvp on the committed backbone: %s", raw)
	}
}

// TestFinetuneLinearMethods runs LQF (SGD and exact) and GaF on a few images.
func TestFinetuneLinearMethods(t *testing.T) {
	for _, args := range [][]string{
		{"--method", "lqf,gaf", "--lr", "0.001", "--wd", "1e-4"},
		{"--method", "lqf,gaf", "--lr", "0.001", "--wd", "1e-4", "--linearization", "jvp"},
		{"--method", "lqf,lqf-fc", "--solver", "exact", "--wd", "1e-4"},
		{"--method", "lqf,lqf-fc", "--solver", "exact", "--wd", "1e-4", "--pooling", "bilinear"},
	} {
		path := filepath.Join(t.TempDir(), "out.json")
		all := append([]string{"finetune", "--task", "mnist-5-9", "--max-train", "20", "--val-per-class", "4",
			"--max-test", "20", "--epochs", "1", "--quiet", "--json", path}, args...)
		code, stdout, stderr := runCLI(all...)
		if code != 0 {
			t.Fatalf("lqf %v: exit %d: %s", all, code, stderr)
		}
		var doc struct {
			TestError map[string]float64 `json:"test_error"`
		}
		raw, _ := os.ReadFile(path)
		if err := json.Unmarshal(raw, &doc); err != nil || len(doc.TestError) != 2 {
			t.Fatalf("lqf %v: %v, JSON %s, table\n%s", all, err, raw, stdout)
		}
	}
	code, _, stderr := runCLI("finetune", "--method", "nlft", "--solver", "exact")
	if code != 2 || !strings.Contains(stderr, "lqf and lqf-fc") {
		t.Errorf("exact solver for nlft: exit %d, %q", code, stderr)
	}
	for _, bad := range [][]string{
		{"--linearization", "hessian"},
		{"--linearization", "jacobian", "--augment", "crop"},
	} {
		code, _, stderr := runCLI(append([]string{"finetune", "--method", "lqf"}, bad...)...)
		if code != 2 || !strings.Contains(stderr, "--linearization") {
			t.Errorf("%v: exit %d, %q; want a usage error naming --linearization", bad, code, stderr)
		}
	}
}

// TestFinetuneImageFolder fine-tunes on a user's folder of PNG files: two
// classes of MNIST digits written as images.
func TestFinetuneImageFolder(t *testing.T) {
	root := t.TempDir()
	task, err := data.TaskByName("mnist-5-9")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: 40, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int32]int{}
	for i, l := range sp.Train.Labels {
		if l > 1 {
			continue
		}
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for p, v := range sp.Train.Image(i) {
			img.Pix[p] = uint8(v * 255)
		}
		dir := filepath.Join(root, sp.Train.ClassNames[l])
		os.MkdirAll(dir, 0o755)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.png", counts[l])))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
		counts[l]++
	}
	path := filepath.Join(t.TempDir(), "out.json")
	code, stdout, stderr := runCLI("finetune", "--images", root, "--method", "fc", "--val-per-class", "1", "--quiet", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		TestError float64 `json:"test_error"`
		TrainSize int     `json:"train_size"`
		TestSize  int     `json:"test_size"`
	}
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// 8 images per class: 1 test (20%), 1 validation, 6 training.
	if doc.TrainSize != 12 || doc.TestSize != 2 || !strings.Contains(stdout, "folder") {
		t.Errorf("folder fine-tuning: %s\n%s", raw, stdout)
	}
}

// TestExportNTKMatchesJacobian exports Jacobian rows and the NTK of the
// same split and checks K = J J^T entry by entry (a direct float64 sum,
// independent of the blocked Gram code).
func TestExportNTKMatchesJacobian(t *testing.T) {
	dirJ, dirK := t.TempDir(), t.TempDir()
	for _, c := range []struct{ what, dir string }{{"jacobian", dirJ}, {"ntk", dirK}} {
		code, _, stderr := runCLI("export", "--task", "mnist-5-9", "--what", c.what, "--out", c.dir,
			"--max-train", "5", "--max-test", "5", "--quiet")
		if code != 0 {
			t.Fatalf("export %s: exit %d: %s", c.what, code, stderr)
		}
	}
	load := func(path string) ([]float64, []int) {
		tt, err := numpy.FromNpyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch tt.DType() {
		case dtypes.Float32:
			v := tensors.MustCopyFlatData[float32](tt)
			out := make([]float64, len(v))
			for i, x := range v {
				out[i] = float64(x)
			}
			return out, tt.Shape().Dimensions
		default:
			return tensors.MustCopyFlatData[float64](tt), tt.Shape().Dimensions
		}
	}
	jtr, dtr := load(filepath.Join(dirJ, "jacobian_train.npy"))
	jte, dte := load(filepath.Join(dirJ, "jacobian_test.npy"))
	ktt, dk := load(filepath.Join(dirK, "ntk_train_train.npy"))
	kxt, dx := load(filepath.Join(dirK, "ntk_test_train.npy"))
	f0, df := load(filepath.Join(dirK, "f0_train.npy"))
	if dtr[0] != 25 || dte[0] != 25 || dk[0] != 25 || dk[1] != 25 || dx[0] != 25 || dx[1] != 25 || df[0] != 5 || df[1] != 5 || len(f0) != 25 {
		t.Fatalf("shapes: jacobian %v %v, ntk %v %v, f0 %v", dtr, dte, dk, dx, df)
	}
	p := dtr[1]
	dot := func(a, b []float64, i, j int) float64 {
		s := 0.0
		for k := range p {
			s += a[i*p+k] * b[j*p+k]
		}
		return s
	}
	var maxErr, maxVal float64
	for i := range 25 {
		for j := range 25 {
			for _, c := range []struct {
				got  float64
				want float64
			}{{ktt[i*25+j], dot(jtr, jtr, i, j)}, {kxt[i*25+j], dot(jte, jtr, i, j)}} {
				maxErr = math.Max(maxErr, math.Abs(c.got-c.want))
				maxVal = math.Max(maxVal, math.Abs(c.want))
			}
		}
	}
	if maxErr > 1e-9*maxVal || maxVal == 0 {
		t.Errorf("exported NTK differs from J J^T by %g (max entry %g)", maxErr, maxVal)
	}
}

// TestInfluenceCommand explains a test image of a small LQF model (exact
// and K-FAC) and an LQF-FC one end to end: the JSON lists proponents and opponents whose
// scores are ordered, the image grids are PNG files.
func TestInfluenceCommand(t *testing.T) {
	dir := t.TempDir()
	for _, method := range []string{"lqf", "lqf-fc", "kfac"} {
		path := filepath.Join(dir, method+".json")
		args := []string{"influence", "--method", method, "--max-train", "12", "--max-test", "6", "--test", "1",
			"--top", "3", "--self", "2", "--train-index", "0", "--png", filepath.Join(dir, method), "--quiet", "--json", path}
		if method == "kfac" {
			args[2] = "lqf"
			args = append(args, "--approx", "kfac", "--fit-epochs", "2")
		}
		code, stdout, stderr := runCLI(args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", method, code, stderr)
		}
		var doc struct {
			Explanations []struct {
				Test       int
				PNG        string
				Proponents []struct {
					Train          int     `json:"train"`
					DeltaPredicted float64 `json:"delta_predicted"`
				}
				Opponents []struct {
					DeltaPredicted float64 `json:"delta_predicted"`
				}
			}
			SelfInfluence []struct {
				Norm float64 `json:"norm"`
			} `json:"self_influence"`
		}
		raw, _ := os.ReadFile(path)
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v in %s", method, err, raw)
		}
		if len(doc.Explanations) != 1 || doc.Explanations[0].Test != 1 || len(doc.Explanations[0].Proponents) != 3 || len(doc.SelfInfluence) != 2 {
			t.Fatalf("%s: unexpected document %s", method, raw)
		}
		e := doc.Explanations[0]
		if e.Proponents[0].DeltaPredicted < e.Proponents[2].DeltaPredicted || e.Opponents[0].DeltaPredicted > e.Opponents[2].DeltaPredicted ||
			e.Proponents[2].DeltaPredicted < e.Opponents[2].DeltaPredicted {
			t.Errorf("%s: proponents and opponents out of order: %s", method, raw)
		}
		f, err := os.Open(e.PNG)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %s: %v", method, e.PNG, err)
		}
		f.Close()
		if !strings.Contains(stdout, "proponent") || !strings.Contains(stdout, "self-influence") {
			t.Errorf("%s: table lacks proponents or self-influence:\n%s", method, stdout)
		}
	}
}

// TestReproduceList lists every experiment with what --out holds for it.
func TestReproduceList(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "fig7-quick"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fig7-quick", "seed-1.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("reproduce", "--list", "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"fig1 ", "table3 ", "claim: ", "full mode nothing; quick mode seed 1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--list output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestReproduceRunSeedsFlag: seeds outside 1..--seeds are refused with the
// flag named, before any work.
func TestReproduceRunSeedsFlag(t *testing.T) {
	for _, v := range []string{"0", "4", "2,x"} {
		code, _, stderr := runCLI("reproduce", "--fig", "7", "--seeds", "3", "--run-seeds", v, "--out", t.TempDir())
		if code != 2 || !strings.Contains(stderr, "--run-seeds") {
			t.Errorf("--run-seeds %s: exit %d, stderr %q; want 2 and the flag named", v, code, stderr)
		}
	}
}

// TestReproduceMerge: --merge copies another run's seeds into --out and
// says so; a missing directory is an error naming the flag and the path.
func TestReproduceMerge(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "fig7-quick"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "fig7-quick", "seed-2.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("reproduce", "--merge", src, "--out", dst)
	if code != 0 || !strings.Contains(stdout, "fig7-quick: seeds [2]") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dst, "fig7-quick", "seed-2.json")); err != nil {
		t.Errorf("seed not merged: %v", err)
	}
	missing := filepath.Join(src, "nope")
	code, _, stderr = runCLI("reproduce", "--merge", missing, "--out", dst)
	if code == 0 || !strings.Contains(stderr, "--merge") || !strings.Contains(stderr, missing) {
		t.Errorf("missing --merge dir: exit %d, stderr %q", code, stderr)
	}
}

// TestExportImages writes the images and labels of lqf finetune's splits
// (train, val and test; by default 100 validation images per class, and
// --max-test 0 for the whole test split) and reads them back equal to the
// task's split; it does no network work (no f0 files).
func TestExportImages(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := runCLI("export", "--task", "mnist-5-9", "--what", "images", "--out", dir, "--max-train", "6", "--max-test", "0", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	task, _ := data.TaskByName("mnist-5-9")
	sp, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: 6, ValPerClass: finetuneValPerClass, MaxTest: 0})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Val.Len() != 5*finetuneValPerClass || sp.Test.Len() < 4000 {
		t.Fatalf("split sizes: val %d, test %d", sp.Val.Len(), sp.Test.Len())
	}
	for _, part := range []struct {
		name string
		set  *data.Set
	}{{"train", sp.Train}, {"val", sp.Val}, {"test", sp.Test}} {
		img, err := numpy.FromNpyFile(filepath.Join(dir, "images_"+part.name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		lab, err := numpy.FromNpyFile(filepath.Join(dir, "labels_"+part.name+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		got := tensors.MustCopyFlatData[float32](img)
		if d := img.Shape().Dimensions; len(d) != 4 || d[0] != part.set.Len() || d[1] != 28 || d[2] != 28 || d[3] != 1 {
			t.Fatalf("%s images %v", part.name, d)
		}
		for i, v := range part.set.Images {
			if got[i] != v {
				t.Fatalf("%s image value %d: %g, want %g", part.name, i, got[i], v)
			}
		}
		for i, l := range tensors.MustCopyFlatData[int32](lab) {
			if l != part.set.Labels[i] {
				t.Fatalf("%s label %d: %d, want %d", part.name, i, l, part.set.Labels[i])
			}
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "f0_*")); len(m) != 0 {
		t.Errorf("--what images ran the network: %v", m)
	}
}

// TestExportReplacesEarlierRun: a second export into the same directory
// removes the files the first listed in its manifest, so the directory
// holds one run's files, all named in manifest.json.
func TestExportReplacesEarlierRun(t *testing.T) {
	dir := t.TempDir()
	for _, what := range []string{"features", "images"} {
		if code, _, stderr := runCLI("export", "--task", "mnist-5-9", "--what", what, "--out", dir, "--max-train", "6", "--max-test", "4", "--quiet"); code != 0 {
			t.Fatalf("--what %s: exit %d: %s", what, code, stderr)
		}
	}
	m, err := atomicfile.ReadManifest(dir)
	if err != nil || !m.Complete {
		t.Fatalf("manifest %+v: %v", m, err)
	}
	listed := map[string]bool{atomicfile.ManifestName: true}
	for _, f := range m.Files {
		listed[f.Name] = true
		if err := atomicfile.CheckMember(filepath.Join(dir, f.Name)); err != nil {
			t.Error(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("%s: left from the earlier export", e.Name())
		}
	}
	if !listed["images_val.npy"] || listed["features_train.npy"] {
		t.Errorf("manifest files %v", m.Files)
	}
}

// TestInfluenceCache: a second `lqf influence --cache DIR` with the same
// backbone, data and seed loads the kernel set-up (at another --wd too)
// and explains the same way as without a cache.
func TestInfluenceCache(t *testing.T) {
	dir := t.TempDir()
	args := []string{"influence", "--max-train", "10", "--max-test", "5", "--test", "0", "--top", "2", "--self", "0", "--cache", dir}
	_, out1, err1 := runCLI(args...)
	code, out2, err2 := runCLI(append(args, "--json", filepath.Join(dir, "b.json"))...)
	_, out3, _ := runCLI(args[:len(args)-2]...)
	if code != 0 || strings.Contains(err1, "loaded") || !strings.Contains(err2, "loaded") || out1 != out2 || out2 != out3 {
		t.Errorf("exit %d\nfirst run: %s%s\nsecond: %s%s\nwithout cache: %s", code, out1, err1, out2, err2, out3)
	}
}

package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/numpy"
)

// onnxFixtures returns the fixture directories (scripts/onnx_fixtures.py)
// to check: the committed small CNN, and torchvision's ResNet-18 from
// $LQF_ONNX_RESNET18 (too large to commit: .ci/run regenerates it there).
// Without that variable the ResNet-18 check is skipped, except under CI
// ($LQF_CI set), where its absence fails.
func onnxFixtures(t *testing.T) []string {
	dirs := []string{filepath.Join("..", "..", "onnx", "testdata", "smallcnn")}
	if d := os.Getenv("LQF_ONNX_RESNET18"); d != "" {
		dirs = append(dirs, d)
	} else if os.Getenv("LQF_CI") != "" {
		t.Error("LQF_CI is set but LQF_ONNX_RESNET18 is not: CI must regenerate and check the ResNet-18 fixture")
	} else {
		t.Log("LQF_ONNX_RESNET18 unset: checking the committed small CNN only")
	}
	return dirs
}

// TestCheckONNXAgainstPyTorch imports each fixture's ONNX file and compares
// the network's outputs, its Jacobian-vector product along a random
// direction over every parameter and the gradient of one output with
// PyTorch's (float64), through `lqf check onnx`.
func TestCheckONNXAgainstPyTorch(t *testing.T) {
	for _, dir := range onnxFixtures(t) {
		out := filepath.Join(t.TempDir(), "check.json")
		code, stdout, stderr := runCLI("check", "onnx", "--onnx", filepath.Join(dir, "model.onnx"), "--reference", dir, "--json", out)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s%s", dir, code, stdout, stderr)
		}
		var c struct {
			Outputs float64 `json:"outputs_max_rel_error"`
			JVP     float64 `json:"jvp_max_rel_error"`
			Grad    float64 `json:"grad_max_rel_error"`
			Pass    bool    `json:"pass"`
		}
		raw, _ := os.ReadFile(out)
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: outputs %.3g, JVP %.3g, gradient %.3g", dir, c.Outputs, c.JVP, c.Grad)
		if !c.Pass || !(c.Outputs <= 1e-4 && c.JVP <= 1e-4 && c.Grad <= 1e-4) || c.Outputs == 0 || c.JVP == 0 || c.Grad == 0 {
			t.Errorf("%s: %s", dir, raw)
		}
	}
}

// TestInspectONNX prints the small CNN's layer graph.
func TestInspectONNX(t *testing.T) {
	path := filepath.Join("..", "..", "onnx", "testdata", "smallcnn", "model.onnx")
	code, stdout, stderr := runCLI("inspect", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"28x28x1", "conv2d", "batchnorm", "maxpool", "avgpool", "flatten", "dense", "1773 trainable parameters", "5 classes"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect lacks %q:\n%s", want, stdout)
		}
	}
}

// TestCommandsOnONNX runs the commands that take --backbone on the
// committed PyTorch-exported small CNN.
func TestCommandsOnONNX(t *testing.T) {
	model := filepath.Join("..", "..", "onnx", "testdata", "smallcnn", "model.onnx")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"check", "jvp", "--backbone", model, "--images", "2"},
		{"finetune", "--backbone", model, "--task", "mnist-5-9", "--method", "lqf,fc,nlft", "--max-train", "20", "--val-per-class", "2",
			"--max-test", "20", "--epochs", "1", "--lr", "0.01", "--wd", "1e-4", "--quiet"},
		{"influence", "--backbone", model, "--max-train", "10", "--max-test", "5", "--test", "0", "--top", "2", "--self", "1", "--quiet"},
		{"export", "--backbone", model, "--what", "jacobian", "--max-train", "4", "--max-test", "2", "--out", filepath.Join(dir, "export"), "--quiet"},
		{"bench", "--backbone", model, "--batch", "8", "--seconds", "0.05"},
		{"spectrum", "--backbone", model, "--max-train", "6", "--steps", "4", "--nlft-epochs", "1", "--quiet"},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != 0 {
			t.Errorf("lqf %s: exit %d: %s%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// TestBadONNXGivesOneLine: a truncated file, a file that is not ONNX and a
// model with an op lqf does not support each give one line naming the
// file and exit status 2, and nothing is written.
func TestBadONNXGivesOneLine(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "..", "onnx", "testdata", "smallcnn", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	// NodeProto.op_type is field 4 (tag byte 0x22), here 9 bytes long.
	const opType = "\x22\x09LeakyRelu"
	if !strings.Contains(string(good), opType) {
		t.Fatal("the small CNN has no LeakyRelu op type to rename")
	}
	dir := t.TempDir()
	cases := map[string][]byte{
		"truncated.onnx":   good[:len(good)/2],
		"text.onnx":        []byte("this is not a network\n"),
		"unsupported.onnx": []byte(strings.Replace(string(good), opType, "\x22\x09LeakyRelx", 1)),
	}
	want := map[string]string{"truncated.onnx": "not an ONNX model", "text.onnx": "not an ONNX model", "unsupported.onnx": "LeakyRelx"}
	for name, b := range cases {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".json")
		for _, args := range [][]string{
			{"finetune", "--backbone", path, "--method", "fc", "--quiet", "--json", out},
			{"inspect", path},
		} {
			code, _, stderr := runCLI(args...)
			line := strings.TrimSpace(stderr)
			if code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, name) || !strings.Contains(line, want[name]) {
				t.Errorf("lqf %s: exit %d, %q; want one line naming %s and %q", strings.Join(args, " "), code, stderr, name, want[name])
			}
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: the failed run wrote %s", name, out)
		}
	}
}

// TestFinetuneONNXCutAndLeaky fine-tunes the small CNN from an earlier
// tensor (--cut: the pooled map, flattened into a new classifier) with its
// ReLUs swapped for Leaky-ReLU for LQF (--leaky), and checks the swap's
// reported effect on the features; both flags are usage errors where they
// do not apply.
func TestFinetuneONNXCutAndLeaky(t *testing.T) {
	model := filepath.Join("..", "..", "onnx", "testdata", "smallcnn", "model.onnx")
	out := filepath.Join(t.TempDir(), "out.json")
	code, stdout, stderr := runCLI("finetune", "--backbone", model, "--cut", "/pool2/AveragePool_output_0", "--leaky", "0.2",
		"--method", "lqf", "--task", "mnist-5-9", "--max-train", "20", "--val-per-class", "2", "--max-test", "20",
		"--epochs", "1", "--lr", "0.01", "--wd", "1e-4", "--quiet", "--json", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	var doc struct {
		Backbone string  `json:"backbone"`
		Change   float64 `json:"leaky_feature_change"`
	}
	raw, _ := os.ReadFile(out)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// The small CNN has one ReLU before the cut (and a Leaky-ReLU of slope
	// 0.1, now 0.2): the features move, but not beyond recognition.
	if !strings.Contains(doc.Backbone, "leaky-relu 0.2") || !(doc.Change > 1e-4 && doc.Change < 0.5) {
		t.Errorf("--leaky 0.2: %s", raw)
	}
	for _, args := range [][]string{
		{"finetune", "--cut", "x", "--method", "fc"},
		{"finetune", "--backbone", "relu", "--leaky", "0.1", "--method", "lqf"},
		{"finetune", "--backbone", model, "--leaky", "1.5", "--method", "lqf"},
	} {
		code, _, stderr := runCLI(args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("lqf %s: exit %d, %q; want one usage line", strings.Join(args, " "), code, stderr)
		}
	}
}

// TestLeakyAndCutOutsideFinetune: influence and export take --cut and
// --leaky too. Exported features with and without the swap give the
// relative RMS change that the run records (recomputed here from the
// arrays), and influence records the flags it ran with.
func TestLeakyAndCutOutsideFinetune(t *testing.T) {
	model := filepath.Join("..", "..", "onnx", "testdata", "smallcnn", "model.onnx")
	const cut = "/pool2/AveragePool_output_0"
	dir := t.TempDir()
	features := func(name string, extra ...string) ([]float32, map[string]any) {
		out := filepath.Join(dir, name)
		args := append([]string{"export", "--backbone", model, "--cut", cut, "--what", "features", "--task", "mnist-5-9",
			"--max-train", "10", "--max-test", "2", "--out", out, "--quiet"}, extra...)
		if code, stdout, stderr := runCLI(args...); code != 0 {
			t.Fatalf("lqf %s: exit %d: %s%s", strings.Join(args, " "), code, stdout, stderr)
		}
		f, err := numpy.FromNpyFile(filepath.Join(out, "features_train.npy"))
		if err != nil {
			t.Fatal(err)
		}
		var meta map[string]any
		raw, _ := os.ReadFile(filepath.Join(out, "metadata.json"))
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](f), meta
	}
	f0, meta0 := features("relu")
	f1, meta1 := features("leaky", "--leaky", "0.2")
	if meta0["cut"] != cut || meta1["leaky"] != 0.2 || meta0["leaky"] != nil {
		t.Errorf("metadata: %v / %v", meta0, meta1)
	}
	var num, den float64
	for i := range f0 {
		d := float64(f1[i]) - float64(f0[i])
		num, den = num+d*d, den+float64(f0[i])*float64(f0[i])
	}
	want := math.Sqrt(num / den)
	got, _ := meta1["leaky_feature_change"].(float64)
	if !(want > 1e-4) || math.Abs(got-want) > 1e-5*want {
		t.Errorf("leaky_feature_change %g; the exported features give %g", got, want)
	}
	out := filepath.Join(dir, "influence.json")
	args := []string{"influence", "--backbone", model, "--cut", cut, "--leaky", "0.2", "--task", "mnist-5-9", "--max-train", "10",
		"--max-test", "5", "--test", "0", "--top", "2", "--self", "1", "--quiet", "--json", out}
	if code, stdout, stderr := runCLI(args...); code != 0 {
		t.Fatalf("lqf %s: exit %d: %s%s", strings.Join(args, " "), code, stdout, stderr)
	}
	var doc map[string]any
	raw, _ := os.ReadFile(out)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["cut"] != cut || doc["leaky"] != 0.2 || math.Abs(doc["leaky_feature_change"].(float64)-want) > 1e-5*want {
		t.Errorf("influence record: cut %v, leaky %v, change %v (want %g)", doc["cut"], doc["leaky"], doc["leaky_feature_change"], want)
	}
	for _, c := range []struct {
		flag string
		args []string
	}{
		{"--cut", []string{"influence", "--cut", "x"}},
		{"--leaky", []string{"influence", "--leaky", "0.1"}},
		{"--leaky", []string{"export", "--backbone", model, "--leaky", "-0.5", "--out", dir}},
		{"--leaky", []string{"check", "jvp", "--backbone", model, "--leaky", "NaN"}},
	} {
		code, _, stderr := runCLI(c.args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, c.flag) {
			t.Errorf("lqf %s: exit %d, %q; want one usage line naming %s", strings.Join(c.args, " "), code, stderr, c.flag)
		}
	}
}

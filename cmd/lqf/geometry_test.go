package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/model"
)

// rgbFolder writes two classes of built-in digits as 48x48 RGB PNG files:
// each image resampled to 48x48 and coloured per class (class 0 red on
// blue, class 1 green on black), so that the colour channels differ. It
// returns the folder.
func rgbFolder(t *testing.T, perClass int) string {
	t.Helper()
	task, err := data.TaskByName("mnist-5-9")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := task.Load(data.SplitOptions{Seed: 1, MaxTrain: 10 * perClass, ValPerClass: 1, MaxTest: 2})
	if err != nil {
		t.Fatal(err)
	}
	var keep []int
	counts := map[int32]int{}
	for i, l := range sp.Train.Labels {
		if l < 2 && counts[l] < perClass {
			keep = append(keep, i)
			counts[l]++
		}
	}
	two := sp.Train.Subset(keep)
	two.NumClasses, two.ClassNames = 2, two.ClassNames[:2]
	rgb, err := data.Resample(two, data.Geometry{Height: 48, Width: 48, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range rgb.Labels {
		img := rgb.Image(i)
		for p := 0; p < len(img); p += 3 {
			v := img[p]
			if l == 0 {
				img[p], img[p+1], img[p+2] = v, 0.2*v, 1-v
			} else {
				img[p], img[p+1], img[p+2] = 0.1*v, v, 0
			}
		}
	}
	root := t.TempDir()
	if err := data.WriteImageFolder(root, rgb); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestFinetuneRGBFolder fine-tunes a 3-channel 48x48 network (lqf's ResNet
// family with per-channel normalization, saved as a checkpoint) on a folder
// of RGB 48x48 PNG files with LQF (K-FAC) and NLFT, end to end through the
// CLI; the same network on a built-in 28x28x1 task is one clear error.
func TestFinetuneRGBFolder(t *testing.T) {
	root := rgbFolder(t, 10)
	loaded, err := data.LoadImageFolderAs(root, data.Geometry{Height: 48, Width: 48, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	if h, w, c := loaded.Geometry(); h != 48 || w != 48 || c != 3 || loaded.Len() != 20 {
		t.Fatalf("folder reads back as %d images of %dx%dx%d", loaded.Len(), h, w, c)
	}
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.DefaultConfig(2)
	cfg.Height, cfg.Width, cfg.Channels = 48, 48, 3
	cfg.StageWidths = []int{8, 16}
	cfg.StemWidth = 8
	arch := cfg.MustNet()
	arch.Input.Mean = []float64{0.3, 0.4, 0.2}
	arch.Input.Std = []float64{0.3, 0.3, 0.3}
	net, err := model.New(be, arch, 3)
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(t.TempDir(), "rgb48.ckpt")
	if err := net.SaveCheckpoint(ckpt, nil); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "out.json")
	code, stdout, stderr := runCLI("finetune", "--images", root, "--backbone", ckpt, "--method", "lqf,nlft",
		"--val-per-class", "1", "--epochs", "2", "--lr", "0.01", "--wd", "1e-4", "--quiet", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Results []struct {
			Method    string  `json:"method"`
			TestError float64 `json:"test_error"`
			TrainSize int     `json:"train_size"`
			TestSize  int     `json:"test_size"`
		} `json:"results"`
	}
	raw, _ := os.ReadFile(path)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
	t.Logf("lqf finetune on the RGB folder:\n%s", stdout)
	// 10 images per class: 2 test (20%), 1 validation, 7 training.
	if len(doc.Results) != 2 {
		t.Fatalf("want results for lqf and nlft, got %s\n%s", raw, stdout)
	}
	for _, r := range doc.Results {
		if r.TrainSize != 14 || r.TestSize != 4 || r.TestError < 0 || r.TestError > 1 {
			t.Errorf("%s on the RGB folder: %+v", r.Method, r)
		}
		// The classes differ by colour as well as by digit: LQF on the
		// network's (random) features separates them.
		if r.Method == "lqf" && r.TestError > 0.25 {
			t.Errorf("lqf on the colour-coded RGB folder: test error %g, want <= 0.25", r.TestError)
		}
	}

	// The 48x48x3 network on a built-in 28x28x1 task: one usage line naming
	// both geometries, before any work.
	code, _, stderr = runCLI("finetune", "--task", "mnist-5-9", "--backbone", ckpt, "--method", "fc", "--quiet")
	if code != 2 || !strings.Contains(stderr, "28x28x1") || !strings.Contains(stderr, "48x48x3") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("3-channel backbone on a grayscale task: exit %d, %q", code, stderr)
	}
}

// layerGraphJSON is a user's network that is not lqf's ResNet: a strided
// 5x5 stem, overlapping max pooling with padding, an unpadded conv, and a
// flatten + hidden dense + dense head, in the JSON form lqf reads.
const layerGraphJSON = `{
  "input": {"height": 28, "width": 28, "channels": 1},
  "layers": [
    {"name": "c1", "op": "conv2d", "inputs": ["input"], "attrs": {"filters": 6, "kernel": 5, "stride": 2, "padding": 2}},
    {"name": "c1/bn", "op": "batchnorm", "inputs": ["c1"], "attrs": {}},
    {"name": "a1", "op": "activation", "inputs": ["c1/bn"], "attrs": {"fn": "relu"}},
    {"name": "mp", "op": "maxpool", "inputs": ["a1"], "attrs": {"window": 3, "stride": 2, "padding": 1}},
    {"name": "c2", "op": "conv2d", "inputs": ["mp"], "attrs": {"filters": 8, "kernel": 3, "stride": 1, "padding": 0}},
    {"name": "c2/bn", "op": "batchnorm", "inputs": ["c2"], "attrs": {}},
    {"name": "a2", "op": "activation", "inputs": ["c2/bn"], "attrs": {"fn": "relu"}},
    {"name": "flat", "op": "flatten", "inputs": ["a2"], "attrs": {}},
    {"name": "fc", "op": "dense", "inputs": ["flat"], "attrs": {"units": 16, "bias": true}},
    {"name": "a3", "op": "activation", "inputs": ["fc"], "attrs": {"fn": "relu"}},
    {"name": "head", "op": "dense", "inputs": ["a3"], "attrs": {"units": 10, "bias": true}}
  ]
}`

// TestCommandsOnLayerGraph pretrains a network given as a JSON layer graph
// (not lqf's ResNet) and runs the analyses on its checkpoint: the
// linearization check against finite differences and double-VJP, the
// closed form against conjugate gradients, the spectra (Lanczos and
// K-FAC), the NTK export, LQF fine-tuning with K-FAC and exact influence.
func TestCommandsOnLayerGraph(t *testing.T) {
	dir := t.TempDir()
	graph := filepath.Join(dir, "net.json")
	if err := os.WriteFile(graph, []byte(layerGraphJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(layerGraphJSON, `"maxpool"`, `"maxpool3d"`, 1)), 0o644)
	rgb := filepath.Join(dir, "rgb.json")
	os.WriteFile(rgb, []byte(strings.Replace(layerGraphJSON, `"channels": 1`, `"channels": 3`, 1)), 0o644)
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing.json"), "missing.json"},
		{bad, "maxpool3d"},
		{rgb, "28x28x3"},
	} {
		code, _, stderr := runCLI("pretrain", "--net", c.path, "--out", dir, "--quiet")
		if code != 2 || !strings.Contains(stderr, "--net") || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("pretrain --net %s: exit %d, %q; want one usage line naming --net and %q", c.path, code, stderr, c.want)
		}
	}
	code, stdout, stderr := runCLI("pretrain", "--net", graph, "--max-train", "640", "--epochs", "2", "--leaky-epochs", "0.5",
		"--out", dir, "--quiet")
	if code != 0 {
		t.Fatalf("pretrain --net: exit %d: %s", code, stderr)
	}
	var rec struct {
		Accuracy float64 `json:"source_test_accuracy"`
		Params   int     `json:"parameters"`
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "record.json"))
	// 10 source classes: chance is 0.1. The graph has 25*6 + 2*6 (c1, BN)
	// + 54*8 + 2*8 (c2, BN) + 200*16 + 16 (fc; 5x5x8 flattened) + 16*10 +
	// 10 (head) = 3,996 trainable parameters.
	if err := json.Unmarshal(raw, &rec); err != nil || rec.Accuracy < 0.4 || rec.Params != 3996 {
		t.Fatalf("pretrain --net: %v, accuracy %.3f (want >= 0.4), %d parameters (want 3996)\n%s", err, rec.Accuracy, rec.Params, stdout)
	}
	ckpt := filepath.Join(dir, "leaky.ckpt")

	jvp := filepath.Join(dir, "jvp.json")
	if code, stdout, stderr = runCLI("check", "jvp", "--backbone", ckpt, "--images", "2", "--json", jvp); code != 0 {
		t.Fatalf("check jvp: exit %d: %s%s", code, stdout, stderr)
	}
	var j struct {
		FD   float64 `json:"fd_max_rel_error"`
		VJP  float64 `json:"double_vjp_max_rel_error"`
		Pass bool    `json:"pass"`
	}
	raw, _ = os.ReadFile(jvp)
	if err := json.Unmarshal(raw, &j); err != nil || !j.Pass || j.FD > 1e-6 || j.VJP > 1e-5 || j.FD == 0 || j.VJP == 0 {
		t.Errorf("check jvp on the layer graph: %v %s", err, raw)
	}

	cf := filepath.Join(dir, "cf.json")
	if code, stdout, stderr = runCLI("check", "closed-form", "--backbone", ckpt, "--max-train", "12", "--max-test", "20", "--quiet", "--json", cf); code != 0 {
		t.Fatalf("check closed-form: exit %d: %s%s", code, stdout, stderr)
	}
	var c struct {
		Pred float64 `json:"pred_rel_distance"`
		Pass bool    `json:"pass"`
	}
	raw, _ = os.ReadFile(cf)
	if err := json.Unmarshal(raw, &c); err != nil || !c.Pass || c.Pred > 1e-3 {
		t.Errorf("check closed-form on the layer graph: %v %s", err, raw)
	}

	sp := filepath.Join(dir, "spectrum.json")
	if code, stdout, stderr = runCLI("spectrum", "--backbone", ckpt, "--max-train", "8", "--steps", "6", "--nlft-epochs", "1", "--quiet", "--json", sp); code != 0 {
		t.Fatalf("spectrum: exit %d: %s%s", code, stdout, stderr)
	}
	var s struct {
		W0             struct{ Max, Min float64 } `json:"spectrum_w0"`
		Preconditioned struct{ Max, Min float64 } `json:"spectrum_preconditioned"`
	}
	raw, _ = os.ReadFile(sp)
	if err := json.Unmarshal(raw, &s); err != nil || !(s.W0.Max > s.W0.Min && s.W0.Min > 0) || !(s.Preconditioned.Max > 0) {
		t.Errorf("spectrum on the layer graph: %v %s", err, raw)
	}

	out := filepath.Join(dir, "export")
	if code, stdout, stderr = runCLI("export", "--backbone", ckpt, "--what", "ntk", "--max-train", "6", "--max-test", "4", "--out", out, "--quiet"); code != 0 {
		t.Fatalf("export: exit %d: %s%s", code, stdout, stderr)
	}
	for _, f := range []string{"ntk_train_train.npy", "ntk_test_train.npy", "f0_train.npy", "metadata.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("export on the layer graph: %v", err)
		}
	}

	ft := filepath.Join(dir, "finetune.json")
	if code, stdout, stderr = runCLI("finetune", "--backbone", ckpt, "--task", "mnist-5-9", "--method", "lqf", "--solver", "sgd", "--max-train", "20",
		"--val-per-class", "2", "--max-test", "20", "--epochs", "2", "--lr", "0.01", "--wd", "1e-4", "--quiet", "--json", ft); code != 0 {
		t.Fatalf("finetune: exit %d: %s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "sgd+kfac") {
		t.Errorf("finetune lqf on the layer graph did not use K-FAC:\n%s", stdout)
	}

	inf := filepath.Join(dir, "influence.json")
	if code, stdout, stderr = runCLI("influence", "--backbone", ckpt, "--max-train", "10", "--max-test", "5", "--test", "0", "--top", "2",
		"--self", "1", "--quiet", "--json", inf); code != 0 {
		t.Fatalf("influence: exit %d: %s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "proponent") {
		t.Errorf("influence on the layer graph:\n%s", stdout)
	}
}

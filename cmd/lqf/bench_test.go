package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchAgainstTorch runs `lqf bench --torch` on the committed small CNN
// with a hand-written report of scripts/torch_bench.py and checks that the
// JSON carries PyTorch's report and the ratios lqf/PyTorch of the reported
// numbers, and that the table shows both.
func TestBenchAgainstTorch(t *testing.T) {
	dir := t.TempDir()
	torchPath := filepath.Join(dir, "torch.json")
	torch := map[string]any{
		"backend":                         "pytorch-cpu",
		"batch":                           4,
		"forward_ms_per_image":            0.5,
		"linearized_forward_ms_per_image": 1.25,
		"nlft_step_ms_per_image":          2.0,
		"lqf_step_ms_per_image":           4.0,
		"jvp_over_forward":                2.5,
		"lqf_step_over_nlft_step":         2.0,
		"threads":                         2,
		"torch_version":                   "1.13.0",
		"jvp_method":                      "forward-mode AD",
	}
	b, err := json.Marshal(torch)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(torchPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bench.json")
	model := filepath.Join("..", "..", "onnx", "testdata", "smallcnn", "model.onnx")
	code, stdout, stderr := runCLI("bench", "--backbone", model, "--batch", "4", "--seconds", "0.05", "--torch", torchPath, "--json", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	for _, want := range []string{"PyTorch ms/image", "lqf/PyTorch", "PyTorch 1.13.0"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the table lacks %q:\n%s", want, stdout)
		}
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Batch        int                `json:"batch"`
		Forward      float64            `json:"forward_ms_per_image"`
		Linearized   float64            `json:"linearized_forward_ms_per_image"`
		NLFT         float64            `json:"nlft_step_ms_per_image"`
		LQF          float64            `json:"lqf_step_ms_per_image"`
		Torch        map[string]any     `json:"torch"`
		LQFOverTorch map[string]float64 `json:"lqf_over_torch"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Batch != 4 || rep.Torch == nil || rep.Torch["backend"] != "pytorch-cpu" || rep.Torch["jvp_method"] != "forward-mode AD" {
		t.Fatalf("report lacks the torch object or the batch:\n%s", raw)
	}
	for key, lqf := range map[string]float64{
		"forward": rep.Forward, "linearized_forward": rep.Linearized, "nlft_step": rep.NLFT, "lqf_step": rep.LQF,
	} {
		ms := map[string]string{"forward": "forward_ms_per_image", "linearized_forward": "linearized_forward_ms_per_image",
			"nlft_step": "nlft_step_ms_per_image", "lqf_step": "lqf_step_ms_per_image"}[key]
		tv, _ := rep.Torch[ms].(float64)
		got, ok := rep.LQFOverTorch[key]
		if !(lqf > 0) || tv != torch[ms] || !ok || math.Abs(got-lqf/tv) > 1e-12*lqf/tv {
			t.Errorf("lqf_over_torch.%s = %v (present %v), want lqf %v / torch %v", key, got, ok, lqf, tv)
		}
	}
}

// TestBenchBadTorchFile: a missing, malformed or incomplete --torch file, or
// one measured at another batch, is one usage line and exit status 2 before
// any work (no report is written).
func TestBenchBadTorchFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := `"forward_ms_per_image": 1, "linearized_forward_ms_per_image": 2, "nlft_step_ms_per_image": 3, "lqf_step_ms_per_image": 4`
	cases := map[string]string{
		filepath.Join(dir, "missing.json"):                                "missing.json",
		write("garbage.json", "not json"):                                 "garbage.json",
		write("partial.json", `{"batch": 64, "forward_ms_per_image": 1}`): "linearized_forward_ms_per_image",
		write("batch.json", `{"batch": 28, `+full+`}`):                    "batch 28",
	}
	out := filepath.Join(dir, "bench.json")
	for path, want := range cases {
		code, stdout, stderr := runCLI("bench", "--torch", path, "--json", out)
		line := strings.TrimSpace(stderr)
		if code != 2 || stdout != "" || strings.Contains(line, "\n") || !strings.Contains(line, want) {
			t.Errorf("lqf bench --torch %s: exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q",
				filepath.Base(path), code, stdout, stderr, want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run wrote %s", out)
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/lqf-go/lqf/internal/atomicfile"
)

// badInput is one case of TestBadInputs: a command line that must be
// refused as bad input.
type badInput struct {
	kind string // what is bad: flag, idx, image, folder, checkpoint, json, onnx, output
	name string
	env  map[string]string // environment variables to set
	args []string          // "@OUT" stands for the case's own output directory
	// setup, if set, puts files into the output directory first (a
	// damaged cache, a file where a directory is wanted).
	setup func(t *testing.T, out string)
	// want are substrings of the one stderr line; the first names the
	// input (the flag or the file).
	want []string
}

// outputFlags are the flags that point each command's outputs into the
// case's output directory, so that a file left behind is seen; a case's
// own flags come after them and override them.
var outputFlags = map[string][]string{
	"finetune":            {"--json", "@OUT/r.json", "--png", "@OUT/png"},
	"influence":           {"--json", "@OUT/r.json", "--png", "@OUT/png", "--cache", "@OUT/cache"},
	"influence validate":  {"--json", "@OUT/r.json", "--png", "@OUT/v.png"},
	"pretrain":            {"--out", "@OUT/p"},
	"export":              {"--out", "@OUT/e"},
	"reproduce":           {"--out", "@OUT/r"},
	"spectrum":            {"--json", "@OUT/r.json"},
	"check hypergradient": {"--json", "@OUT/r.json"},
	"check closed-form":   {"--json", "@OUT/r.json"},
	"check kfac":          {"--json", "@OUT/r.json"},
	"check jvp":           {"--json", "@OUT/r.json"},
	"check onnx":          {"--json", "@OUT/r.json"},
	"bench":               {"--json", "@OUT/r.json"},
	"inspect":             {"--json", "@OUT/r.json"},
	"tasks":               {"--json", "@OUT/r.json"},
}

// cli is the command line of command (one or two words) with its output
// flags, then flags.
func cli(command string, flags ...string) []string {
	return append(append(strings.Fields(command), outputFlags[command]...), flags...)
}

// TestBadInputs feeds lqf bad inputs of every kind: flags (unknown,
// malformed, NaN, infinite, negative, huge, inconsistent), crafted idx,
// PNG, JPEG, checkpoint, JSON and ONNX files, image-folder trees and
// output paths. For each it asserts the promise of the README: exit
// status 2; exactly one line on stderr, naming the flag or the file; no
// panic; nothing written (the case's output directory and every input
// file unchanged, no temporary file beside them); and the refusal comes
// before any work starts (beginWork is not called, nothing on stdout).
func TestBadInputs(t *testing.T) {
	cases := badInputCases(t)
	kinds := map[string]int{}
	for _, c := range cases {
		kinds[c.kind]++
	}
	t.Logf("%d cases: %v", len(cases), kinds)
	if len(cases) < 60 {
		t.Errorf("%d cases, want at least 60", len(cases))
	}
	for _, k := range []string{"flag", "idx", "image", "folder", "checkpoint", "json", "onnx", "output"} {
		if kinds[k] < 3 {
			t.Errorf("%d cases of kind %s, want at least 3", kinds[k], k)
		}
	}
	inputs := filepath.Dir(t.TempDir()) // every input file is under it
	cwd := snapshot(t, ".")
	names := map[string]bool{}
	for _, c := range cases {
		name := c.kind + "/" + strings.ReplaceAll(c.name, " ", "_")
		if names[name] {
			t.Fatalf("two cases named %s", name)
		}
		names[name] = true
		t.Run(name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			out := t.TempDir()
			if c.setup != nil {
				c.setup(t, out)
			}
			args := make([]string, len(c.args))
			for i, a := range c.args {
				args[i] = strings.ReplaceAll(a, "@OUT", out)
			}
			outBefore, inBefore := snapshot(t, out), snapshot(t, inputs)
			var started []string
			orig := beginWork
			beginWork = func(command string) { started = append(started, command) }
			code, stdout, stderr, panicked := runGuarded(args)
			beginWork = orig
			if panicked != "" {
				t.Fatalf("lqf %s panicked: %s", strings.Join(args, " "), panicked)
			}
			t.Logf("exit %d: %s", code, strings.TrimSpace(stderr))
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Errorf("stderr is not exactly one line: %q", stderr)
			}
			if len(c.want) == 0 {
				t.Fatal("the case names no input to look for")
			}
			for _, w := range c.want {
				if w = strings.ReplaceAll(w, "@OUT", out); !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not contain %q", stderr, w)
				}
			}
			if all := stdout + stderr; strings.Contains(all, "panic") || strings.Contains(all, "goroutine ") {
				t.Errorf("output holds a panic trace: %q", all)
			}
			if stdout != "" {
				t.Errorf("stdout is not empty (work ran?): %q", stdout)
			}
			if len(started) > 0 {
				t.Errorf("refused only after the work of %v started", started)
			}
			if after := snapshot(t, out); !equalSnapshots(outBefore, after) {
				t.Errorf("the output directory changed: %v before, %v after", keys(outBefore), keys(after))
			}
			if after := snapshot(t, inputs); !equalSnapshots(inBefore, after) {
				t.Errorf("the input files changed (a file left beside them?): %s", diffSnapshots(inBefore, after))
			}
		})
	}
	if after := snapshot(t, "."); !equalSnapshots(cwd, after) {
		t.Errorf("files appeared in the working directory: %s", diffSnapshots(cwd, after))
	}
}

// runGuarded runs the command line in-process, turning a panic into a
// report instead of a crash of the test binary.
func runGuarded(args []string) (code int, stdout, stderr, panicked string) {
	var o, e bytes.Buffer
	defer func() {
		if r := recover(); r != nil {
			code, stdout, stderr, panicked = -1, o.String(), e.String(), fmt.Sprintf("%v\n%s", r, debug.Stack())
		}
	}()
	code = run(args, &o, &e)
	return code, o.String(), e.String(), ""
}

// snapshot lists every file and directory under root (not following
// symbolic links) with its type, size and modification time.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size := info.Size()
		if d.IsDir() {
			size = 0
		}
		rel, _ := filepath.Rel(root, path)
		m[rel] = fmt.Sprintf("%v %d %v", info.Mode().Type(), size, info.ModTime().UnixNano())
		if d.IsDir() && root == "." {
			return filepath.SkipDir // the working directory: its top level only
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func equalSnapshots(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func diffSnapshots(a, b map[string]string) string {
	var d []string
	for k, v := range b {
		if a[k] != v {
			d = append(d, "+"+k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			d = append(d, "-"+k)
		}
	}
	sort.Strings(d)
	return strings.Join(d, " ")
}

func keys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

// badInputCases builds the corpus of TestBadInputs; its input files are
// written under t's temporary directory.
func badInputCases(t *testing.T) []badInput {
	var cases []badInput
	add := func(kind, name string, args []string, want ...string) *badInput {
		cases = append(cases, badInput{kind: kind, name: name, args: args, want: want})
		return &cases[len(cases)-1]
	}
	files := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(files, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sparse := func(name string, size int64) string {
		p := write(name, nil)
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		return p
	}
	aFile := write("a-file", []byte("x"))

	// Flags: unknown, malformed, NaN, infinite, negative, huge, out of
	// range and inconsistent values, for every command.
	for _, f := range []struct {
		command string
		flags   []string
		want    string
	}{
		{"finetune", []string{"--task", "nope"}, "--task"},
		{"finetune", []string{"--bogus"}, "-bogus"},
		{"finetune", []string{"extra"}, `unexpected argument "extra"`},
		{"finetune", []string{"--shots", "-2"}, "--shots"},
		{"finetune", []string{"--method", "sgd"}, "--method"},
		{"finetune", []string{"--method", "fc,fc"}, "--method"},
		{"finetune", []string{"--loss", "hinge"}, "--loss"},
		{"finetune", []string{"--lr", "0.1,x"}, "--lr"},
		{"finetune", []string{"--lr", "0"}, "--lr"},
		{"finetune", []string{"--lr", "Inf"}, "--lr"},
		{"finetune", []string{"--wd", "NaN"}, "--wd"},
		{"finetune", []string{"--wd", "-1e-4"}, "--wd"},
		{"finetune", []string{"--epochs", "NaN"}, "--epochs"},
		{"finetune", []string{"--epochs", "Inf"}, "--epochs"},
		{"finetune", []string{"--epochs", "1e300"}, "--epochs"},
		{"finetune", []string{"--alpha", "0"}, "--alpha"},
		{"finetune", []string{"--alpha", "NaN"}, "--alpha"},
		{"finetune", []string{"--alpha", "-15"}, "--alpha"},
		{"finetune", []string{"--momentum", "NaN"}, "--momentum"},
		{"finetune", []string{"--momentum", "1"}, "--momentum"},
		{"finetune", []string{"--kfac-damping", "Inf"}, "--kfac-damping"},
		{"finetune", []string{"--batch", "0"}, "--batch"},
		{"finetune", []string{"--max-train", "99999999999999999999"}, "-max-train"},
		{"finetune", []string{"--top", "0"}, "--top"},
		{"finetune", []string{"--explain", "-1"}, "--explain"},
		{"finetune", []string{"--augment", "rotate"}, "--augment"},
		{"finetune", []string{"--task", "mnist-5-9", "--augment", "crop-flip"}, "--augment"},
		{"finetune", []string{"--solver", "magic"}, "--solver"},
		{"finetune", []string{"--method", "nlft", "--solver", "exact"}, "--solver"},
		{"finetune", []string{"--linearization", "hessian"}, "--linearization"},
		{"finetune", []string{"--pooling", "max"}, "--pooling"},
		{"finetune", []string{"--optimizer", "rmsprop"}, "--optimizer"},
		{"finetune", []string{"--ablate", "mse", "--method", "fc"}, "--ablate"},
		{"finetune", []string{"--leaky", "NaN"}, "--leaky"},
		{"finetune", []string{"--cut", "stem"}, "--cut"},
		{"finetune", []string{"--seed", "-1"}, "-seed"},
		{"finetune", []string{"--task", "mnist-5-9", "--shots", "100000", "--method", "fc"}, "--shots"},
		{"influence", []string{"--method", "nlft"}, "--method"},
		{"influence", []string{"--approx", "lissa"}, "--approx"},
		{"influence", []string{"--test", "5,x"}, "--test"},
		{"influence", []string{"--test", "7", "--max-test", "5"}, "--test"},
		{"influence", []string{"--banzhaf", "10", "--method", "lqf-fc"}, "--banzhaf"},
		{"influence", []string{"--mem", "-1"}, "--mem"},
		{"influence", []string{"--mem", "0.01"}, "--mem"},
		{"influence", []string{"--misclassified", "-3"}, "--misclassified"},
		{"influence", []string{"--max-train", "1"}, "--max-train"},
		{"influence", []string{"--wd", "NaN"}, "--wd"},
		{"influence", []string{"--wd", "0"}, "--wd"},
		{"influence", []string{"--approx", "kfac", "--fit-lr", "NaN"}, "--fit-lr"},
		{"influence", []string{"--approx", "kfac", "--fit-epochs", "Inf"}, "--fit-epochs"},
		{"influence", []string{"--approx", "kfac", "--fit-damping", "-1"}, "--fit-damping"},
		{"influence", []string{"--approx", "kfac", "--sketch", "-5"}, "--sketch"},
		{"influence", []string{"--train-index", "-2"}, "--train-index"},
		{"influence", []string{"--task", "mnist-5-9", "--max-train", "10", "--max-test", "5", "--train-index", "500"}, "--train-index"},
		{"influence validate", []string{"--removals", "500", "--max-train", "50"}, "--removals"},
		{"influence validate", []string{"--wd", "NaN"}, "--wd"},
		{"influence validate", []string{"--nlft-epochs", "NaN"}, "--nlft-epochs"},
		{"influence validate", []string{"--subsets", "1"}, "--subsets"},
		{"pretrain", []string{"--epochs", "NaN"}, "--epochs"},
		{"pretrain", []string{"--epochs", "0"}, "--epochs"},
		{"pretrain", []string{"--leaky-epochs", "Inf"}, "--leaky-epochs"},
		{"pretrain", []string{"--lr", "Inf"}, "--lr"},
		{"pretrain", []string{"--leaky-lr", "-1"}, "--leaky-lr"},
		{"pretrain", []string{"--wd", "NaN"}, "--wd"},
		{"pretrain", []string{"--batch", "0"}, "--batch"},
		{"pretrain", []string{"--max-train", "-5"}, "--max-train"},
		{"pretrain", []string{"--leaky-slope", "NaN"}, "--leaky-slope"},
		{"pretrain", []string{"--leaky-slope", "1.5"}, "--leaky-slope"},
		{"pretrain", []string{"--task", "mnist-5-9", "--augment", "crop-flip"}, "--augment"},
		{"pretrain", []string{"--task", "nope"}, "--task"},
		{"export", []string{"--what", "everything"}, "--what"},
		{"export", []string{"--max-train", "-1"}, "--max-train"},
		{"spectrum", []string{"--wd", "NaN"}, "--wd"},
		{"spectrum", []string{"--nlft-epochs", "Inf"}, "--nlft-epochs"},
		{"spectrum", []string{"--steps", "1"}, "--steps"},
		{"check hypergradient", []string{"--wd", "-1"}, "--wd"},
		{"check hypergradient", []string{"--fd-step", "NaN"}, "--fd-step"},
		{"check closed-form", []string{"--wd", "NaN"}, "--wd"},
		{"check closed-form", []string{"--max-iter", "0"}, "--max-iter"},
		{"check kfac", []string{"--factors", "diag"}, "--factors"},
		{"check kfac", []string{"--momentum", "1"}, "--momentum"},
		{"check kfac", []string{"--block-lr", "0.1,y"}, "--block-lr"},
		{"check kfac", []string{"--sgd-lr", "0"}, "--sgd-lr"},
		{"check kfac", []string{"--gap", "NaN"}, "--gap"},
		{"check kfac", []string{"--kfac-damping", "-1"}, "--kfac-damping"},
		{"check jvp", []string{"--images", "0"}, "--images"},
		{"bench", []string{"--seconds", "NaN"}, "--seconds"},
		{"bench", []string{"--seconds", "1e9"}, "--seconds"},
		{"bench", []string{"--batch", "0"}, "--batch"},
		{"reproduce", []string{"--seeds", "0", "--fig", "1"}, "--seeds"},
		{"reproduce", []string{"--fig", "99"}, "--fig"},
		{"reproduce", []string{"--table", "x"}, "--table"},
		{"reproduce", []string{"--fig", "7", "--seeds", "3", "--run-seeds", "4"}, "--run-seeds"},
		{"reproduce", []string{"--seeds", "99999999999999999999"}, "-seeds"},
		{"reproduce", nil, "--fig"},
		{"check nothing", nil, `unknown check "nothing"`},
		{"frobnicate", nil, `unknown command "frobnicate"`},
		{"tasks", []string{"extra"}, `unexpected argument "extra"`},
	} {
		add("flag", f.command+" "+strings.Join(f.flags, " "), cli(f.command, f.flags...), f.want)
	}

	// idx files, found through LQF_MNIST_DIR and LQF_FASHION_MNIST_DIR.
	mnist := func(name string, replace map[string][]byte, file string, want ...string) {
		dir := idxDir(t, replace)
		c := add("idx", name, cli("finetune", "--task", "mnist-5-9", "--method", "fc"), append([]string{filepath.Join(dir, file)}, want...)...)
		c.env = map[string]string{"LQF_MNIST_DIR": dir}
	}
	images := gzipped(t, idxBytes(0x803, []uint32{2, 28, 28}, make([]byte, 2*28*28)))
	mnist("bad magic", map[string][]byte{trainImages: []byte("<html>404 Not Found</html>")}, trainImages, "wrong magic number", "not an idx file")
	mnist("float type code", map[string][]byte{trainImages: idxBytes(0xd03, []uint32{2, 28, 28}, make([]byte, 4*2*28*28))}, trainImages, "unsupported data type code 0x0d")
	mnist("huge dim", map[string][]byte{trainImages: idxBytes(0x803, []uint32{0xffffffff, 28, 28}, nil)}, trainImages, "4294967295", "limit")
	mnist("dims product overflows", map[string][]byte{trainImages: idxBytes(0x804, []uint32{1 << 30, 1 << 30, 1 << 30, 1 << 30}, nil)}, trainImages, "limit")
	mnist("truncated data", map[string][]byte{trainImages: idxBytes(0x803, []uint32{60000, 28, 28}, make([]byte, 1000))}, trainImages, "truncated", "47040000")
	mnist("truncated gzip", map[string][]byte{trainLabels: gzipped(t, idxBytes(0x801, []uint32{2}, []byte{5, 9}))[:20]}, trainLabels, "truncated")
	mnist("trailing data", map[string][]byte{testLabels: idxBytes(0x801, []uint32{2}, []byte{5, 9, 9, 9})}, testLabels, "2 unexpected bytes")
	mnist("gzip trailing garbage", map[string][]byte{trainImages: append(images, "garbage"...)}, trainImages, "trailing garbage", "7 more bytes")
	mnist("images 2x2", map[string][]byte{trainImages: idxBytes(0x803, []uint32{2, 2, 2}, make([]byte, 8))}, trainImages, "2x2", "28x28")
	mnist("count mismatch", map[string][]byte{trainLabels: idxBytes(0x801, []uint32{3}, []byte{5, 9, 9})}, trainLabels, "2 images", "3 labels")
	mnist("label out of range", map[string][]byte{trainLabels: idxBytes(0x801, []uint32{2}, []byte{5, 200})}, trainLabels, "label 200")
	mnist("no images", map[string][]byte{trainImages: idxBytes(0x803, []uint32{0, 28, 28}, nil), trainLabels: idxBytes(0x801, []uint32{0}, nil)}, trainImages, "no images")
	mnist("missing labels file", map[string][]byte{trainLabels: nil}, trainLabels, "no such file")
	mnist("gzip claims 47 MB", map[string][]byte{trainImages: gzipped(t, idxBytes(0x803, []uint32{60000, 28, 28}, nil))}, trainImages, "decompresses to at most")
	fashion := idxDir(t, map[string][]byte{testImages: append(gzipped(t, idxBytes(0x803, []uint32{2, 28, 28}, make([]byte, 2*28*28))), 0, 0, 0, 0)})
	c := add("idx", "fashion gzip trailing zeros", cli("finetune", "--task", "fashion-5-9", "--method", "fc"), filepath.Join(fashion, testImages), "trailing garbage", "4 more bytes")
	c.env = map[string]string{"LQF_FASHION_MNIST_DIR": fashion}
	broken := idxDir(t, map[string][]byte{trainImages: []byte("GIF89a")})
	c = add("idx", "export of a task with a bad file", cli("export", "--task", "mnist-5-9", "--what", "images"), filepath.Join(broken, trainImages), "not an idx file")
	c.env = map[string]string{"LQF_MNIST_DIR": broken}

	// Crafted PNG and JPEG files in image folders (lqf finetune --images).
	good := classes("", 6, "cat", "dog")
	folder := func(kind, name, root string, want ...string) {
		add(kind, name, cli("finetune", "--images", root, "--method", "fc"), want...)
	}
	for _, h := range []struct {
		name string
		png  []byte
		want string
	}{
		{"png claims 100000x100000", hostilePNG(t, 100000, 100000), "side limit"},
		{"png claims 16384x16384", hostilePNG(t, 16384, 16384), "67108864-pixel limit"},
		{"png claims 8192x8192 in 70 bytes", hostilePNG(t, 8192, 8192), "cannot hold"},
		{"jpeg claims 65535x65535", hostileJPEG(t, 65535, 65535), "side limit"},
		{"png holds text", []byte("not an image"), "not a PNG or JPEG file"},
		{"png is empty", []byte{}, "empty file"},
		{"png is a GIF", []byte("GIF89a\x01\x00\x01\x00"), "not a PNG or JPEG file"},
		{"png truncated", hostilePNG(t, 1, 1)[:40], "evil.png"},
	} {
		root := imageTree(t, map[string][]byte{"dog/evil.png": h.png}, good...)
		folder("image", h.name, root, filepath.Join(root, "dog", "evil.png"), h.want)
	}
	benchRoot := imageTree(t, map[string][]byte{"dog/evil.png": hostilePNG(t, 100000, 100000)}, good...)
	add("image", "bench on a folder with a crafted png", cli("bench", "--images", benchRoot), filepath.Join(benchRoot, "dog", "evil.png"), "side limit")

	// Image-folder trees.
	one := imageTree(t, nil, classes("", 6, "cat")...)
	folder("folder", "one class", one, one, "one class folder, cat", "at least two classes")
	oneSplit := imageTree(t, nil, classes("train/", 6, "cat")...)
	for _, p := range classes("test/", 2, "cat") {
		os.MkdirAll(filepath.Dir(filepath.Join(oneSplit, p)), 0o755)
		os.WriteFile(filepath.Join(oneSplit, p), hostilePNG(t, 1, 1), 0o644)
	}
	folder("folder", "one class in train", oneSplit, filepath.Join(oneSplit, "train"), "one class folder")
	brokenLink := imageTree(t, nil, good...)
	if err := os.Symlink(filepath.Join(brokenLink, "missing"), filepath.Join(brokenLink, "fish")); err != nil {
		t.Skipf("symbolic links unavailable: %v", err)
	}
	folder("folder", "broken symlink class folder", brokenLink, filepath.Join(brokenLink, "fish"), "symbolic link")
	outside := imageTree(t, map[string][]byte{"bird/bad.png": []byte("GIF89a")}, classes("", 6, "bird")...)
	linked := imageTree(t, nil, good...)
	os.Symlink(filepath.Join(outside, "bird"), filepath.Join(linked, "bird"))
	folder("folder", "symlinked class folder with a bad image", linked, filepath.Join(linked, "bird", "bad.png"), "not a PNG or JPEG file")
	upDir := imageTree(t, nil, append(good, "cat/up.png/")...)
	folder("folder", "directory named up.png", upDir, filepath.Join(upDir, "cat", "up.png"), "is a directory")
	onlyTrain := imageTree(t, nil, classes("train/", 6, "cat", "dog")...)
	folder("folder", "train without test", onlyTrain, onlyTrain, "train/ but no test/", filepath.Join(onlyTrain, "test"))
	onlyTest := imageTree(t, nil, classes("test/", 6, "cat", "dog")...)
	folder("folder", "test without train", onlyTest, onlyTest, "test/ but no train/")
	mismatch := imageTree(t, nil, append(classes("train/", 6, "cat", "dog"), classes("test/", 2, "cat", "cow")...)...)
	folder("folder", "train and test classes differ", mismatch, filepath.Join(mismatch, "test"), "[cat cow]")
	emptyClass := imageTree(t, nil, append(good, "cow/")...)
	folder("folder", "empty class folder", emptyClass, filepath.Join(emptyClass, "cow"), "no .png")
	noClasses := imageTree(t, nil, "a.png", "b.png")
	folder("folder", "images but no class folders", noClasses, noClasses, "no class sub-directories")
	folder("folder", "images is a file", aFile, aFile, "not a directory")
	folder("folder", "images does not exist", filepath.Join(one, "nothing"), filepath.Join(one, "nothing"), "does not exist")

	// Crafted checkpoints, made from the committed relu.ckpt.
	base, err := os.ReadFile(filepath.Join("..", "..", "pretrained", "relu.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	const magic = "LQF-CHECKPOINT-1\n"
	nl := bytes.IndexByte(base[len(magic):], '\n') + len(magic)
	header, values := base[len(magic):nl], base[nl+1:]
	crafted := func(name string, edit func(h map[string]any), data []byte) string {
		var h map[string]any
		if err := json.Unmarshal(header, &h); err != nil {
			t.Fatal(err)
		}
		edit(h)
		line, _ := json.Marshal(h)
		return write(name, append(append(append([]byte(magic), line...), '\n'), data...))
	}
	variable := func(h map[string]any, i int) map[string]any { return h["variables"].([]any)[i].(map[string]any) }
	config := func(h map[string]any) map[string]any { return h["config"].(map[string]any) }
	for _, k := range []struct {
		name, command string
		file          string
		want          string
	}{
		{"missing", "finetune", filepath.Join(files, "missing.ckpt"), "missing.ckpt"},
		{"text", "finetune", write("text.ckpt", []byte("hello")), "not an lqf checkpoint"},
		{"empty", "check jvp", write("empty.ckpt", nil), "not an lqf checkpoint"},
		{"negative dimension", "finetune", crafted("negdim.ckpt", func(h map[string]any) { variable(h, 0)["dims"] = []int{-16} }, values), "dimension -16"},
		{"10^10 values", "export", crafted("hugedim.ckpt", func(h map[string]any) { variable(h, 0)["dims"] = []int{100000, 100000} }, values), "claim more than"},
		{"100000x100000 input", "finetune", crafted("hugeinput.ckpt", func(h map[string]any) { config(h)["Height"], config(h)["Width"] = 100000, 100000 }, values), "checkpoint network"},
		{"header without end", "influence", write("endless.ckpt", append([]byte(magic+`{"config":`), bytes.Repeat([]byte(" "), 16<<20+1)...)), "longer than"},
		{"header not JSON", "spectrum", write("notjson.ckpt", []byte(magic+"<html>\n")), "corrupt checkpoint header"},
		{"truncated", "check jvp", write("truncated.ckpt", base[:len(base)/2]), "truncated checkpoint"},
		{"trailing byte", "check hypergradient", write("trailing.ckpt", append(append([]byte{}, base...), 'x')), "data after the last variable"},
		{"empty scope", "finetune", crafted("emptyscope.ckpt", func(h map[string]any) { variable(h, 0)["scope"] = "" }, values), "absolute path"},
		{"relative scope", "check jvp", crafted("relscope.ckpt", func(h map[string]any) { variable(h, 0)["scope"] = "backbone/x" }, values), "absolute path"},
		{"empty name", "finetune", crafted("emptyname.ckpt", func(h map[string]any) { variable(h, 0)["name"] = "" }, values), "name must be non-empty"},
		{"variable twice", "finetune", crafted("dupvar.ckpt", func(h map[string]any) { vs := h["variables"].([]any); vs[1] = vs[0] }, values), "listed twice"},
		{"no variables", "finetune", crafted("novars.ckpt", func(h map[string]any) { h["variables"] = []any{} }, nil), "lacks 52 variables"},
		{"zero classes", "finetune", crafted("zeroclasses.ckpt", func(h map[string]any) { config(h)["NumClasses"] = 0 }, values), "at least one class"},
		{"a stage of 100000 channels", "finetune", crafted("hugestage.ckpt", func(h map[string]any) { config(h)["StageWidths"] = []int{16, 32, 64, 100000} }, values), "does not fit"},
		{"no network", "finetune", crafted("nonet.ckpt", func(h map[string]any) { delete(h, "config") }, values), "describes no network"},
	} {
		add("checkpoint", k.name, cli(k.command, "--backbone", k.file), k.file, k.want)
	}
	set := func(name string, commit bool, members ...string) string {
		dir := filepath.Join(files, name)
		s, err := atomicfile.BeginSet(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range members {
			if err := s.WriteFile(f, func(w io.Writer) error { _, err := w.Write(base); return err }); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			if err := s.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	interrupted := filepath.Join(set("interrupted", false, "relu.ckpt"), "relu.ckpt")
	add("checkpoint", "set of an interrupted run", cli("finetune", "--backbone", interrupted), interrupted, "did not finish")
	other := filepath.Join(set("other", true, "leaky.ckpt"), "relu.ckpt")
	write("other/relu.ckpt", base)
	add("checkpoint", "file of another run", cli("finetune", "--backbone", other), other, "not among the files")
	changed := filepath.Join(set("changed", true, "relu.ckpt"), "relu.ckpt")
	write("changed/relu.ckpt", append(append([]byte{}, base...), base[:8]...))
	add("checkpoint", "file changed since its run", cli("finetune", "--backbone", changed), changed, "not the file that run")
	write("badmanifest/relu.ckpt", base)
	badManifest := write("badmanifest/"+atomicfile.ManifestName, []byte("{garbage"))
	add("checkpoint", "corrupt manifest", cli("finetune", "--backbone", filepath.Join(files, "badmanifest", "relu.ckpt")), badManifest, "not valid JSON")

	// JSON files: --net layer graphs, --torch reports, lqf reproduce's
	// cached seeds, run records and cells.
	net := func(layers string) []byte {
		return []byte(`{"input": {"height": 28, "width": 28, "channels": 1}, "layers": [` + layers + `]}`)
	}
	head := `{"name": "head", "op": "dense", "inputs": ["flat"], "attrs": {"units": 5, "bias": true}}`
	for _, n := range []struct{ name, file, content, want string }{
		{"net truncated", "trunc.json", `{"input": {"height": 28`, "unexpected EOF"},
		{"net two values", "two.json", string(net(`{"name": "flat", "op": "flatten", "inputs": ["input"]}, `+head)) + "{}", "more than one JSON value"},
		{"net unknown op", "op.json", string(net(`{"name": "x", "op": "lstm", "inputs": ["input"]}`)), "lstm"},
		{"net 100000000 hidden units", "dense.json", string(net(`{"name": "flat", "op": "flatten", "inputs": ["input"]}, {"name": "fc", "op": "dense", "inputs": ["flat"], "attrs": {"units": 100000000, "bias": true}}, {"name": "head", "op": "dense", "inputs": ["fc"], "attrs": {"units": 5, "bias": true}}`)), "parameters"},
		{"net 1000000 filters", "conv.json", string(net(`{"name": "c", "op": "conv2d", "inputs": ["input"], "attrs": {"filters": 1000000, "kernel": 3, "stride": 1, "padding": 1}}, {"name": "flat", "op": "flatten", "inputs": ["c"]}, ` + head)), "activations"},
		{"net of 100x100x3 images", "rgb.json", strings.Replace(string(net(`{"name": "flat", "op": "flatten", "inputs": ["input"]}, `+head)), `"height": 28, "width": 28, "channels": 1`, `"height": 100, "width": 100, "channels": 3`, 1), "28x28x1"},
	} {
		p := write(n.file, []byte(n.content))
		add("json", n.name, cli("pretrain", "--net", p), p, n.want)
	}
	bigNet := sparse("big.json", 16<<20+1)
	add("json", "net above its size limit", cli("pretrain", "--net", bigNet), bigNet, "larger than the limit")
	for _, b := range []struct{ name, content, want string }{
		{"torch truncated", `{"batch": 64, "forward_ms`, "not the JSON of scripts/torch_bench.py"},
		{"torch negative time", `{"batch": 64, "forward_ms_per_image": -1, "linearized_forward_ms_per_image": 1, "nlft_step_ms_per_image": 1, "lqf_step_ms_per_image": 1}`, "forward_ms_per_image"},
		{"torch other batch", `{"batch": 8, "forward_ms_per_image": 1, "linearized_forward_ms_per_image": 1, "nlft_step_ms_per_image": 1, "lqf_step_ms_per_image": 1}`, "batch 8"},
	} {
		p := write(strings.ReplaceAll(b.name, " ", "-")+".json", []byte(b.content))
		add("json", b.name, cli("bench", "--torch", p), p, b.want)
	}
	for _, r := range []struct {
		name, file string
		content    []byte
		size       int64
		want       string
	}{
		{"cached seed not JSON", "seed-1.json", []byte(`{"rows": [`), 0, "not valid JSON"},
		{"cached seed of two values", "seed-1.json", []byte(`{} []`), 0, "more than one JSON value"},
		{"cached seed above its size limit", "seed-1.json", nil, 64<<20 + 1, "larger than the limit"},
		{"run record not JSON", "runs/seed-1.json", []byte(`<html>`), 0, "not valid JSON"},
		{"cell not JSON", "cells/seed-1/grid.json", []byte(`[1, `), 0, "not valid JSON"},
	} {
		file, content, size := r.file, r.content, r.size
		c := add("json", r.name, cli("reproduce", "--fig", "7", "--quick", "--seeds", "1"), "@OUT/r/fig7-quick/"+file, r.want)
		c.setup = func(t *testing.T, out string) {
			dir := filepath.Join(out, "r", "fig7-quick")
			p := filepath.Join(dir, filepath.FromSlash(file))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if strings.HasPrefix(file, "runs/") {
				os.WriteFile(filepath.Join(dir, "seed-1.json"), []byte(`{}`), 0o644)
			}
			if err := os.WriteFile(p, content, 0o644); err != nil {
				t.Fatal(err)
			}
			if size > 0 {
				os.Truncate(p, size)
			}
		}
	}

	// ONNX files.
	garbage := write("garbage.onnx", bytes.Repeat([]byte("\x08\x07garbage"), 10))
	emptyONNX := write("empty.onnx", nil)
	add("onnx", "garbage backbone", cli("finetune", "--backbone", garbage), garbage, "not an ONNX model")
	add("onnx", "empty backbone", cli("export", "--backbone", emptyONNX), emptyONNX, "the file is empty")
	add("onnx", "inspect garbage", cli("inspect", garbage), garbage, "not an ONNX model")
	add("onnx", "inspect missing file", cli("inspect", filepath.Join(files, "none.onnx")), "none.onnx")
	add("onnx", "check of a missing file", cli("check onnx", "--onnx", filepath.Join(files, "none.onnx"), "--reference", files), "--onnx")
	smallCNN := filepath.Join("..", "..", "onnx", "testdata", "smallcnn", "model.onnx")
	add("onnx", "check without references", cli("check onnx", "--onnx", smallCNN, "--reference", files), "--reference")
	refs := filepath.Dir(write("refs/meta.json", []byte(`{}`)))
	add("onnx", "check of a garbage file", cli("check onnx", "--onnx", garbage, "--reference", refs), garbage, "not an ONNX model")

	// Output paths: checked before any work.
	fileInOut := func(t *testing.T, out string) {
		if err := os.WriteFile(filepath.Join(out, "file"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []struct {
		name    string
		command string
		flags   []string
		setup   bool // a file at @OUT/file
		want    string
	}{
		{"json into a missing directory", "finetune", []string{"--json", "@OUT/missing/r.json"}, false, "--json"},
		{"json onto a directory", "finetune", []string{"--json", "@OUT"}, false, "is a directory"},
		{"png directory is a file", "finetune", []string{"--png", "@OUT/file"}, true, "--png"},
		{"influence json into a missing directory", "influence", []string{"--json", "@OUT/missing/r.json"}, false, "--json"},
		{"influence png directory is a file", "influence", []string{"--png", "@OUT/file"}, true, "--png"},
		{"influence png directory under a file", "influence", []string{"--png", "@OUT/file/png"}, true, "--png"},
		{"influence cache is a file", "influence", []string{"--cache", "@OUT/file"}, true, "--cache"},
		{"validate png onto a directory", "influence validate", []string{"--png", "@OUT"}, false, "--png"},
		{"check json onto a directory", "check jvp", []string{"--json", "@OUT"}, false, "--json"},
		{"spectrum json into a missing directory", "spectrum", []string{"--json", "@OUT/a/b.json"}, false, "--json"},
		{"markdown into a missing directory", "reproduce", []string{"--markdown", "@OUT/missing/R.md"}, false, "--markdown"},
		{"reproduce out is a file", "reproduce", []string{"--out", "@OUT/file", "--fig", "7", "--quick"}, true, "--out"},
		{"merge is a file", "reproduce", []string{"--merge", "@OUT/file"}, true, "--merge"},
		{"export out is a file", "export", []string{"--out", "@OUT/file"}, true, "--out"},
		{"export out under a file", "export", []string{"--out", "@OUT/file/e"}, true, "--out"},
		{"export out empty", "export", []string{"--out", ""}, false, "--out"},
		{"pretrain out is a file", "pretrain", []string{"--out", "@OUT/file"}, true, "--out"},
		{"inspect json into a missing directory", "inspect", []string{"--json", "@OUT/missing/x.json", garbage}, false, "--json"},
		{"tasks json into a missing directory", "tasks", []string{"--json", "@OUT/missing/t.json"}, false, "--json"},
	} {
		c := add("output", o.name, cli(o.command, o.flags...), o.want)
		if o.setup {
			c.setup = fileInOut
		}
	}
	return cases
}

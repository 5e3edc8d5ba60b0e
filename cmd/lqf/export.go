package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/numpy"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/atomicfile"
	"github.com/lqf-go/lqf/linalg"
	"github.com/lqf-go/lqf/model"
)

func init() {
	register(command{"export", "write f0, labels and features, Jacobian rows or the empirical NTK as .npy files", runExport})
}

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", "export --task T --what features|jacobian|ntk --out DIR [flags]", stderr)
	cf := addCommonFlags(fs, common{Task: true, Backbone: true, Seed: "seed of the split and of the new head", Quiet: true})
	what := fs.String("what", "features", "features (penultimate), jacobian (per-sample rows grad_w f_c(x_i)), ntk (J J^T, train x train and test x train) or images (the split's images [N, H, W, C] in [0, 1], e.g. to train another framework on the same data)")
	out := fs.String("out", "", "output directory (created)")
	maxTrain := fs.Int("max-train", 200, "training samples, balanced over classes (0: no cap)")
	maxTest := fs.Int("max-test", 200, "test samples, balanced over classes (0: the whole test split)")
	valPerClass := fs.Int("val-per-class", 0, "validation samples per class, held out of the training split (0: 100 with --what images, the split of lqf finetune, which is written too; 1 otherwise, the split of lqf influence)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out: give an output directory")
	}
	if err := checkOutputDir("--out", *out); err != nil {
		return err
	}
	if *what != "features" && *what != "jacobian" && *what != "ntk" && *what != "images" {
		return usagef("--what %q: want features, jacobian, ntk or images", *what)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"--max-train", *maxTrain}, {"--max-test", *maxTest}, {"--val-per-class", *valPerClass}} {
		if f.v < 0 {
			return usagef("%s %d: must be >= 0", f.name, f.v)
		}
	}
	if *valPerClass == 0 {
		*valPerClass = 1
		if *what == "images" {
			*valPerClass = finetuneValPerClass
		}
	}
	seed := cf.seed
	s, err := cf.open(data.SplitOptions{Seed: *seed, MaxTrain: *maxTrain, ValPerClass: *valPerClass, MaxTest: *maxTest}, stderr)
	if err != nil {
		return err
	}
	beginWork("export")
	// The files are one set (manifest.json last, atomicfile.Set): the files
	// an earlier export listed in --out are removed first, so that the
	// directory never mixes two runs.
	set, err := atomicfile.BeginSet(*out, map[string]any{"command": "lqf export " + strings.Join(args, " "), "seed": *seed})
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	x := &exporter{dir: *out, set: set}
	if *what == "images" {
		// The data alone: no network work.
		meta := map[string]any{"task": s.task.Name, "seed": *seed, "classes": s.splits.Train.ClassNames,
			"val_per_class": *valPerClass, "max_train": *maxTrain, "max_test": *maxTest,
			"note": "images [N, H, W, C] in [0, 1] and labels of the splits of lqf finetune --seed S --max-train M --val-per-class V --max-test T with the same values"}
		for _, p := range []exportPart{{"train", s.splits.Train}, {"val", s.splits.Val}, {"test", s.splits.Test}} {
			n := p.set.Len()
			h, w, ch := p.set.Geometry()
			if err := x.save("images_"+p.name, tensors.FromFlatDataAndDimensions(append([]float32(nil), p.set.Images...), n, h, w, ch)); err != nil {
				return err
			}
			if err := x.save("labels_"+p.name, tensors.FromFlatDataAndDimensions(append([]int32(nil), p.set.Labels...), n)); err != nil {
				return err
			}
		}
		return x.finish(stdout, meta)
	}
	meta, err := x.network(s, *what, *seed)
	if err != nil {
		return err
	}
	cf.bb.record(meta, s.leakyChange)
	return x.finish(stdout, meta)
}

// exporter writes .npy files into dir, as one set, and remembers them.
type exporter struct {
	dir     string
	set     *atomicfile.Set
	written []string
}

type exportPart struct {
	name string
	set  *data.Set
}

func (x *exporter) save(name string, t *tensors.Tensor) error {
	x.written = append(x.written, filepath.Join(x.dir, name+".npy"))
	return x.set.WriteFile(name+".npy", func(w io.Writer) error { return numpy.ToNpyWriter(t, w) })
}

// network writes what the network gives on the training and test splits:
// f0 and labels, and the features, the Jacobian rows or the NTK (what);
// it returns the metadata.
func (x *exporter) network(s *session, what string, seed uint64) (map[string]any, error) {
	be, task, splits, progress := s.be, s.task, s.splits, s.progress
	save := x.save
	parts := []exportPart{{"train", splits.Train}, {"test", splits.Test}}
	net, err := s.net.ReplaceHead(be, splits.Train.NumClasses, seed)
	if err != nil {
		return nil, err
	}
	c := net.NumClasses()
	meta := map[string]any{"task": task.Name, "seed": seed, "classes": splits.Train.ClassNames,
		"alpha": model.DefaultAlpha, "note": "f0 is the network with a new random head (seeded), the linearization point of LQF; rows of Jacobians and NTK are sample-major: row i*C+c is output c of sample i"}
	for _, part := range parts {
		n := part.set.Len()
		f0, err := net.Logits(be, part.set)
		if err != nil {
			return nil, err
		}
		if err := save("f0_"+part.name, tensors.FromFlatDataAndDimensions(f0, n, c)); err != nil {
			return nil, err
		}
		if err := save("labels_"+part.name, tensors.FromFlatDataAndDimensions(append([]int32(nil), part.set.Labels...), n)); err != nil {
			return nil, err
		}
		if what == "features" {
			f, err := net.Features(be, part.set)
			if err != nil {
				return nil, err
			}
			if err := save("features_"+part.name, tensors.FromFlatDataAndDimensions(f, n, net.FeatureDim())); err != nil {
				return nil, err
			}
		}
	}
	if what != "features" {
		if err := x.jacobians(be, net, splits, what, meta, progress); err != nil {
			return nil, err
		}
	}
	return meta, nil
}

// jacobians writes the Jacobian rows (what "jacobian") or the NTK ("ntk")
// of the training and test splits and records the parameters in meta.
func (x *exporter) jacobians(be backends.Backend, net *model.Network, splits *data.Splits, what string, meta map[string]any, progress io.Writer) error {
	c, save := net.NumClasses(), x.save
	Jtr, p, err := net.JacobianRows(be, splits.Train, progress)
	if err != nil {
		return err
	}
	Jte, _, err := net.JacobianRows(be, splits.Test, progress)
	if err != nil {
		return err
	}
	rtr, rte := splits.Train.Len()*c, splits.Test.Len()*c
	var params []string
	for _, v := range net.TrainableVariables() {
		params = append(params, fmt.Sprintf("%s %v", v.ScopeAndName(), v.Shape().Dimensions))
	}
	meta["parameters"], meta["parameter_count"] = params, p
	if what == "jacobian" {
		if err := save("jacobian_train", tensors.FromFlatDataAndDimensions(Jtr, rtr, p)); err != nil {
			return err
		}
		if err := save("jacobian_test", tensors.FromFlatDataAndDimensions(Jte, rte, p)); err != nil {
			return err
		}
	} else {
		k := linalg.Gram(Jtr, rtr, p)
		if err := save("ntk_train_train", tensors.FromFlatDataAndDimensions(denseData(k), rtr, rtr)); err != nil {
			return err
		}
		kx := linalg.CrossGram(Jte, rte, Jtr, rtr, p)
		if err := save("ntk_test_train", tensors.FromFlatDataAndDimensions(kx.RawMatrix().Data, rte, rtr)); err != nil {
			return err
		}
	}
	return nil
}

// finish writes metadata.json beside the written files and lists them.
func (x *exporter) finish(stdout io.Writer, meta map[string]any) error {
	metaPath := filepath.Join(x.dir, "metadata.json")
	if err := x.set.WriteFile("metadata.json", jsonFill(meta)); err != nil {
		return err
	}
	if err := x.set.Commit(); err != nil {
		return err
	}
	for _, w := range append(x.written, metaPath, filepath.Join(x.dir, atomicfile.ManifestName)) {
		fmt.Fprintln(stdout, "wrote", w)
	}
	return nil
}

// denseData returns the full row-major data of a symmetric matrix.
func denseData(s *mat.SymDense) []float64 {
	n := s.SymmetricDim()
	out := make([]float64, n*n)
	for i := range n {
		for j := range n {
			out[i*n+j] = s.At(i, j)
		}
	}
	return out
}

package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/atomicfile"
	"github.com/lqf-go/lqf/internal/jsonfile"
	"github.com/lqf-go/lqf/layers"
	"github.com/lqf-go/lqf/model"
)

func init() {
	register(command{"pretrain", "train a backbone on the source task (ReLU, then one Leaky-ReLU epoch)", runPretrain})
}

// maxNetFileBytes bounds a --net file: layer graphs take a few kB (an
// imported ResNet-50 under 100 kB).
const maxNetFileBytes = 16 << 20

func runPretrain(args []string, stdout, stderr io.Writer) error {
	o := model.DefaultPretrainOptions()
	fs := newFlags("pretrain", "pretrain [--out DIR] [flags]", stderr)
	out := fs.String("out", "pretrained", "directory for relu.ckpt, leaky.ckpt and record.json")
	fs.IntVar(&o.MaxTrain, "max-train", o.MaxTrain, "cap on training images, balanced over classes (0: all)")
	fs.Float64Var(&o.ReLUEpochs, "epochs", o.ReLUEpochs, "epochs with ReLU")
	fs.Float64Var(&o.LeakyEpochs, "leaky-epochs", o.LeakyEpochs, "further epochs after switching to Leaky-ReLU")
	fs.Float64Var(&o.LearningRate, "lr", o.LearningRate, "learning rate of the ReLU phase (cosine decay)")
	fs.Float64Var(&o.LeakyLearningRate, "leaky-lr", o.LeakyLearningRate, "learning rate of the Leaky-ReLU phase")
	fs.Float64Var(&o.Lambda, "wd", o.Lambda, "L2 coefficient lambda (lambda/2 ||w||^2 in the loss)")
	fs.IntVar(&o.BatchSize, "batch", o.BatchSize, "batch size")
	fs.Float64Var(&o.LeakySlope, "leaky-slope", o.LeakySlope, "negative slope of Leaky-ReLU")
	aug := fs.String("augment", o.Augment.String(), "augmentation: none, crop or crop-flip")
	netPath := fs.String("net", "", "pretrain this layer graph (a JSON file, see package layers) instead of lqf's default ResNet; its classifier is resized to the task's classes")
	cf := addCommonFlags(fs, common{Task: true, TaskDefault: o.Task, TaskHelp: "source task (see lqf tasks)",
		Seed: "seed of initialization, splits and shuffling", Quiet: true})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.Task, o.Seed = *cf.task, *cf.seed
	var err error
	if o.Augment, err = data.ParseAugmentation(*aug); err != nil {
		return usagef("--augment: %v", err)
	}
	def := model.DefaultPretrainOptions()
	if err := firstError(checkMinInts(minInt{"--max-train", o.MaxTrain, 0}, minInt{"--batch", o.BatchSize, 1}),
		checkFloats(epochs("--epochs", o.ReLUEpochs, true, fmt.Sprint(def.ReLUEpochs)), epochs("--leaky-epochs", o.LeakyEpochs, false, fmt.Sprint(def.LeakyEpochs)),
			positive("--lr", o.LearningRate, fmt.Sprint(def.LearningRate)), positive("--leaky-lr", o.LeakyLearningRate, fmt.Sprint(def.LeakyLearningRate)),
			nonNegative("--wd", o.Lambda, fmt.Sprint(def.Lambda)), inRange("--leaky-slope", o.LeakySlope, 0, 1, false, fmt.Sprint(def.LeakySlope)))); err != nil {
		return err
	}
	task, err := data.TaskByName(o.Task)
	if err != nil {
		return usagef("--task: %v", err)
	}
	if o.Augment == data.RandomCropFlip && !task.Flip {
		return usagef("--augment crop-flip: task %q is not flip-invariant (digits); use crop", task.Name)
	}
	if o.Net, err = readNetFlag(*netPath); err != nil {
		return err
	}
	if err := checkOutputDir("--out", *out); err != nil {
		return err
	}
	o.Progress = cf.progress(stderr)
	be, err := startBackend()
	if err != nil {
		return err
	}
	if o.Net != nil { // as Pretrain builds it: the classifier resized to the task
		arch, err := o.Net.WithClasses(len(task.ClassNames))
		if err == nil {
			err = model.CheckNetSize(be, arch)
		}
		if err != nil {
			return usagef("--net %s: %v", *netPath, err)
		}
	}
	beginWork("pretrain")
	relu, leaky, rec, err := model.Pretrain(be, o)
	if err != nil {
		return err
	}
	rec.Command = "lqf pretrain " + strings.Join(args, " ")
	if err := writePretrained(*out, relu, leaky, rec, o.Seed); err != nil {
		return err
	}
	table(stdout, []string{"backbone", "source test accuracy", "parameters", "wall time"}, [][]string{
		{"relu", fmt.Sprintf("%.4f", rec.SourceTestAccuracyReLU), fmt.Sprint(rec.Parameters), fmt.Sprintf("%.0fs", rec.WallSeconds)},
		{"leaky-relu", fmt.Sprintf("%.4f", rec.SourceTestAccuracy), fmt.Sprint(rec.Parameters), ""},
	})
	fmt.Fprintf(stdout, "wrote %s/{relu,leaky}.ckpt and record.json\n", *out)
	return nil
}

// readNetFlag reads pretrain's --net layer graph (nil for none), checking
// its size and that it takes the built-in tasks' 28x28x1 images.
func readNetFlag(path string) (*layers.Net, error) {
	if path == "" {
		return nil, nil
	}
	b, err := jsonfile.ReadLimited(path, maxNetFileBytes)
	if err != nil {
		return nil, usagef("--net %v", err) // err names the file
	}
	net, err := layers.ReadNet(bytes.NewReader(b))
	if err != nil {
		return nil, usagef("--net %s: %v", path, err)
	}
	if in := net.Input; in.Height != data.Height || in.Width != data.Width || in.Channels != data.Channels {
		return nil, usagef("--net %s: the network takes %s images but the built-in tasks are %dx%dx%d; give it a 28x28x1 input", path, in, data.Height, data.Width, data.Channels)
	}
	return net, nil
}

// writePretrained writes the two backbones and their record into dir as
// one set (manifest.json last): an interrupted run's directory is refused
// by the loader, not read as a mix of runs.
func writePretrained(dir string, relu, leaky *model.Network, rec *model.PretrainRecord, seed uint64) error {
	set, err := atomicfile.BeginSet(dir, map[string]any{"command": rec.Command, "seed": seed})
	if err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	for _, f := range []struct {
		name string
		net  *model.Network
	}{{"relu.ckpt", relu}, {"leaky.ckpt", leaky}} {
		if err := set.WriteFile(f.name, func(w io.Writer) error { return f.net.WriteCheckpoint(w, rec) }); err != nil {
			return err
		}
	}
	if err := set.WriteFile("record.json", jsonFill(rec)); err != nil {
		return err
	}
	return set.Commit()
}

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/atomicfile"
	"github.com/lqf-go/lqf/layers"
	"github.com/lqf-go/lqf/model"
)

func init() {
	register(command{"pretrain", "train a backbone on the source task (ReLU, then one Leaky-ReLU epoch)", runPretrain})
}

func runPretrain(args []string, stdout, stderr io.Writer) error {
	o := model.DefaultPretrainOptions()
	fs := newFlags("pretrain", "pretrain [--out DIR] [flags]", stderr)
	out := fs.String("out", "pretrained", "directory for relu.ckpt, leaky.ckpt and record.json")
	fs.StringVar(&o.Task, "task", o.Task, "source task (see lqf tasks)")
	fs.IntVar(&o.MaxTrain, "max-train", o.MaxTrain, "cap on training images, balanced over classes (0: all)")
	fs.Float64Var(&o.ReLUEpochs, "epochs", o.ReLUEpochs, "epochs with ReLU")
	fs.Float64Var(&o.LeakyEpochs, "leaky-epochs", o.LeakyEpochs, "further epochs after switching to Leaky-ReLU")
	fs.Float64Var(&o.LearningRate, "lr", o.LearningRate, "learning rate of the ReLU phase (cosine decay)")
	fs.Float64Var(&o.LeakyLearningRate, "leaky-lr", o.LeakyLearningRate, "learning rate of the Leaky-ReLU phase")
	fs.Float64Var(&o.WeightDecay, "wd", o.WeightDecay, "L2 coefficient lambda (lambda/2 ||w||^2 in the loss)")
	fs.IntVar(&o.BatchSize, "batch", o.BatchSize, "batch size")
	fs.Float64Var(&o.LeakySlope, "leaky-slope", o.LeakySlope, "negative slope of Leaky-ReLU")
	aug := fs.String("augment", o.Augment.String(), "augmentation: none, crop or crop-flip")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of initialization, splits and shuffling")
	netPath := fs.String("net", "", "pretrain this layer graph (a JSON file, see package layers) instead of lqf's default ResNet; its classifier is resized to the task's classes")
	cf := addCommonFlags(fs, common{Quiet: true})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if o.Augment, err = data.ParseAugmentation(*aug); err != nil {
		return usagef("--augment: %v", err)
	}
	if o.ReLUEpochs <= 0 {
		return usagef("--epochs %g: must be > 0", o.ReLUEpochs)
	}
	if o.LeakyEpochs < 0 {
		return usagef("--leaky-epochs %g: must be >= 0", o.LeakyEpochs)
	}
	if _, err := data.TaskByName(o.Task); err != nil {
		return usagef("--task: %v", err)
	}
	if *netPath != "" {
		if o.Net, err = layers.ReadNetFile(*netPath); err != nil {
			return usagef("--net %v", err)
		}
		in := o.Net.Input
		if in.Height != data.Height || in.Width != data.Width || in.Channels != data.Channels {
			return usagef("--net %s: the network takes %s images but the built-in tasks are %dx%dx%d; give it a 28x28x1 input", *netPath, in, data.Height, data.Width, data.Channels)
		}
	}
	o.Progress = cf.progress(stderr)
	be, err := startBackend()
	if err != nil {
		return err
	}
	relu, leaky, rec, err := model.Pretrain(be, o)
	if err != nil {
		return err
	}
	rec.Command = "lqf pretrain " + strings.Join(args, " ")
	// The three files are one set (manifest.json last): an interrupted
	// run's directory is refused by the loader, not read as a mix of runs.
	set, err := atomicfile.BeginSet(*out, map[string]any{"command": rec.Command, "seed": o.Seed})
	if err != nil {
		return fmt.Errorf("--out %s: %w", *out, err)
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
	if err := set.Commit(); err != nil {
		return err
	}
	table(stdout, []string{"backbone", "source test accuracy", "parameters", "wall time"}, [][]string{
		{"relu", fmt.Sprintf("%.4f", rec.SourceTestAccuracyReLU), fmt.Sprint(rec.Parameters), fmt.Sprintf("%.0fs", rec.WallSeconds)},
		{"leaky-relu", fmt.Sprintf("%.4f", rec.SourceTestAccuracy), fmt.Sprint(rec.Parameters), ""},
	})
	fmt.Fprintf(stdout, "wrote %s/{relu,leaky}.ckpt and record.json\n", *out)
	return nil
}

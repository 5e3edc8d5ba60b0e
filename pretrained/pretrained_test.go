package pretrained

import (
	"math"
	"testing"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/layers"
	"github.com/lqf-go/lqf/model"
)

// TestEmbeddedBackbonesMatchRecord evaluates both embedded backbones on a
// balanced sample of the source test split and compares with the record.
func TestEmbeddedBackbonesMatchRecord(t *testing.T) {
	rec, err := Record()
	if err != nil {
		t.Fatal(err)
	}
	if rec.SourceTestAccuracy < 0.90 || rec.SourceTestAccuracyReLU < 0.90 {
		t.Errorf("record: source test accuracy %.4f (Leaky-ReLU), %.4f (ReLU); want >= 0.90", rec.SourceTestAccuracy, rec.SourceTestAccuracyReLU)
	}
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	task, err := data.TaskByName(rec.Task)
	if err != nil {
		t.Fatal(err)
	}
	splits, err := task.Load(data.SplitOptions{Seed: rec.Seed, MaxTrain: 10, ValPerClass: 1, MaxTest: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for act, want := range map[model.Activation]float64{model.ReLU: rec.SourceTestAccuracyReLU, model.LeakyReLU: rec.SourceTestAccuracy} {
		net, err := Load(be, act)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range net.Arch.Layers {
			if a, ok := l.Op.(*layers.Activation); ok && a.Fn != act {
				t.Errorf("%s backbone: layer %s computes %s", act, l.Name, a.Fn)
			}
		}
		if net.NumParameters() != rec.Parameters {
			t.Errorf("%s backbone: %d parameters; record says %d", act, net.NumParameters(), rec.Parameters)
		}
		e, err := net.TestError(be, splits.Test)
		if err != nil {
			t.Fatal(err)
		}
		// 1000 test images: the standard error of an accuracy near 0.95 is
		// about 0.007; allow 4 of them.
		if acc := 1 - e; math.Abs(acc-want) > 0.03 {
			t.Errorf("%s backbone: accuracy %.4f on 1000 source test images, record says %.4f", act, acc, want)
		}
	}
	if _, err := Load(be, "tanh"); err == nil {
		t.Error("unknown activation accepted")
	}
}

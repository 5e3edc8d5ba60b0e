package model

import (
	"fmt"
	"io"
	"time"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/layers"
)

// PretrainOptions configures Pretrain (paper A.2): ReLUEpochs of
// cross-entropy training with ReLU and batch statistics, then the
// activations become Leaky-ReLU and LeakyEpochs more are trained.
type PretrainOptions struct {
	Task              string // source task name; default "source"
	MaxTrain          int    // cap on training images (0: all)
	ReLUEpochs        float64
	LeakyEpochs       float64
	LearningRate      float64 // ReLU phase (cosine decay)
	LeakyLearningRate float64 // Leaky-ReLU phase (cosine decay)
	Momentum          float64
	// Lambda is the weight decay (TrainOptions.Lambda); the JSON key of
	// records written by earlier versions is kept.
	Lambda     float64 `json:"WeightDecay"`
	BatchSize  int
	LeakySlope float64
	Augment    data.Augmentation
	Seed       uint64
	// Net is the layer graph to pretrain; nil means DefaultConfig (lqf's
	// 78k-parameter ResNet). Its classifier is resized to the source
	// task's classes and its input must be the task's 28x28x1.
	Net      *layers.Net `json:"net,omitempty"`
	Progress io.Writer   `json:"-"`
}

// DefaultPretrainOptions are the settings of the committed backbones, sized
// for two CPU cores with the pure-Go backend.
func DefaultPretrainOptions() PretrainOptions {
	return PretrainOptions{
		Task: "source", MaxTrain: 24000,
		ReLUEpochs: 3, LeakyEpochs: 1,
		LearningRate: 0.1, LeakyLearningRate: 0.02,
		Momentum: 0.9, Lambda: 5e-4, BatchSize: 64,
		LeakySlope: 0.1, Augment: data.RandomCrop, Seed: 1,
	}
}

// PretrainRecord describes how a backbone was pretrained and how well it
// does on the source test split.
type PretrainRecord struct {
	Command                string          `json:"command,omitempty"`
	Task                   string          `json:"task"`
	Seed                   uint64          `json:"seed"`
	TrainSize              int             `json:"train_size"`
	TestSize               int             `json:"test_size"`
	Options                PretrainOptions `json:"options"`
	Backend                string          `json:"backend"`
	WallSeconds            float64         `json:"wall_seconds"`
	SourceTestAccuracyReLU float64         `json:"source_test_accuracy_relu"`
	SourceTestAccuracy     float64         `json:"source_test_accuracy"` // of the Leaky-ReLU backbone
	ReLUEpochLoss          []float64       `json:"relu_epoch_loss"`
	LeakyEpochLoss         []float64       `json:"leaky_epoch_loss"`
	Parameters             int             `json:"parameters"`
	Date                   string          `json:"date"`
}

// Pretrain trains a backbone on the source task and returns the ReLU network,
// the Leaky-ReLU network derived from it, and the record.
func Pretrain(be backends.Backend, opts PretrainOptions) (relu, leaky *Network, rec *PretrainRecord, err error) {
	start := time.Now()
	task, err := data.TaskByName(opts.Task)
	if err != nil {
		return nil, nil, nil, err
	}
	splits, err := task.Load(data.SplitOptions{Seed: opts.Seed, MaxTrain: opts.MaxTrain})
	if err != nil {
		return nil, nil, nil, err
	}
	slope := layers.DefaultLeakySlope
	if opts.LeakySlope > 0 {
		slope = opts.LeakySlope
	}
	arch := opts.Net
	if arch == nil {
		cfg := DefaultConfig(len(task.ClassNames))
		cfg.LeakySlope = slope
		if arch, err = cfg.Net(); err != nil {
			return nil, nil, nil, err
		}
	}
	if arch, err = arch.WithClasses(len(task.ClassNames)); err != nil {
		return nil, nil, nil, err
	}
	if arch, err = arch.WithActivation(ReLU, 0); err != nil {
		return nil, nil, nil, err
	}
	relu, err = New(be, arch, opts.Seed)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := relu.CheckSet(splits.Train); err != nil {
		return nil, nil, nil, err
	}
	train := TrainOptions{
		Loss: CrossEntropy, LearningRate: opts.LearningRate, Momentum: opts.Momentum,
		Lambda: opts.Lambda, BatchSize: opts.BatchSize, Epochs: opts.ReLUEpochs,
		Seed: opts.Seed, Augment: opts.Augment, BatchNorm: TrainBatchStats,
		Progress: opts.Progress, Label: "pretrain relu",
	}
	r1, err := relu.Train(be, splits.Train, train)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pretraining (ReLU): %w", err)
	}
	accReLU, err := relu.TestError(be, splits.Test)
	if err != nil {
		return nil, nil, nil, err
	}
	leaky, err = relu.WithLeakySlope(LeakyReLU, slope)
	if err != nil {
		return nil, nil, nil, err
	}
	var leakyLoss []float64
	if opts.LeakyEpochs > 0 {
		train.Epochs, train.LearningRate, train.Label = opts.LeakyEpochs, opts.LeakyLearningRate, "pretrain leaky-relu"
		train.Seed = opts.Seed + 1
		r2, err := leaky.Train(be, splits.Train, train)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("pretraining (Leaky-ReLU): %w", err)
		}
		leakyLoss = r2.EpochLoss
	}
	errLeaky, err := leaky.TestError(be, splits.Test)
	if err != nil {
		return nil, nil, nil, err
	}
	rec = &PretrainRecord{
		Task: task.Name, Seed: opts.Seed, TrainSize: splits.Train.Len(), TestSize: splits.Test.Len(),
		Options: opts, Backend: be.Name(), WallSeconds: time.Since(start).Seconds(),
		SourceTestAccuracyReLU: 1 - accReLU, SourceTestAccuracy: 1 - errLeaky,
		ReLUEpochLoss: r1.EpochLoss, LeakyEpochLoss: leakyLoss,
		Parameters: relu.NumParameters(), Date: time.Now().UTC().Format(time.RFC3339),
	}
	rec.Options.Progress = nil
	return relu, leaky, rec, nil
}

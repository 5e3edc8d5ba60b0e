// Package data loads, splits, augments and batches the labeled 28x28
// grayscale images that lqf pretrains and fine-tunes on.
//
// It reads the MNIST and Fashion-MNIST idx files (see [LoadMNIST],
// [LoadFashionMNIST] and [ParseIDX]) and folders of PNG/JPEG images
// ([LoadImageFolder]), defines the source task used for pretraining and the
// target tasks used for fine-tuning ordered from near to far ([Tasks]),
// builds deterministic k-shot train/validation/test splits for a task
// ([Task.Load]), and yields augmented shuffled mini-batches ([Batcher]).
//
// All images are float32 in [0, 1], stored row-major as NHWC with
// Height=Width=28 and Channels=1, so a set of N images is a flat slice of
// N*ImageSize values.
package data

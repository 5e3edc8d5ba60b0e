// Package data loads, splits, augments and batches labeled images for lqf
// to pretrain and fine-tune on.
//
// It reads the MNIST and Fashion-MNIST idx files (see [LoadMNIST],
// [LoadFashionMNIST] and [ParseIDX]) and folders of PNG/JPEG images
// ([LoadImageFolder], [LoadImageFolderAs]), defines the source task used for
// pretraining and the target tasks used for fine-tuning ordered from near to
// far ([Tasks]), builds deterministic k-shot train/validation/test splits
// for a task ([Task.Load]) or a folder ([LoadImageFolderSplitsAs]), yields
// augmented shuffled mini-batches ([Batcher]), converts sets between
// geometries ([Resample]) and writes them back as image folders
// ([WriteImageFolder]).
//
// It holds none of the paper's equations: it supplies the tasks of lqf's
// adapted protocol, a source task (Fashion-MNIST classes 0-4 and MNIST
// digits 0-4) in place of the paper's ImageNet pretraining and target
// tasks ranked from near to far in place of the data sets of Table 1
// (Sec. 4.1, Appendix A.2); k-shot splits serve Fig. 4 (Sec. 4.4), and
// random crops and flips are the augmentations of Appendix A.2.
//
// All images are float32 in [0, 1], stored row-major as NHWC: a [Set] of N
// images of geometry H x W x C ([Set.Geometry]) is a flat slice of
// N*H*W*C values ([Set.ImageLen] per image), with C = 1 (grayscale) or 3
// (RGB). The built-in tasks, the idx loader and [LoadImageFolder] give
// 28x28x1 images (the constants [Height], [Width], [Channels] and
// [ImageSize]), which is also the geometry of a Set whose Height, Width and
// Channels fields are zero and of the zero [Geometry].
//
// The readers take files from users and the network, so they check what a
// header claims before allocating it: an idx file's dims against 1 GiB and
// the file's length ([ParseIDX]), an image's size against [MaxImageSide]
// and [MaxImagePixels] ([LoadImageFolderAs]). Their errors name the file or
// folder, say what is wrong and how to fix it.
package data

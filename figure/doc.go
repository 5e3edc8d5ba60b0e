// Package figure draws the figures of attribution and data summarization
// studies: grids of small images with captions (for example "the eight
// training images that most made the model call this test image a sandal")
// and predicted-versus-actual scatter plots (for example the predicted
// change of a test output against its actual change after retraining),
// and the line and grouped-bar plots (Lines, GroupedBars) of package
// analysis, with helpers for their axes (NiceTicks, Log10Ticks, IntTicks,
// Headroom) and for panels side by side (SavePanels).
//
// SavePlot and SavePanels lay a figure out with Draw: a blank margin all
// round, the title wrapped to the width and clear of the top edge, the
// axis labels centred on the data area, and the legend outside the data
// area (to its right, or below it), where it can hide no data.
//
// It holds none of the paper's equations: it draws lqf's counterparts of
// the paper's figures (for example the most and least informative images
// of Fig. 6) and the checks of eq. 7-8 against retraining.
//
// Images are drawn with nearest-neighbour upscaling so their pixels stay
// crisp. Files are written atomically: a reader sees the previous file or
// the complete new one, never a partial figure.
package figure

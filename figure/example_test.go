package figure_test

import (
	"fmt"
	"image/color"

	"github.com/lqf-go/lqf/figure"
)

// A query image and the training images that most supported its
// prediction, each with its score, the query framed in blue.
func ExampleImageGrid() {
	digit := func(v float32) figure.Tile {
		px := make([]float32, 28*28)
		for i := range px {
			if i/28 > 4 && i/28 < 24 && i%28 > 10 && i%28 < 17 {
				px[i] = v // a vertical stroke, like a "1"
			}
		}
		return figure.Tile{Pixels: px, Height: 28, Width: 28, Channels: 1}
	}
	query := digit(1)
	query.Caption = "test #17\npredicted 1"
	query.Frame = color.RGBA{B: 255, A: 255}
	var top []figure.Tile
	for k, score := range []float64{0.91, 0.84, 0.80} {
		t := digit(float32(1 - 0.2*float64(k)))
		t.Caption = fmt.Sprintf("train #%d\nscore %.2f", 100+k, score)
		top = append(top, t)
	}
	g, err := figure.ImageGrid([]figure.Row{
		{Title: "query", Tiles: []figure.Tile{query}},
		{Title: "top proponents", Tiles: top},
	}, figure.GridOptions{Title: "Why a 1?", DPI: 72})
	if err != nil {
		fmt.Println(err)
		return
	}
	// figure.WritePNG("why.png", g.Image()) would save it.
	fmt.Println("image:", g.Image().Bounds())
	fmt.Println("query at", g.Bounds[0][0])
	fmt.Println("proponents at", g.Bounds[1])
	// Output:
	// image: (0,0)-(252,267)
	// query at (9,45)-(81,117)
	// proponents at [(9,164)-(81,236) (90,164)-(162,236) (171,164)-(243,236)]
}

// Predicted against actual changes of a test loss after removing training
// points, with their correlation.
func ExampleScatter() {
	predicted := []float64{-0.21, -0.05, 0.02, 0.11, 0.30}
	actual := []float64{-0.19, -0.07, 0.03, 0.10, 0.33}
	p, err := figure.Scatter(predicted, actual, figure.ScatterOptions{
		Title:       "Leave-k-out: predicted vs actual",
		XLabel:      "predicted change in test loss",
		YLabel:      "actual change after retraining",
		Correlation: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// figure.SavePlot(p, 4*vg.Inch, 4*vg.Inch, "loo.svg") would save it.
	fmt.Printf("axes [%.2f, %.2f]\n", p.X.Min, p.X.Max)
	// Output:
	// axes [-0.24, 0.36]
}

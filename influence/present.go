package influence

import (
	"fmt"
	"image/color"
	"strconv"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/figure"
)

// className is class c's name in set (its number when set has no names;
// "unknown" for c < 0).
func className(set *data.Set, c int) string {
	switch {
	case c < 0:
		return "unknown"
	case c < len(set.ClassNames):
		return set.ClassNames[c]
	}
	return strconv.Itoa(c)
}

// Table lists e's proponents, then its opponents, as rows of a table:
// role, training sample (index in train), its label, and the sample's
// effects on the outputs of the predicted and the true class
// (f(x) - f_without_it(x); Attribution.DeltaPredicted and DeltaTrue).
// header names the last two columns by class.
func (e Explanation) Table(train *data.Set) (header []string, rows [][]string) {
	header = []string{"role", "train", "label", "effect on " + className(train, e.Predicted), "effect on " + className(train, e.Label)}
	for _, x := range []struct {
		role string
		a    []Attribution
	}{{"proponent", e.Proponents}, {"opponent", e.Opponents}} {
		for _, a := range x.a {
			rows = append(rows, []string{x.role, strconv.Itoa(a.Train), className(train, int(train.Labels[a.Train])),
				fmt.Sprintf("%+.4f", a.DeltaPredicted), fmt.Sprintf("%+.4f", a.DeltaTrue)})
		}
	}
	return header, rows
}

// Colors of Grid's frames.
var (
	queryFrame     = color.RGBA{0, 0, 200, 255}
	proponentFrame = color.RGBA{0, 150, 0, 255}
	opponentFrame  = color.RGBA{200, 0, 0, 255}
)

// Grid draws e: the explained image (image e.Image of set) above its
// proponents and its opponents (images of train), each captioned with its
// index, label and effect on the predicted class's output.
func (e Explanation) Grid(set, train *data.Set) (*figure.Grid, error) {
	if e.Image < 0 || e.Image >= set.Len() {
		return nil, fmt.Errorf("influence: explained image %d is not in a set of %d", e.Image, set.Len())
	}
	pred := className(train, e.Predicted)
	row := func(title string, a []Attribution, frame color.Color) figure.Row {
		r := figure.Row{Title: title}
		for _, x := range a {
			caption := fmt.Sprintf("#%d %s\n%+.3g", x.Train, className(train, int(train.Labels[x.Train])), x.DeltaPredicted)
			r.Tiles = append(r.Tiles, tile(train, x.Train, caption, frame))
		}
		return r
	}
	rows := []figure.Row{
		{Title: "test image", Tiles: []figure.Tile{tile(set, e.Image, fmt.Sprintf("true %s\npredicted %s", className(train, e.Label), pred), queryFrame)}},
		row("proponents: removing them lowers "+pred+" most", e.Proponents, proponentFrame),
		row("opponents: removing them raises "+pred+" most", e.Opponents, opponentFrame),
	}
	return figure.ImageGrid(rows, figure.GridOptions{Title: fmt.Sprintf("test %d: why %s?", e.Image, pred)})
}

// tile is image i of set with a caption and a frame.
func tile(set *data.Set, i int, caption string, frame color.Color) figure.Tile {
	h, w, c := set.Geometry()
	return figure.Tile{Pixels: set.Image(i), Height: h, Width: w, Channels: c, Caption: caption, Frame: frame}
}

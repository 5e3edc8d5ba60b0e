package model_test

import (
	"testing"

	"github.com/lqf-go/lqf/backend"
	"github.com/lqf-go/lqf/internal/lqftest"
	"github.com/lqf-go/lqf/model"
)

// LayerBlocks tiles the parameter vector with one block per layer: the
// stem, three convolutions per stage and the head.
func TestLayerBlocks(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	net, err := lqftest.TinyNetwork(be, 5)
	if err != nil {
		t.Fatal(err)
	}
	blocks := model.LayerBlocks(net)
	if want := 1 + 3*3 + 1; len(blocks) != want {
		t.Fatalf("%d blocks, want %d", len(blocks), want)
	}
	p := 0
	for _, v := range net.TrainableVariables() {
		p += v.Shape().Size()
	}
	end := 0
	for k, b := range blocks {
		if b.Start != end || b.End <= b.Start {
			t.Fatalf("block %d = %v does not continue at %d", k, b, end)
		}
		end = b.End
	}
	if end != p {
		t.Fatalf("blocks end at %d, parameters %d", end, p)
	}
	// The head's block is its weights and biases: F*C + C.
	if last := blocks[len(blocks)-1]; last.End-last.Start != net.FeatureDim()*5+5 {
		t.Fatalf("head block %v, want %d parameters", last, net.FeatureDim()*5+5)
	}
}

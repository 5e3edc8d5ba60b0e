package model

import "strings"

// Block is a range [Start, End) of the flattened parameter vector (the
// order of model.Network.TrainableVariables, the columns of Jacobian rows).
type Block struct{ Start, End int }

// LayerBlocks returns one Block per layer of net: a convolution's kernel
// together with its batch norm's gamma and beta, and the head's weights and
// biases. These are the blocks of a layer-wise (block-diagonal) curvature
// such as K-FAC, which further factors each block.
func LayerBlocks(net *Network) []Block {
	var blocks []Block
	prev, off := "", 0
	for _, v := range net.TrainableVariables() {
		scope := strings.TrimSuffix(v.Scope(), "/bn")
		size := v.Shape().Size()
		if len(blocks) == 0 || scope != prev {
			blocks = append(blocks, Block{off, off + size})
		} else {
			blocks[len(blocks)-1].End = off + size
		}
		prev, off = scope, off+size
	}
	return blocks
}

package model

// Block is a range [Start, End) of the flattened parameter vector (the
// order of model.Network.TrainableVariables, the columns of Jacobian rows).
type Block struct{ Start, End int }

// LayerBlocks returns one Block per unit of net (layers.Net.ParamGroups): a
// convolution's kernel together with the batch norm folded into it, a dense
// layer's weights and biases, a batch norm alone. These are the blocks of a
// layer-wise (block-diagonal) curvature such as K-FAC, which further factors
// each block. A unit whose variables are not contiguous in the parameter
// vector (scopes that do not sort together) gets one block per run.
func LayerBlocks(net *Network) []Block {
	groups, err := net.Arch.ParamGroups()
	if err != nil {
		panic(err)
	}
	groupOf := map[string]int{}
	for i, g := range groups {
		for _, scope := range g {
			groupOf[scope] = i
		}
	}
	var blocks []Block
	prev, off := -1, 0
	for _, v := range net.TrainableVariables() {
		g, ok := groupOf[v.Scope()]
		if !ok {
			g = -2 - len(blocks) // a variable outside the graph's layers: a block of its own
		}
		size := v.Shape().Size()
		if len(blocks) == 0 || g != prev {
			blocks = append(blocks, Block{off, off + size})
		} else {
			blocks[len(blocks)-1].End = off + size
		}
		prev, off = g, off+size
	}
	return blocks
}

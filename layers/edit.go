package layers

import "fmt"

// WithActivation returns a copy whose ReLU and Leaky-ReLU layers all compute
// fn (ReLU or LeakyReLU with slope): swapping ReLU for Leaky-ReLU, as the
// paper does for the linearized methods (Sec. 3.3), is one call.
func (n *Net) WithActivation(fn string, slope float64) (*Net, error) {
	if fn != ReLU && fn != LeakyReLU {
		return nil, fmt.Errorf("layers: activation %q: want %q or %q", fn, ReLU, LeakyReLU)
	}
	c := n.Clone()
	for _, l := range c.Layers {
		if a, ok := l.Op.(*Activation); ok && (a.Fn == ReLU || a.Fn == LeakyReLU) {
			a.Fn, a.Slope = fn, 0
			if fn == LeakyReLU {
				a.Slope = slope
			}
		}
	}
	return c, c.Validate()
}

// WithFeaturePooling returns a copy whose layer before the classifier, a
// pooling layer (GlobalAvgPool or BilinearPool), is replaced by op. The
// classifier's input width may change: replace its parameters afterwards.
func (n *Net) WithFeaturePooling(op Op) (*Net, error) {
	c := n.Clone()
	name := c.Classifier().Inputs[0]
	for i := range c.Layers {
		l := &c.Layers[i]
		if l.Name != name {
			continue
		}
		switch l.Op.(type) {
		case *GlobalAvgPool, *BilinearPool:
			l.Op = op
			return c, c.Validate()
		}
		return nil, fmt.Errorf("layers: the classifier's input %q is a %s layer, not global average or bilinear pooling", name, l.Op.Kind())
	}
	return nil, fmt.Errorf("layers: no layer %q", name)
}

// WithClasses returns a copy whose classifier has classes outputs.
func (n *Net) WithClasses(classes int) (*Net, error) {
	if classes < 1 {
		return nil, fmt.Errorf("layers: the classifier needs at least one class, got %d", classes)
	}
	c := n.Clone()
	c.Classifier().Op.(*Dense).Units = classes
	return c, c.Validate()
}

// ParamGroups returns the scopes of the network's parameters grouped by
// unit, in layer order: a convolution with the batch norm folded into it,
// or one layer. These are the blocks of a layer-wise (block-diagonal)
// curvature such as K-FAC, which further factors each block.
func (n *Net) ParamGroups() ([][]string, error) {
	p, err := n.plan()
	if err != nil {
		return nil, err
	}
	var groups [][]string
	for _, l := range n.Layers {
		if !hasParams(l.Op) {
			continue
		}
		if _, ok := p.fusedConv[l.Name]; ok {
			continue // with its convolution
		}
		g := []string{n.Scope(l.Name)}
		if bn, ok := p.fusedInto[l.Name]; ok {
			g = append(g, n.Scope(bn))
		}
		groups = append(groups, g)
	}
	return groups, nil
}

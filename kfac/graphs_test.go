package kfac

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/layers"
	"github.com/lqf-go/lqf/layers/layerstest"
	"github.com/lqf-go/lqf/model"
)

// The tests of this file check properties of K-FAC on every network of
// setups: lqf's default backbone, small ("resnet", tinySetup), and layer
// graphs unlike it (graphSetup): the three nets of package layerstest and
// "units", a small net with every kind of unit K-FAC covers that those
// lack. Each property is one test with a subtest per setup.

// setup is a network the property tests run on, with what K-FAC must make
// of it.
type setup struct {
	name string
	// units is the number of K-FAC units; onePosition the number of units
	// with weights whose output has one position per image (every dense
	// layer, and a convolution with a 1x1 output).
	units, onePosition int
	// rawRoundTrip is the tolerance of TestInverseRoundTrip through the
	// factors as they are, not made positive semi-definite (0: not
	// checked). Their negative float32 round-off eigenvalues (about
	// -2e-8 ||A||) times ||G|| / d stay under 1e-6 on the resnet
	// (||A|| < 0.2) but reach 6e-4 on the graph nets, whose random
	// batch-norm statistics and gammas and larger inputs give ||A|| up to
	// 70 and ||G|| up to 80.
	rawRoundTrip float64
}

// setups are lqf's default tiny ResNet and every net of graphNets.
var setups = []setup{
	{"resnet", 1 + 3*3 + 1, 1, 1e-6}, // stem, 9 stage units and the head
	{"flatten", 4, 2, 0},             // c1, c2, fc, head
	{"maxpool", 3, 1, 0},             // c1, c2, head
	{"rgb32", 4, 1, 0},               // stem, r1, r2, head
	{"units", 7, 3, 0},               // c0, c1, bn1, c2, fc, fc/bn, head
}

// build returns the setup's network and n images: tinySetup for "resnet",
// graphSetup for a graph net.
func (s setup) build(t *testing.T, n int) (*model.Network, *data.Set) {
	t.Helper()
	if s.name == "resnet" {
		return tinySetup(t, n)
	}
	return graphSetup(t, s.name, n)
}

// forEachSetup runs test as the subtest s.name of every setup, after
// checking that setups lists every net of graphNets.
func forEachSetup(t *testing.T, test func(t *testing.T, s setup)) {
	t.Helper()
	listed := map[string]bool{}
	for _, s := range setups {
		listed[s.name] = true
	}
	for name := range graphNets() {
		if !listed[name] {
			t.Errorf("graph net %s is not in setups", name)
		}
	}
	for _, s := range setups {
		t.Run(s.name, func(t *testing.T) { test(t, s) })
	}
}

// randomVector returns p standard normal values of the PCG stream
// (seed, seed).
func randomVector(p int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, seed))
	v := make([]float64, p)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// computeFactors runs Compute with opts on set.
func computeFactors(t *testing.T, net *model.Network, set *data.Set, opts Options) *Factors {
	t.Helper()
	f, err := Compute(testBackend(t), net, set, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// correctEigenvalues runs f.CorrectEigenvalues on set in batches of
// batchSize: f, and every inverse made of it, are EK-FAC from then on.
func correctEigenvalues(t *testing.T, f *Factors, net *model.Network, set *data.Set, batchSize int) {
	t.Helper()
	if err := f.CorrectEigenvalues(testBackend(t), net, set, Options{BatchSize: batchSize}); err != nil {
		t.Fatal(err)
	}
}

// invert returns f.Invert(d).
func invert(t *testing.T, f *Factors, d float64) *DampedInverse {
	t.Helper()
	inv, err := f.Invert(d)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// kfacThenEKFAC calls check with the factors of Compute(opts) on set
// (ek false), then with the same factors after CorrectEigenvalues in the
// same batches (ek true): K-FAC, then EK-FAC, for one Compute.
func kfacThenEKFAC(t *testing.T, net *model.Network, set *data.Set, opts Options, check func(ek bool, f *Factors)) {
	t.Helper()
	f := computeFactors(t, net, set, opts)
	check(false, f)
	correctEigenvalues(t, f, net, set, opts.BatchSize)
	check(true, f)
}

// paramOffset returns the offset in off (offsets) of the parameter whose
// tangent variable is tv.
func paramOffset(t *testing.T, off map[string]int, tv *context.Variable) int {
	t.Helper()
	o, ok := off[strings.TrimPrefix(tv.ScopeAndName(), "/"+model.ScopeTangent)]
	if !ok {
		t.Fatalf("tangent %s has no parameter", tv.ScopeAndName())
	}
	return o
}

// graphNets returns layerstest.Nets() and "units": a 6x6x1 input; a
// convolution with its own bias folded with a batch norm (c0), a
// convolution with a bias and no batch norm (c1), a batch norm alone after
// an activation (bn1), a convolution without bias or batch norm whose
// output is one position (c2, 4x4 kernel on 4x4), a flatten, a dense layer
// without biases (fc) and a batch norm alone on its features (fc/bn).
func graphNets() map[string]*layers.Net {
	nets := layerstest.Nets()
	leaky := func() layers.Op { return &layers.Activation{Fn: layers.LeakyReLU, Slope: 0.1} }
	nets["units"] = &layers.Net{Input: layers.Input{Height: 6, Width: 6, Channels: 1}, Layers: []layers.Layer{
		{Name: "c0", Inputs: []string{layers.InputName}, Op: &layers.Conv2D{Filters: 2, Kernel: 3, Stride: 1, Padding: 1, Bias: true}},
		{Name: "c0/bn", Inputs: []string{"c0"}, Op: &layers.BatchNorm{}},
		{Name: "a0", Inputs: []string{"c0/bn"}, Op: leaky()},
		{Name: "c1", Inputs: []string{"a0"}, Op: &layers.Conv2D{Filters: 3, Kernel: 3, Stride: 1, Bias: true}},
		{Name: "a1", Inputs: []string{"c1"}, Op: leaky()},
		{Name: "bn1", Inputs: []string{"a1"}, Op: &layers.BatchNorm{}},
		{Name: "c2", Inputs: []string{"bn1"}, Op: &layers.Conv2D{Filters: 4, Kernel: 4, Stride: 1}},
		{Name: "a2", Inputs: []string{"c2"}, Op: leaky()},
		{Name: "flat", Inputs: []string{"a2"}, Op: &layers.Flatten{}},
		{Name: "fc", Inputs: []string{"flat"}, Op: &layers.Dense{Units: 5}},
		{Name: "fc/bn", Inputs: []string{"fc"}, Op: &layers.BatchNorm{}},
		{Name: "a3", Inputs: []string{"fc/bn"}, Op: leaky()},
		{Name: "head", Inputs: []string{"a3"}, Op: &layers.Dense{Units: 3, Bias: true}},
	}}
	return nets
}

// graphSetup returns net name with random batch-norm statistics, gammas,
// betas and biases (so that every term matters), and n images of its
// geometry: MNIST digits resampled (data.Resample) for 1 and 3 channels
// (RGB tinted per channel, so that the channels differ), uniform noise in
// [0, 1] for the 2-channel "maxpool".
func graphSetup(t *testing.T, name string, n int) (*model.Network, *data.Set) {
	t.Helper()
	be := testBackend(t)
	net, err := model.New(be, graphNets()[name], 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, v := range net.Variables() {
		w := tensors.MustCopyFlatData[float32](v.MustValue())
		switch v.Name() {
		case "mean", "beta", "biases":
			for i := range w {
				w[i] = float32(0.3 * rng.NormFloat64())
			}
		case "variance", "gamma":
			for i := range w {
				w[i] = float32(0.5 + rng.Float64())
			}
		default:
			continue
		}
		v.MustSetValue(tensors.FromFlatDataAndDimensions(w, v.Shape().Dimensions...))
	}
	in := net.Input()
	if in.Channels != 1 && in.Channels != 3 {
		set := &data.Set{Images: make([]float32, n*in.Size()), Height: in.Height, Width: in.Width, Channels: in.Channels,
			Labels: make([]int32, n), NumClasses: 2}
		for i := range set.Images {
			set.Images[i] = rng.Float32()
		}
		return net, set
	}
	task, err := data.TaskByName("mnist")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := task.Load(data.SplitOptions{Seed: 2, MaxTrain: 20, ValPerClass: 1, MaxTest: 5})
	if err != nil {
		t.Fatal(err)
	}
	set, err := data.Resample(sp.Train.Subset(seq(n)), data.Geometry{Height: in.Height, Width: in.Width, Channels: in.Channels})
	if err != nil {
		t.Fatal(err)
	}
	if in.Channels == 3 {
		tint := []float32{1, 0.7, 0.4}
		for i := range set.Images {
			set.Images[i] *= tint[i%3]
		}
	}
	return net, set
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// unitLayout is where a unit's parameters are in the flat parameter vector,
// derived from the layer graph (independently of kfac's own bookkeeping).
type unitLayout struct {
	layer       *layers.Layer
	in          int   // rows of the Kronecker block (0: none)
	t           int   // output positions per image
	kron        []int // flat index of each entry of the block [in, out], row-major
	gamma, beta int   // offsets of the batch norm's gamma and beta (-1: none)
}

// layoutOf returns the layout of u: a Conv2D's kernel [k, k, cin, cout] as
// [k*k*cin, cout] or a Dense layer's weights [F, out], then its biases as a
// last row; the batch norm's gamma and beta.
func layoutOf(t *testing.T, net *model.Network, u *Unit, off map[string]int) unitLayout {
	t.Helper()
	shapes, err := net.Arch.Shapes()
	if err != nil {
		t.Fatal(err)
	}
	l := unitLayout{gamma: -1, beta: -1, t: 1}
	if u.Scope != "" {
		for i := range net.Arch.Layers {
			if net.Arch.Scope(net.Arch.Layers[i].Name) == u.Scope {
				l.layer = &net.Arch.Layers[i]
			}
		}
		if l.layer == nil {
			t.Fatalf("unit %s is no layer of the graph", u.Scope)
		}
		x := shapes[l.layer.Inputs[0]]
		var main string
		var bias bool
		switch op := l.layer.Op.(type) {
		case *layers.Conv2D:
			l.in, main, bias = op.Kernel*op.Kernel*x[2], "/kernel", op.Bias
			y := shapes[l.layer.Name]
			l.t = y[0] * y[1]
		case *layers.Dense:
			l.in, main, bias = x[0], "/weights", op.Bias
		default:
			t.Fatalf("unit %s is a %s layer", u.Scope, l.layer.Op.Kind())
		}
		w, ok := off[u.Scope+main]
		if !ok {
			t.Fatalf("no parameter %s%s", u.Scope, main)
		}
		for k := range l.in * u.Out {
			l.kron = append(l.kron, w+k)
		}
		if bias {
			for c := range u.Out {
				l.kron = append(l.kron, off[u.Scope+"/biases"]+c)
			}
			l.in++
		}
		if u.In != l.in || u.HasBias != bias {
			t.Fatalf("unit %s: K-FAC block of %d rows (bias %v), the layer has %d (bias %v)", u.Scope, u.In, u.HasBias, l.in, bias)
		}
	} else if u.In != 0 || u.A != nil {
		t.Fatalf("batch norm %s alone has a Kronecker block [%d, %d]", u.BNScope, u.In, u.Out)
	}
	if u.BNScope != "" {
		var ok1, ok2 bool
		l.gamma, ok1 = off[u.BNScope+"/gamma"]
		l.beta, ok2 = off[u.BNScope+"/beta"]
		if !ok1 || !ok2 || len(u.BN) != u.Out {
			t.Fatalf("unit %s: batch norm %s without gamma and beta or with %d blocks for %d channels", u.Name(), u.BNScope, len(u.BN), u.Out)
		}
	}
	return l
}

// checkCoverage fails unless every Conv2D and Dense layer of the graph is
// the Scope of exactly one unit and every batch norm the BNScope of one.
func checkCoverage(t *testing.T, net *model.Network, f *Factors) {
	t.Helper()
	scopes, bns := map[string]int{}, map[string]int{}
	for _, u := range f.Units {
		if u.Scope != "" {
			scopes[u.Scope]++
		}
		if u.BNScope != "" {
			bns[u.BNScope]++
		}
	}
	for _, l := range net.Arch.Layers {
		scope := net.Arch.Scope(l.Name)
		switch l.Op.(type) {
		case *layers.Conv2D, *layers.Dense:
			if scopes[scope] != 1 {
				t.Errorf("layer %s (%s) is the scope of %d K-FAC units", l.Name, l.Op.Kind(), scopes[scope])
			}
		case *layers.BatchNorm:
			if bns[scope] != 1 {
				t.Errorf("batch norm %s is in %d K-FAC units", l.Name, bns[scope])
			}
		}
	}
}

// relErr accumulates max |got - want| and max |want|.
type relErr struct{ err, val float64 }

func (r *relErr) add(got, want float64) {
	r.err = math.Max(r.err, math.Abs(got-want))
	r.val = math.Max(r.val, math.Abs(want))
}

func (r relErr) rel() float64 {
	if r.val == 0 {
		return math.Inf(1)
	}
	return r.err / r.val
}

// checkExactBlock compares with the brute-force F the blocks of unit u
// (layout l) that K-FAC gets exactly, each to 1e-5 of its largest entry:
// on any number of images each batch-norm channel's 2x2 block (folded or
// alone) and the classifier's block A (x) 2I (its output gradients are the
// unit vectors); on one image (oneImage) also A (x) G of every unit whose
// output has one position (every dense layer, weights and biases, and a
// convolution with a 1x1 output), the image's gradients being a g_c^T. It
// reports whether it compared a Kronecker block; tag prefixes messages.
func checkExactBlock(t *testing.T, tag string, net *model.Network, u *Unit, l unitLayout, F *mat.Dense, oneImage bool) bool {
	t.Helper()
	if l.gamma >= 0 {
		var e relErr
		for o, blk := range u.BN {
			e.add(blk[0], F.At(l.gamma+o, l.gamma+o))
			e.add(blk[1], F.At(l.gamma+o, l.beta+o))
			e.add(blk[2], F.At(l.beta+o, l.beta+o))
		}
		t.Logf("%s %s: batch-norm 2x2 blocks, relative max error %.3g", tag, u.BNScope, e.rel())
		if !(e.rel() <= 1e-5) {
			t.Errorf("%s %s: batch-norm blocks differ from the brute-force Fisher by %.3g (max entry %.3g)", tag, u.BNScope, e.err, e.val)
		}
	}
	head := l.layer != nil && l.layer == net.Arch.Classifier()
	if l.in == 0 || !(head || oneImage && l.t == 1) {
		return false
	}
	var e relErr
	for k1, i1 := range l.kron {
		for k2, i2 := range l.kron {
			e.add(u.A.At(k1/u.Out, k2/u.Out)*u.G.At(k1%u.Out, k2%u.Out), F.At(i1, i2))
		}
	}
	t.Logf("%s %s: A (x) G [%d x %d], relative max error %.3g", tag, u.Scope, u.In, u.Out, e.rel())
	if !(e.rel() <= 1e-5) {
		t.Errorf("%s %s: A (x) G differs from the brute-force Fisher block by %.3g (max entry %.3g)", tag, u.Scope, e.err, e.val)
	}
	return true
}

// TestBlocksExactOneImage: on one image, with K-FAC-reduce and KFC
// factors, the blocks of checkExactBlock (batch norms, the classifier, and
// the A (x) G of the setup.onePosition units whose output has one position,
// "units"' c2 among them) equal the brute-force F = (2/N) J^T J; every
// Conv2D, Dense and BatchNorm layer is in exactly one unit, and there are
// setup.units units. TestEigenCorrectionMatchesTrace checks the blocks
// that are exact on several images.
func TestBlocksExactOneImage(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		net, set := s.build(t, 1)
		F, off := bruteFisher(t, net, set)
		for _, expand := range []bool{false, true} {
			tag := fmt.Sprintf("expand=%v", expand)
			f := computeFactors(t, net, set, Options{Expand: expand})
			checkCoverage(t, net, f)
			if len(f.Units) != s.units {
				t.Errorf("%s: %d units, want %d", tag, len(f.Units), s.units)
			}
			exact := 0
			for _, u := range f.Units {
				if checkExactBlock(t, tag, net, u, layoutOf(t, net, u, off), F, true) {
					exact++
				}
			}
			if exact != s.onePosition {
				t.Errorf("%s: %d units with one output position, want %d", tag, exact, s.onePosition)
			}
		}
	})
}

// TestEigenCorrectionMatchesTrace: for every unit with weights (every
// Conv2D and Dense layer), the EK-FAC eigenvalues S sum to the trace of the
// unit's brute-force Fisher block (S is that block's diagonal in the
// Kronecker eigenbasis), on several images (batches of 3, the last one
// partial) with K-FAC-reduce and KFC eigenbases; the blocks exact on any
// number of images (checkExactBlock: the batch-norm 2x2 blocks and the
// classifier's A (x) 2I) equal the brute-force ones; a batch norm alone
// has no S; and each unit's parameters are exactly one block of
// model.LayerBlocks, the blocks of ExactBlocks.
func TestEigenCorrectionMatchesTrace(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		net, set := s.build(t, 4)
		F, off := bruteFisher(t, net, set)
		blocks := map[[2]int]bool{}
		for _, b := range model.LayerBlocks(net) {
			blocks[[2]int{b.Start, b.End}] = true
		}
		for _, expand := range []bool{false, true} {
			tag := fmt.Sprintf("expand=%v", expand)
			f := computeFactors(t, net, set, Options{BatchSize: 3, Expand: expand})
			correctEigenvalues(t, f, net, set, 3)
			checkCoverage(t, net, f)
			exact := 0
			for _, u := range f.Units {
				l := layoutOf(t, net, u, off)
				if checkExactBlock(t, tag, net, u, l, F, false) {
					exact++
				}
				idx := slices.Clone(l.kron)
				for o := range u.BN {
					idx = append(idx, l.gamma+o, l.beta+o)
				}
				slices.Sort(idx)
				if idx[len(idx)-1]-idx[0] != len(idx)-1 || !blocks[[2]int{idx[0], idx[len(idx)-1] + 1}] {
					t.Errorf("unit %s: parameters are not one block of model.LayerBlocks", u.Name())
				}
				if l.in == 0 {
					if u.S != nil {
						t.Errorf("batch norm %s alone has EK-FAC eigenvalues", u.BNScope)
					}
					continue
				}
				trace := 0.0
				for _, i := range l.kron {
					trace += F.At(i, i)
				}
				sum := mat.Sum(u.S)
				rel := math.Abs(sum-trace) / trace
				t.Logf("%s %s: sum S %.6g, trace %.6g, relative error %.3g", tag, u.Scope, sum, trace, rel)
				if !(rel <= 1e-4) {
					t.Errorf("%s %s: sum of corrected eigenvalues %.6g, trace of the exact block %.6g", tag, u.Scope, sum, trace)
				}
			}
			if exact != 1 {
				t.Errorf("%s: %d exact Kronecker blocks, want the classifier's", tag, exact)
			}
		}
	})
}

// hostPatches returns the im2col patches of the images of set for the
// convolution geo that reads the network's input, by direct loops: for
// image n and output position (i, j), entry (di, dj, c) is the normalized
// input (x - mean_c) / std_c at row s*i + di - p, column s*j + dj - p, or 0
// in the padding, followed by a 1 when bias. Rows [N*T, k*k*C + bias].
func hostPatches(set *data.Set, in layers.Input, geo layers.ConvGeometry, bias bool) (patches [][]float64, t int) {
	h, w, c := in.Height, in.Width, in.Channels
	ho, wo := (h+2*geo.Padding-geo.Kernel)/geo.Stride+1, (w+2*geo.Padding-geo.Kernel)/geo.Stride+1
	for n := range set.Len() {
		img := set.Image(n)
		for i := range ho {
			for j := range wo {
				var row []float64
				for di := range geo.Kernel {
					for dj := range geo.Kernel {
						for ch := range c {
							r, q := geo.Stride*i+di-geo.Padding, geo.Stride*j+dj-geo.Padding
							if r < 0 || q < 0 || r >= h || q >= w {
								row = append(row, 0)
								continue
							}
							x := float64(img[(r*w+q)*c+ch])
							if in.Mean != nil {
								x -= in.Mean[ch]
							}
							if in.Std != nil {
								x /= in.Std[ch]
							}
							row = append(row, x)
						}
					}
				}
				if bias {
					row = append(row, 1)
				}
				patches = append(patches, row)
			}
		}
	}
	return patches, ho * wo
}

// TestFirstConvPatches: the A factor of the convolution that reads
// the input equals the second moment of its patches computed on the host
// by explicit stride, padding and window loops over the normalized images
// (with the ones column of a bias): KFC A = (1/N) sum_n sum_t a_t a_t^T,
// K-FAC-reduce A = (1/N) sum_n abar abar^T with abar = (1/T) sum_t a_t.
func TestFirstConvPatches(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		net, set := s.build(t, 3)
		var conv *layers.Conv2D
		var scope string
		for _, l := range net.Arch.Layers {
			if c, ok := l.Op.(*layers.Conv2D); ok && l.Inputs[0] == layers.InputName {
				conv, scope = c, net.Arch.Scope(l.Name)
				break
			}
		}
		if conv == nil {
			t.Fatal("no convolution reads the input")
		}
		geo := layers.ConvGeometry{Kernel: conv.Kernel, Stride: conv.Stride, Padding: conv.Padding}
		patches, T := hostPatches(set, net.Input(), geo, conv.Bias)
		in := len(patches[0])
		N := float64(set.Len())
		expandA, reduceA := mat.NewDense(in, in, nil), mat.NewDense(in, in, nil)
		for n := range set.Len() {
			mean := make([]float64, in)
			for _, a := range patches[n*T : (n+1)*T] {
				for r := range in {
					mean[r] += a[r] / float64(T)
					for q := range in {
						expandA.Set(r, q, expandA.At(r, q)+a[r]*a[q]/N)
					}
				}
			}
			for r := range in {
				for q := range in {
					reduceA.Set(r, q, reduceA.At(r, q)+mean[r]*mean[q]/N)
				}
			}
		}
		for _, expand := range []bool{false, true} {
			f := computeFactors(t, net, set, Options{BatchSize: 2, Expand: expand})
			var u *Unit
			for _, fu := range f.Units {
				if fu.Scope == scope {
					u = fu
				}
			}
			if u == nil || u.In != in {
				t.Fatalf("no unit %s with %d inputs", scope, in)
			}
			want := reduceA
			if expand {
				want = expandA
			}
			var e relErr
			for r := range in {
				for q := range in {
					e.add(u.A.At(r, q), want.At(r, q))
				}
			}
			t.Logf("expand=%v %s (%dx%d window, stride %d, padding %d, bias %v, T=%d): A vs host patches, relative max error %.3g",
				expand, scope, geo.Kernel, geo.Kernel, geo.Stride, geo.Padding, conv.Bias, T, e.rel())
			if !(e.rel() <= 1e-5) {
				t.Errorf("expand=%v %s: A differs from the host patches' second moment by %.3g (max entry %.3g)", expand, scope, e.err, e.val)
			}
		}
	})
}

// psd returns s with its negative eigenvalues set to zero (gonum's
// EigenSym): the positive semi-definite factor that the inverse uses. With
// fewer samples than inputs A is singular, and its float32 sums give
// eigenvalues of about -1e-7 ||A||; times G and 1/d they would dominate a
// round trip through the exact factors.
func psd(t *testing.T, s *mat.SymDense) *mat.SymDense {
	t.Helper()
	var e mat.EigenSym
	if !e.Factorize(s, true) {
		t.Fatal("eigendecomposition failed")
	}
	vals := e.Values(nil)
	var v mat.Dense
	e.VectorsTo(&v)
	n := len(vals)
	out := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			x := 0.0
			for k, l := range vals {
				x += v.At(i, k) * max(l, 0) * v.At(j, k)
			}
			out.SetSym(i, j, x)
		}
	}
	return out
}

// TestInverseRoundTrip: (F_kfac + d I) (F_kfac + d I)^-1 v = v, with
// F_kfac assembled block by block from the factors (A X G for a unit's
// block X [in, out], 2x2 batch-norm blocks) through the layout derived from
// the layer graph, with A and G made positive semi-definite as the inverse
// does (psd; to 1e-9 of max |v|) and, where setup.rawRoundTrip is set, as
// they are (the inverse drops their negative round-off eigenvalues); and
// (F_kfac + d I)^-1/2 applied twice is the inverse.
func TestInverseRoundTrip(t *testing.T) {
	forEachSetup(t, func(t *testing.T, s setup) {
		net, set := s.build(t, 4)
		const d = 1e-2
		f := computeFactors(t, net, set, Options{BatchSize: 4})
		inv := invert(t, f, d)
		p, off := offsets(net)
		v := randomVector(p, 1)
		x, err := inv.Apply(net, v)
		if err != nil {
			t.Fatal(err)
		}
		// back returns (F_kfac + d I) x, with fix applied to A and G.
		back := func(fix func(*mat.SymDense) *mat.SymDense) []float64 {
			out := make([]float64, p)
			for _, u := range f.Units {
				l := layoutOf(t, net, u, off)
				for o, blk := range u.BN {
					g, b := l.gamma+o, l.beta+o
					out[g] = (blk[0]+d)*x[g] + blk[1]*x[b]
					out[b] = blk[1]*x[g] + (blk[2]+d)*x[b]
				}
				if l.in == 0 {
					continue
				}
				X := mat.NewDense(u.In, u.Out, nil)
				for k, i := range l.kron {
					X.Set(k/u.Out, k%u.Out, x[i])
				}
				var ax, axg mat.Dense
				ax.Mul(fix(u.A), X)
				axg.Mul(&ax, fix(u.G))
				for k, i := range l.kron {
					out[i] = axg.At(k/u.Out, k%u.Out) + d*x[i]
				}
			}
			return out
		}
		var e, raw relErr
		for i, b := range back(func(a *mat.SymDense) *mat.SymDense { return psd(t, a) }) {
			e.add(b, v[i])
		}
		for i, b := range back(func(a *mat.SymDense) *mat.SymDense { return a }) {
			raw.add(b, v[i])
		}
		half, err := inv.ApplyPower(net, v, -0.5)
		if err == nil {
			half, err = inv.ApplyPower(net, half, -0.5)
		}
		if err != nil {
			t.Fatal(err)
		}
		var h relErr
		for i := range x {
			h.add(half[i], x[i])
		}
		t.Logf("round trip: relative max error %.3g (factors as they are: %.3g); (.)^-1/2 twice vs (.)^-1: %.3g", e.rel(), raw.rel(), h.rel())
		if !(e.rel() <= 1e-9) {
			t.Errorf("(F_kfac + dI)(F_kfac + dI)^-1 v differs from v by %.3g (max |v| %.3g)", e.err, e.val)
		}
		if s.rawRoundTrip > 0 && !(raw.rel() <= s.rawRoundTrip) {
			t.Errorf("with the factors as they are, (F_kfac + dI)(F_kfac + dI)^-1 v differs from v by %.3g (max |v| %.3g)", raw.err, raw.val)
		}
		if !(h.rel() <= 1e-6) {
			t.Errorf("ApplyPower(-1/2) twice differs from Apply by %.3g (max %.3g)", h.err, h.val)
		}
	})
}

// TestPreconditionMatchesApply: the in-graph preconditioner (used by
// training) equals the host Apply on the same random gradient, with K-FAC
// and with EK-FAC eigenvalues, for every parameter.
func TestPreconditionMatchesApply(t *testing.T) {
	be := testBackend(t)
	forEachSetup(t, func(t *testing.T, s setup) {
		net, set := s.build(t, 3)
		// Tangent variables mirror the parameters; give them random values
		// and precondition those values as if they were gradients.
		v := randomVector(net.NumParameters(), 3)
		if err := net.SetTangent(v); err != nil {
			t.Fatal(err)
		}
		tangents := model.TangentVariables(net.Ctx)
		_, off := offsets(net)
		kfacThenEKFAC(t, net, set, Options{BatchSize: 3}, func(ek bool, f *Factors) {
			inv := invert(t, f, 1e-2)
			exec := context.MustNewExec(be, net.Ctx, func(ctx *context.Context, x *Node) []*Node {
				grads := make([]*Node, len(tangents))
				for i, tv := range tangents {
					grads[i] = tv.ValueGraph(x.Graph())
				}
				return inv.Precondition(ctx, tangents, grads)
			})
			outs := exec.MustExec(tensors.FromScalar(float32(0)))
			want, err := inv.Apply(net, v)
			if err != nil {
				t.Fatal(err)
			}
			var e relErr
			seen := 0
			for i, tv := range tangents {
				o := paramOffset(t, off, tv)
				for k, x := range tensors.MustCopyFlatData[float32](outs[i]) {
					e.add(float64(x), want[o+k])
					seen++
				}
			}
			t.Logf("ekfac=%v: in-graph Precondition vs host Apply: relative max error %.3g", ek, e.rel())
			if seen != len(v) || !(e.rel() <= 1e-4) {
				t.Errorf("ekfac=%v: in-graph preconditioning differs from Apply by %.3g (max %.3g), %d of %d values", ek, e.err, e.val, seen, len(v))
			}
		})
	})
}

// TestInnerProductsMatchApply: the projected per-sample gradients
// (ProjectGradients: eigenbasis gradients and batch-norm gradients in the
// layout of Gradients, in batches of 3, the last one partial) give
// g_a^T (F_kfac + d I)^-1 g_b as computed from the brute-force Jacobian
// rows and Apply, with KFC factors without and with the EK-FAC correction;
// dot products of whitened rows (Whiten) equal InnerProducts (to 1e-5: the
// same host arithmetic, not a brute force) and the brute force; Whiten
// rejects a partial row; and streaming the gradients in batches of 2
// (EachGradientBatch, checked without the correction) gives the rows of
// ProjectGradients.
func TestInnerProductsMatchApply(t *testing.T) {
	be := testBackend(t)
	forEachSetup(t, func(t *testing.T, s setup) {
		net, set := s.build(t, 4)
		J, p, err := net.JacobianRows(be, set, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows := len(J) / p
		kfacThenEKFAC(t, net, set, Options{BatchSize: 3, Expand: true}, func(ek bool, f *Factors) {
			tag := fmt.Sprintf("ekfac=%v", ek)
			inv := invert(t, f, 1e-2)
			g, err := inv.ProjectGradients(be, net, set, Options{BatchSize: 3})
			if err != nil {
				t.Fatal(err)
			}
			if g.Rows != rows || g.Width != p {
				t.Fatalf("%s: gradients [%d, %d], want [%d, %d]", tag, g.Rows, g.Width, rows, p)
			}
			ip, err := inv.InnerProducts(g, g)
			if err != nil {
				t.Fatal(err)
			}
			w := append([]float32(nil), g.Data...)
			if err := inv.Whiten(w); err != nil {
				t.Fatal(err)
			}
			if err := inv.Whiten(w[:g.Width+1]); err == nil {
				t.Errorf("%s: Whiten accepted a partial row", tag)
			}
			var e, ew, wip relErr
			for b := range rows {
				col := make([]float64, p)
				for k := range p {
					col[k] = float64(J[b*p+k])
				}
				x, err := inv.Apply(net, col)
				if err != nil {
					t.Fatal(err)
				}
				for a := range rows {
					want, dot := 0.0, 0.0
					for k := range p {
						want += float64(J[a*p+k]) * x[k]
						dot += float64(w[a*p+k]) * float64(w[b*p+k])
					}
					e.add(ip.At(a, b), want)
					ew.add(dot, want)
					wip.add(dot, ip.At(a, b))
				}
			}
			t.Logf("%s: inner products vs brute force: relative max error %.3g; whitened: %.3g; whitened vs InnerProducts: %.3g", tag, e.rel(), ew.rel(), wip.rel())
			if !(e.rel() <= 1e-4) || !(ew.rel() <= 1e-4) {
				t.Errorf("%s: inner products differ from the brute force by %.3g, whitened by %.3g (max %.3g)", tag, e.err, ew.err, e.val)
			}
			if !(wip.rel() <= 1e-5) {
				t.Errorf("%s: whitened dot products differ from InnerProducts by %.3g (max %.3g)", tag, wip.err, wip.val)
			}
			if ek {
				return // streaming is checked once
			}
			var streamed []float32
			width := net.NumClasses() * g.Width
			err = inv.EachGradientBatch(be, net, set, Options{BatchSize: 2}, func(start, n int, rows []float32) error {
				if start*width != len(streamed) || len(rows) != n*width {
					t.Errorf("batch at %d of %d images has %d values", start, n, len(rows))
				}
				streamed = append(streamed, rows...)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(streamed) != len(g.Data) {
				t.Fatalf("%d streamed gradient values, ProjectGradients %d", len(streamed), len(g.Data))
			}
			for k := range g.Data {
				if d := math.Abs(float64(streamed[k] - g.Data[k])); d > 1e-5*(1+math.Abs(float64(g.Data[k]))) {
					t.Fatalf("streamed gradient value %d is %g, ProjectGradients %g", k, streamed[k], g.Data[k])
				}
			}
		})
	})
}

// TestGraphUnsupportedUnit: a unit K-FAC cannot take is one error naming
// it, not a crash.
func TestGraphUnsupportedUnit(t *testing.T) {
	var units []unitNodes
	err := model.TryCatch(func() { probe(&units)(layers.Unit{Scope: "/backbone/odd"}) })
	if err == nil || !strings.Contains(err.Error(), "/backbone/odd") {
		t.Errorf("error %v, want one naming /backbone/odd", err)
	}
}

package onnx

// A tiny ONNX writer (protowire) and a float64 reference interpreter of
// the models it writes: the interpreter reads the specs' own NCHW weights
// with plain loops, so that it depends neither on Read nor on Convert.

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// tspec is a TensorProto to write: float values f or int64 values i, as
// raw_data (raw) or float_data / int64_data (packed unless unpacked).
type tspec struct {
	name     string
	dims     []int64
	f        []float32
	i        []int64
	raw      bool
	unpacked bool
	dtype    int    // 0: FLOAT if f != nil, else INT64
	rawBytes []byte // written as raw_data as is
	external bool
}

type aspec struct {
	name string
	typ  int
	i    int64
	f    float32
	ints []int64
	s    string
	t    *tspec
}

type nspec struct {
	name, op string
	in, out  []string
	attrs    []aspec
	domain   string
}

type mspec struct {
	opset  int
	input  string
	inDims []int64 // 0: symbolic
	output string
	inits  []tspec
	nodes  []nspec
	meta   [][2]string
}

func ai(name string, v int64) aspec       { return aspec{name: name, typ: AttrInt, i: v} }
func af(name string, v float32) aspec     { return aspec{name: name, typ: AttrFloat, f: v} }
func aints(name string, v ...int64) aspec { return aspec{name: name, typ: AttrInts, ints: v} }
func astr(name, v string) aspec           { return aspec{name: name, typ: AttrString, s: v} }
func aten(name string, t tspec) aspec     { return aspec{name: name, typ: AttrTensor, t: &t} }
func ints64(v ...int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}
func node(name, op string, in, out []string, attrs ...aspec) nspec {
	return nspec{name: name, op: op, in: in, out: out, attrs: attrs}
}
func strs(s ...string) []string { return s }

func putBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func putString(b []byte, num protowire.Number, s string) []byte { return putBytes(b, num, []byte(s)) }

func putVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func (t tspec) bytes() []byte {
	var b []byte
	var packed []byte
	for _, d := range t.dims {
		packed = protowire.AppendVarint(packed, uint64(d))
	}
	if len(t.dims) > 0 {
		b = putBytes(b, fTensorDims, packed)
	}
	dtype := t.dtype
	if dtype == 0 {
		dtype = typeFloat
		if t.f == nil {
			dtype = typeInt64
		}
	}
	b = putVarint(b, fTensorDataType, uint64(dtype))
	switch {
	case t.rawBytes != nil:
		b = putBytes(b, fTensorRawData, t.rawBytes)
	case t.raw && t.f != nil:
		var raw []byte
		for _, x := range t.f {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
		}
		b = putBytes(b, fTensorRawData, raw)
	case t.raw && t.i != nil:
		var raw []byte
		for _, x := range t.i {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(x))
		}
		b = putBytes(b, fTensorRawData, raw)
	case t.f != nil && t.unpacked:
		for _, x := range t.f {
			b = protowire.AppendTag(b, fTensorFloatData, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(x))
		}
	case t.f != nil:
		var p []byte
		for _, x := range t.f {
			p = protowire.AppendFixed32(p, math.Float32bits(x))
		}
		b = putBytes(b, fTensorFloatData, p)
	case t.i != nil && t.unpacked:
		for _, x := range t.i {
			b = putVarint(b, fTensorInt64Data, uint64(x))
		}
	case t.i != nil:
		var p []byte
		for _, x := range t.i {
			p = protowire.AppendVarint(p, uint64(x))
		}
		b = putBytes(b, fTensorInt64Data, p)
	}
	b = putString(b, fTensorName, t.name)
	if t.external {
		var e []byte
		e = putString(e, fEntryKey, "location")
		e = putString(e, fEntryValue, "weights.bin")
		b = putBytes(b, fTensorExternalData, e)
		b = putVarint(b, fTensorDataLocation, 1)
	}
	return b
}

func (a aspec) bytes() []byte {
	var b []byte
	b = putString(b, fAttrName, a.name)
	switch a.typ {
	case AttrInt:
		b = putVarint(b, fAttrI, uint64(a.i))
	case AttrFloat:
		b = protowire.AppendTag(b, fAttrF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case AttrInts:
		var p []byte
		for _, x := range a.ints {
			p = protowire.AppendVarint(p, uint64(x))
		}
		b = putBytes(b, fAttrInts, p)
	case AttrString:
		b = putString(b, fAttrS, a.s)
	case AttrTensor:
		b = putBytes(b, fAttrT, a.t.bytes())
	}
	return putVarint(b, fAttrType, uint64(a.typ))
}

func (n nspec) bytes() []byte {
	var b []byte
	for _, x := range n.in {
		b = putString(b, fNodeInput, x)
	}
	for _, x := range n.out {
		b = putString(b, fNodeOutput, x)
	}
	b = putString(b, fNodeName, n.name)
	b = putString(b, fNodeOpType, n.op)
	for _, a := range n.attrs {
		b = putBytes(b, fNodeAttribute, a.bytes())
	}
	if n.domain != "" {
		b = putString(b, fNodeDomain, n.domain)
	}
	return b
}

func valueInfoBytes(name string, dims []int64) []byte {
	var shape []byte
	for k, d := range dims {
		var dim []byte
		if d > 0 {
			dim = putVarint(dim, fDimValue, uint64(d))
		} else {
			dim = putString(dim, fDimParam, fmt.Sprintf("d%d", k))
		}
		shape = putBytes(shape, fShapeDim, dim)
	}
	var tt []byte
	tt = putVarint(tt, fTensorTypeElem, typeFloat)
	tt = putBytes(tt, fTensorTypeShape, shape)
	var typ []byte
	typ = putBytes(typ, fTypeTensor, tt)
	var b []byte
	b = putString(b, fValueName, name)
	return putBytes(b, fValueType, typ)
}

// bytes serializes the model with ModelProto's fields in field-number
// order, as protobuf's serializers do: ir_version, graph, opset_import,
// metadata_props.
func (m mspec) bytes() []byte {
	var g []byte
	for _, n := range m.nodes {
		g = putBytes(g, fGraphNode, n.bytes())
	}
	g = putString(g, fGraphName, "test")
	for _, t := range m.inits {
		g = putBytes(g, fGraphInitializer, t.bytes())
	}
	g = putBytes(g, fGraphInput, valueInfoBytes(m.input, m.inDims))
	g = putBytes(g, fGraphOutput, valueInfoBytes(m.output, nil))
	var b []byte
	b = putVarint(b, fModelIRVersion, 8)
	b = putBytes(b, fModelGraph, g)
	var op []byte
	op = putString(op, fOpsetDomain, "")
	op = putVarint(op, fOpsetVersion, uint64(m.opset))
	b = putBytes(b, fModelOpset, op)
	for _, kv := range m.meta {
		var e []byte
		e = putString(e, fEntryKey, kv[0])
		e = putString(e, fEntryValue, kv[1])
		b = putBytes(b, fModelMetadata, e)
	}
	return b
}

// randTensor is a FLOAT initializer of normal values times scale (plus
// shift).
func randTensor(rng *rand.Rand, name string, scale, shift float64, dims ...int) tspec {
	n := 1
	for _, d := range dims {
		n *= d
	}
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(shift + scale*rng.NormFloat64())
	}
	return tspec{name: name, dims: ints64(dims...), f: f}
}

// positive is a FLOAT initializer of values in [lo, lo+1).
func positive(rng *rand.Rand, name string, lo float64, n int) tspec {
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(lo + rng.Float64())
	}
	return tspec{name: name, dims: ints64(n), f: f}
}

// rt is a reference tensor: dims with the batch first, row-major values.
type rt struct {
	dims []int
	d    []float64
}

func (t *rt) size() int {
	n := 1
	for _, d := range t.dims {
		n *= d
	}
	return n
}

// reference evaluates m on x [N, C, H, W] in float64 and returns every
// tensor by name.
func reference(m mspec, x *rt) map[string]*rt {
	vals := map[string]*rt{m.input: x}
	for _, t := range m.inits {
		vals[t.name] = specTensor(t)
	}
	attr := func(n nspec, name string) *aspec {
		for k := range n.attrs {
			if n.attrs[k].name == name {
				return &n.attrs[k]
			}
		}
		return nil
	}
	intA := func(n nspec, name string, def int64) int64 {
		if a := attr(n, name); a != nil {
			return a.i
		}
		return def
	}
	floatA := func(n nspec, name string, def float32) float64 {
		if a := attr(n, name); a != nil {
			return float64(a.f)
		}
		return float64(def)
	}
	window := func(n nspec) (k, s, p int) {
		k, s, p = 0, 1, 0
		if a := attr(n, "kernel_shape"); a != nil {
			k = int(a.ints[0])
		}
		if a := attr(n, "strides"); a != nil {
			s = int(a.ints[0])
		}
		if a := attr(n, "pads"); a != nil {
			p = int(a.ints[0])
		}
		return
	}
	for _, n := range m.nodes {
		in := func(j int) *rt { return vals[n.in[j]] }
		var y *rt
		switch n.op {
		case "Conv":
			x, w := in(0), in(1)
			_, s, p := window(n)
			N, C, H, W := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
			O, k := w.dims[0], w.dims[2]
			if a := attr(n, "auto_pad"); a != nil && strings.HasPrefix(a.s, "SAME") {
				p = (k - 1) / 2 // stride 1, odd k: symmetric
			}
			ho, wo := (H+2*p-k)/s+1, (W+2*p-k)/s+1
			y = &rt{dims: []int{N, O, ho, wo}, d: make([]float64, N*O*ho*wo)}
			for b := range N {
				for o := range O {
					for i := range ho {
						for j := range wo {
							sum := 0.0
							if len(n.in) > 2 {
								sum = in(2).d[o]
							}
							for c := range C {
								for r := range k {
									for q := range k {
										hi, wi := i*s-p+r, j*s-p+q
										if hi < 0 || hi >= H || wi < 0 || wi >= W {
											continue
										}
										sum += x.d[((b*C+c)*H+hi)*W+wi] * w.d[((o*C+c)*k+r)*k+q]
									}
								}
							}
							y.d[((b*O+o)*ho+i)*wo+j] = sum
						}
					}
				}
			}
		case "BatchNormalization":
			x := in(0)
			eps := floatA(n, "epsilon", 1e-5)
			C := x.dims[1]
			inner := x.size() / (x.dims[0] * C)
			y = &rt{dims: x.dims, d: make([]float64, len(x.d))}
			for idx := range x.d {
				c := (idx / inner) % C
				y.d[idx] = in(1).d[c]*(x.d[idx]-in(3).d[c])/math.Sqrt(in(4).d[c]+eps) + in(2).d[c]
			}
		case "Relu", "LeakyRelu", "Clip":
			x := in(0)
			slope := 0.0
			if n.op == "LeakyRelu" {
				slope = floatA(n, "alpha", 0.01)
			}
			y = &rt{dims: x.dims, d: make([]float64, len(x.d))}
			for idx, v := range x.d {
				if v > 0 {
					y.d[idx] = v
				} else {
					y.d[idx] = slope * v
				}
			}
		case "MaxPool", "AveragePool":
			x := in(0)
			k, s, p := window(n)
			countPad := intA(n, "count_include_pad", 0) != 0
			N, C, H, W := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
			ho, wo := (H+2*p-k)/s+1, (W+2*p-k)/s+1
			y = &rt{dims: []int{N, C, ho, wo}, d: make([]float64, N*C*ho*wo)}
			for b := range N {
				for c := range C {
					for i := range ho {
						for j := range wo {
							best, sum, cnt := math.Inf(-1), 0.0, 0
							for r := range k {
								for q := range k {
									hi, wi := i*s-p+r, j*s-p+q
									if hi < 0 || hi >= H || wi < 0 || wi >= W {
										continue
									}
									v := x.d[((b*C+c)*H+hi)*W+wi]
									best, sum, cnt = math.Max(best, v), sum+v, cnt+1
								}
							}
							out := best
							if n.op == "AveragePool" {
								if countPad {
									cnt = k * k
								}
								out = sum / float64(cnt)
							}
							y.d[((b*C+c)*ho+i)*wo+j] = out
						}
					}
				}
			}
		case "GlobalAveragePool":
			x := in(0)
			N, C, hw := x.dims[0], x.dims[1], x.dims[2]*x.dims[3]
			y = &rt{dims: []int{N, C, 1, 1}, d: make([]float64, N*C)}
			for b := range N * C {
				for q := range hw {
					y.d[b] += x.d[b*hw+q] / float64(hw)
				}
			}
		case "Add":
			a, c := in(0), in(1)
			y = &rt{dims: a.dims, d: make([]float64, len(a.d))}
			for idx := range a.d {
				y.d[idx] = a.d[idx] + c.d[idx%len(c.d)] // c: same shape or a bias row
			}
			if len(c.d) > len(a.d) {
				panic("reference Add: broadcast of the first operand")
			}
		case "Gemm", "MatMul":
			a, w := in(0), in(1)
			trans := intA(n, "transB", 0) != 0
			N, F := a.dims[0], a.dims[1]
			U := w.dims[1]
			if trans {
				U = w.dims[0]
			}
			y = &rt{dims: []int{N, U}, d: make([]float64, N*U)}
			for b := range N {
				for u := range U {
					sum := 0.0
					if len(n.in) > 2 {
						sum = in(2).d[u]
					}
					for f := range F {
						wv := w.d[f*U+u]
						if trans {
							wv = w.d[u*F+f]
						}
						sum += a.d[b*F+f] * wv
					}
					y.d[b*U+u] = sum
				}
			}
		case "Flatten", "Reshape":
			x := in(0)
			y = &rt{dims: []int{x.dims[0], x.size() / x.dims[0]}, d: x.d}
		case "Identity", "Dropout":
			y = in(0)
		case "Constant":
			y = specTensor(*n.attrs[0].t)
		case "Softmax":
			x := in(0)
			y = &rt{dims: x.dims, d: make([]float64, len(x.d))}
			U := x.dims[1]
			for b := range x.dims[0] {
				sum := 0.0
				for u := range U {
					y.d[b*U+u] = math.Exp(x.d[b*U+u])
					sum += y.d[b*U+u]
				}
				for u := range U {
					y.d[b*U+u] /= sum
				}
			}
		default:
			panic("reference: no op " + n.op)
		}
		vals[n.out[0]] = y
	}
	return vals
}

func specTensor(t tspec) *rt {
	r := &rt{}
	for _, d := range t.dims {
		r.dims = append(r.dims, int(d))
	}
	for _, v := range t.f {
		r.d = append(r.d, float64(v))
	}
	for _, v := range t.i {
		r.d = append(r.d, float64(v))
	}
	return r
}

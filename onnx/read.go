package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
)

// MaxFileSize is the largest ONNX file Read accepts (2 GiB, protobuf's own
// limit on one message).
const MaxFileSize = 2 << 30

// Tensor is an ONNX tensor in ONNX layout: row-major, Dims as in the file
// (Conv weights [O, I, kh, kw], Gemm B [Units, F] or [F, Units]). Data
// holds a FLOAT tensor's values, Ints an INT64 tensor's; len is the
// product of Dims (1 for a scalar).
type Tensor struct {
	Name string
	Dims []int
	Data []float32
	Ints []int64
}

// Size is the number of values, the product of Dims.
func (t *Tensor) Size() int {
	n := 1
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Attribute types of AttributeProto.type.
const (
	AttrFloat   = 1
	AttrInt     = 2
	AttrString  = 3
	AttrTensor  = 4
	AttrGraph   = 5
	AttrFloats  = 6
	AttrInts    = 7
	AttrStrings = 8
)

// Attr is a node attribute; Type (AttrFloat, AttrInt, ...) says which
// field holds its value. Attributes of other types (graphs, string
// lists, sparse tensors) are kept with their Type and no value.
type Attr struct {
	Type   int
	Int    int64
	Float  float32
	Ints   []int64
	Floats []float32
	String string
	Tensor *Tensor
}

// Node is an ONNX node: op_type, its input and output tensor names (an
// empty input name is an absent optional input) and attributes. Domain is
// "" for the default ai.onnx operator set.
type Node struct {
	Name, OpType, Domain string
	Inputs, Outputs      []string
	Attrs                map[string]Attr
}

// Model is the part of an ONNX model that lqf reads.
type Model struct {
	// IRVersion is the ONNX IR version, Opset the version of the default
	// (ai.onnx) operator set.
	IRVersion, Opset int
	// Nodes in the file's order, which ONNX requires to be topological.
	Nodes        []Node
	Initializers map[string]*Tensor
	// Input is the graph input that is not an initializer, InputDims its
	// dims (NCHW for images); a symbolic or absent dimension is 0 and its
	// name is in InputDimParams.
	Input          string
	InputDims      []int
	InputDimParams []string
	// InputType is the input's element type (1: FLOAT).
	InputType int
	// Output is the first graph output.
	Output   string
	Metadata map[string]string
}

// TensorProto.DataType values.
const (
	typeFloat = 1
	typeInt64 = 7
)

var dataTypeNames = map[int64]string{
	0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
	8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64",
	15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2",
	20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1",
}

func dataTypeName(t int64) string {
	if s, ok := dataTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("data type %d", t)
}

// errFormat marks errors that say the bytes are not a well-formed ONNX
// model (truncated, not protobuf, missing the graph).
type errFormat struct{ err error }

func (e errFormat) Error() string { return e.err.Error() }
func (e errFormat) Unwrap() error { return e.err }

func formatErr(format string, args ...any) error { return errFormat{fmt.Errorf(format, args...)} }

// Read reads an ONNX model (a serialized ModelProto) of at most
// MaxFileSize bytes. A truncated or non-ONNX input is one error
// "onnx: not an ONNX model: ..."; a tensor whose claimed size does not
// match the bytes it holds, external data or an unsupported data type is
// an error naming the tensor. Nothing is allocated from a size the file
// claims before it is checked against the bytes present. Protobuf has no
// end marker: a file cut between two of ModelProto's fields after the
// graph and the opset (between two metadata entries) reads as a model
// without the rest.
func Read(r io.Reader) (*Model, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("onnx: the model is larger than %d bytes (2 GiB)", MaxFileSize)
	}
	m, err := decodeModel(b)
	if err != nil {
		var fe errFormat
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("onnx: not an ONNX model: %w", err)
		}
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return m, nil
}

// ReadFile is Read on the file at path; errors name the file
// ("onnx: PATH is not an ONNX model: ...").
func ReadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxFileSize {
		return nil, fmt.Errorf("onnx: %s is larger than %d bytes (2 GiB)", path, MaxFileSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("onnx: %s is larger than %d bytes (2 GiB)", path, MaxFileSize)
	}
	m, err := decodeModel(b)
	if err != nil {
		var fe errFormat
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("onnx: %s is not an ONNX model: %w", path, err)
		}
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	return m, nil
}

// Field numbers of the ONNX schema, onnx/onnx onnx/onnx.proto (checked
// against the file at commit 004aa57f442055b51af980769883b544ac4f87f2; they
// have not changed since IR version 3).
const (
	// ModelProto
	fModelIRVersion = 1
	fModelOpset     = 8
	fModelGraph     = 7
	fModelMetadata  = 14
	// OperatorSetIdProto
	fOpsetDomain  = 1
	fOpsetVersion = 2
	// StringStringEntryProto
	fEntryKey   = 1
	fEntryValue = 2
	// GraphProto
	fGraphNode        = 1
	fGraphName        = 2
	fGraphInitializer = 5
	fGraphInput       = 11
	fGraphOutput      = 12
	fGraphValueInfo   = 13 // not needed: skipped
	// NodeProto
	fNodeInput     = 1
	fNodeOutput    = 2
	fNodeName      = 3
	fNodeOpType    = 4
	fNodeAttribute = 5
	fNodeDomain    = 7
	// AttributeProto
	fAttrName   = 1
	fAttrF      = 2
	fAttrI      = 3
	fAttrS      = 4
	fAttrT      = 5
	fAttrG      = 6
	fAttrFloats = 7
	fAttrInts   = 8
	fAttrType   = 20
	// TensorProto
	fTensorDims         = 1
	fTensorDataType     = 2
	fTensorFloatData    = 4
	fTensorInt64Data    = 7
	fTensorName         = 8
	fTensorRawData      = 9
	fTensorExternalData = 13
	fTensorDataLocation = 14
	// ValueInfoProto
	fValueName = 1
	fValueType = 2
	// TypeProto
	fTypeTensor = 1
	// TypeProto.Tensor
	fTensorTypeElem  = 1
	fTensorTypeShape = 2
	// TensorShapeProto
	fShapeDim = 1
	// TensorShapeProto.Dimension
	fDimValue = 1
	fDimParam = 2
)

// field is one decoded field: its number and wire type, and the value
// (x for varint and fixed fields, v for length-delimited ones).
type field struct {
	num protowire.Number
	typ protowire.Type
	x   uint64
	v   []byte
}

// eachField calls fn on every field of message b, in order. Groups are
// skipped. A malformed or truncated message is an errFormat naming msg.
func eachField(b []byte, msg string, fn func(f field) error) error {
	for off := 0; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return formatErr("%s: bad field tag at byte %d: %v", msg, off, protowire.ParseError(n))
		}
		b, off = b[n:], off+n
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(b)
			f.x = uint64(x)
		case protowire.Fixed64Type:
			f.x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return formatErr("%s: field %d at byte %d: %v", msg, num, off, protowire.ParseError(n))
		}
		b, off = b[n:], off+n
		if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// wantType checks a known field's wire type.
func wantType(f field, typ protowire.Type, msg, name string) error {
	if f.typ != typ {
		return formatErr("%s.%s (field %d) has wire type %d, want %d", msg, name, f.num, f.typ, typ)
	}
	return nil
}

// appendInts appends a repeated int64 field, packed or not.
func appendInts(dst []int64, f field, msg, name string) ([]int64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(dst, int64(f.x)), nil
	case protowire.BytesType:
		for b := f.v; len(b) > 0; {
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, formatErr("%s.%s: packed varints: %v", msg, name, protowire.ParseError(n))
			}
			dst = append(dst, int64(x))
			b = b[n:]
		}
		return dst, nil
	}
	return nil, formatErr("%s.%s (field %d) has wire type %d, want a varint or packed varints", msg, name, f.num, f.typ)
}

// appendFloats appends a repeated float field, packed or not.
func appendFloats(dst []float32, f field, msg, name string) ([]float32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.x))), nil
	case protowire.BytesType:
		if len(f.v)%4 != 0 {
			return nil, formatErr("%s.%s: %d bytes of packed floats, not a multiple of 4", msg, name, len(f.v))
		}
		dst = slicesGrow(dst, len(f.v)/4)
		for i := 0; i < len(f.v); i += 4 {
			dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(f.v[i:])))
		}
		return dst, nil
	}
	return nil, formatErr("%s.%s (field %d) has wire type %d, want a fixed32 or packed fixed32", msg, name, f.num, f.typ)
}

// slicesGrow grows s's capacity by n (n is bounded by bytes present).
func slicesGrow(s []float32, n int) []float32 {
	if cap(s)-len(s) >= n {
		return s
	}
	t := make([]float32, len(s), len(s)+n)
	copy(t, s)
	return t
}

func decodeModel(b []byte) (*Model, error) {
	if len(b) == 0 {
		return nil, formatErr("the file is empty")
	}
	m := &Model{Initializers: map[string]*Tensor{}, Metadata: map[string]string{}}
	var graph []byte
	hasIR, hasGraph, hasOpset := false, false, false
	const msg = "ModelProto"
	err := eachField(b, msg, func(f field) error {
		switch f.num {
		case fModelIRVersion:
			if err := wantType(f, protowire.VarintType, msg, "ir_version"); err != nil {
				return err
			}
			m.IRVersion, hasIR = int(int64(f.x)), true
		case fModelOpset:
			if err := wantType(f, protowire.BytesType, msg, "opset_import"); err != nil {
				return err
			}
			domain, version, err := decodeOpset(f.v)
			if err != nil {
				return err
			}
			if domain == "" || domain == "ai.onnx" {
				if version < 1 || version > math.MaxInt32 {
					return formatErr("opset_import of the default domain has version %d", version)
				}
				m.Opset, hasOpset = int(version), true
			}
		case fModelGraph:
			if err := wantType(f, protowire.BytesType, msg, "graph"); err != nil {
				return err
			}
			if hasGraph {
				return formatErr("ModelProto has two graphs")
			}
			graph, hasGraph = f.v, true
		case fModelMetadata:
			if err := wantType(f, protowire.BytesType, msg, "metadata_props"); err != nil {
				return err
			}
			k, v, err := decodeEntry(f.v, "metadata_props")
			if err != nil {
				return err
			}
			m.Metadata[k] = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case !hasIR || m.IRVersion < 1:
		return nil, formatErr("no ir_version")
	case !hasGraph:
		return nil, formatErr("no graph")
	case !hasOpset:
		return nil, formatErr("no opset_import of the default (ai.onnx) domain")
	}
	if err := decodeGraph(m, graph); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeOpset(b []byte) (domain string, version int64, err error) {
	const msg = "OperatorSetIdProto"
	err = eachField(b, msg, func(f field) error {
		switch f.num {
		case fOpsetDomain:
			if err := wantType(f, protowire.BytesType, msg, "domain"); err != nil {
				return err
			}
			domain = string(f.v)
		case fOpsetVersion:
			if err := wantType(f, protowire.VarintType, msg, "version"); err != nil {
				return err
			}
			version = int64(f.x)
		}
		return nil
	})
	return domain, version, err
}

func decodeEntry(b []byte, what string) (key, value string, err error) {
	msg := "StringStringEntryProto (" + what + ")"
	err = eachField(b, msg, func(f field) error {
		switch f.num {
		case fEntryKey, fEntryValue:
			if err := wantType(f, protowire.BytesType, msg, "key/value"); err != nil {
				return err
			}
			if f.num == fEntryKey {
				key = string(f.v)
			} else {
				value = string(f.v)
			}
		}
		return nil
	})
	return key, value, err
}

// valueInfo is a decoded ValueInfoProto.
type valueInfo struct {
	name   string
	elem   int
	dims   []int
	params []string
}

func decodeGraph(m *Model, b []byte) error {
	const msg = "GraphProto"
	var inputs []valueInfo
	err := eachField(b, msg, func(f field) error {
		switch f.num {
		case fGraphNode:
			if err := wantType(f, protowire.BytesType, msg, "node"); err != nil {
				return err
			}
			nd, err := decodeNode(f.v, len(m.Nodes))
			if err != nil {
				return err
			}
			m.Nodes = append(m.Nodes, nd)
		case fGraphInitializer:
			if err := wantType(f, protowire.BytesType, msg, "initializer"); err != nil {
				return err
			}
			t, err := decodeTensor(f.v, "initializer")
			if err != nil {
				return err
			}
			if t.Name == "" {
				return fmt.Errorf("initializer %d has no name", len(m.Initializers))
			}
			if _, dup := m.Initializers[t.Name]; dup {
				return fmt.Errorf("initializer %q appears twice", t.Name)
			}
			m.Initializers[t.Name] = t
		case fGraphInput, fGraphOutput:
			if err := wantType(f, protowire.BytesType, msg, "input/output"); err != nil {
				return err
			}
			vi, err := decodeValueInfo(f.v)
			if err != nil {
				return err
			}
			if f.num == fGraphInput {
				inputs = append(inputs, vi)
			} else if m.Output == "" {
				m.Output = vi.name
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Before IR version 4 initializers are also listed as inputs.
	var data []valueInfo
	for _, in := range inputs {
		if _, ok := m.Initializers[in.name]; !ok {
			data = append(data, in)
		}
	}
	switch len(data) {
	case 0:
		return formatErr("the graph has no input that is not an initializer")
	case 1:
	default:
		names := make([]string, len(data))
		for i, d := range data {
			names[i] = d.name
		}
		return fmt.Errorf("the graph has %d inputs %q; lqf takes one image input", len(data), names)
	}
	m.Input, m.InputDims, m.InputDimParams, m.InputType = data[0].name, data[0].dims, data[0].params, data[0].elem
	return nil
}

func decodeValueInfo(b []byte) (valueInfo, error) {
	var vi valueInfo
	const msg = "ValueInfoProto"
	err := eachField(b, msg, func(f field) error {
		switch f.num {
		case fValueName:
			if err := wantType(f, protowire.BytesType, msg, "name"); err != nil {
				return err
			}
			vi.name = string(f.v)
		case fValueType:
			if err := wantType(f, protowire.BytesType, msg, "type"); err != nil {
				return err
			}
			return eachField(f.v, "TypeProto", func(f field) error {
				if f.num != fTypeTensor {
					return nil
				}
				if err := wantType(f, protowire.BytesType, "TypeProto", "tensor_type"); err != nil {
					return err
				}
				return decodeTensorType(f.v, &vi)
			})
		}
		return nil
	})
	return vi, err
}

func decodeTensorType(b []byte, vi *valueInfo) error {
	const msg = "TypeProto.Tensor"
	return eachField(b, msg, func(f field) error {
		switch f.num {
		case fTensorTypeElem:
			if err := wantType(f, protowire.VarintType, msg, "elem_type"); err != nil {
				return err
			}
			vi.elem = int(int32(f.x))
		case fTensorTypeShape:
			if err := wantType(f, protowire.BytesType, msg, "shape"); err != nil {
				return err
			}
			vi.dims, vi.params = vi.dims[:0], vi.params[:0]
			return eachField(f.v, "TensorShapeProto", func(f field) error {
				if f.num != fShapeDim {
					return nil
				}
				if err := wantType(f, protowire.BytesType, "TensorShapeProto", "dim"); err != nil {
					return err
				}
				value, param := int64(0), ""
				err := eachField(f.v, "TensorShapeProto.Dimension", func(f field) error {
					switch f.num {
					case fDimValue:
						if err := wantType(f, protowire.VarintType, "Dimension", "dim_value"); err != nil {
							return err
						}
						value = int64(f.x)
					case fDimParam:
						if err := wantType(f, protowire.BytesType, "Dimension", "dim_param"); err != nil {
							return err
						}
						param = string(f.v)
					}
					return nil
				})
				if err != nil {
					return err
				}
				if value < 0 || value > math.MaxInt32 {
					value = 0 // not a size lqf can use: treated as unknown
				}
				vi.dims = append(vi.dims, int(value))
				vi.params = append(vi.params, param)
				return nil
			})
		}
		return nil
	})
}

func decodeNode(b []byte, index int) (Node, error) {
	nd := Node{Attrs: map[string]Attr{}}
	const msg = "NodeProto"
	err := eachField(b, msg, func(f field) error {
		switch f.num {
		case fNodeInput, fNodeOutput, fNodeName, fNodeOpType, fNodeDomain:
			if err := wantType(f, protowire.BytesType, msg, "input/output/name/op_type/domain"); err != nil {
				return err
			}
			s := string(f.v)
			switch f.num {
			case fNodeInput:
				nd.Inputs = append(nd.Inputs, s)
			case fNodeOutput:
				nd.Outputs = append(nd.Outputs, s)
			case fNodeName:
				nd.Name = s
			case fNodeOpType:
				nd.OpType = s
			case fNodeDomain:
				nd.Domain = s
			}
		case fNodeAttribute:
			if err := wantType(f, protowire.BytesType, msg, "attribute"); err != nil {
				return err
			}
			name, a, err := decodeAttr(f.v)
			if err != nil {
				return fmt.Errorf("node %s: %w", nodeLabel(nd.Name, index), err)
			}
			if _, dup := nd.Attrs[name]; dup {
				return fmt.Errorf("node %s has attribute %q twice", nodeLabel(nd.Name, index), name)
			}
			nd.Attrs[name] = a
		}
		return nil
	})
	if err != nil {
		return nd, err
	}
	if nd.OpType == "" {
		return nd, formatErr("node %s has no op_type", nodeLabel(nd.Name, index))
	}
	return nd, nil
}

// nodeLabel is a node's name, or "#index" for an unnamed node.
func nodeLabel(name string, index int) string {
	if name == "" {
		return fmt.Sprintf("#%d", index)
	}
	return name
}

func decodeAttr(b []byte) (string, Attr, error) {
	var a Attr
	var name string
	seen := 0 // the type implied by the value fields, for files without "type"
	const msg = "AttributeProto"
	err := eachField(b, msg, func(f field) error {
		var err error
		switch f.num {
		case fAttrName:
			if err = wantType(f, protowire.BytesType, msg, "name"); err == nil {
				name = string(f.v)
			}
		case fAttrType:
			if err = wantType(f, protowire.VarintType, msg, "type"); err == nil {
				a.Type = int(int32(f.x))
			}
		case fAttrF:
			if err = wantType(f, protowire.Fixed32Type, msg, "f"); err == nil {
				a.Float, seen = math.Float32frombits(uint32(f.x)), AttrFloat
			}
		case fAttrI:
			if err = wantType(f, protowire.VarintType, msg, "i"); err == nil {
				a.Int, seen = int64(f.x), AttrInt
			}
		case fAttrS:
			if err = wantType(f, protowire.BytesType, msg, "s"); err == nil {
				a.String, seen = string(f.v), AttrString
			}
		case fAttrT:
			if err = wantType(f, protowire.BytesType, msg, "t"); err == nil {
				a.Tensor, err = decodeTensor(f.v, "attribute "+name+" tensor")
				seen = AttrTensor
			}
		case fAttrG:
			seen = AttrGraph
		case fAttrFloats:
			a.Floats, err = appendFloats(a.Floats, f, msg, "floats")
			seen = AttrFloats
		case fAttrInts:
			a.Ints, err = appendInts(a.Ints, f, msg, "ints")
			seen = AttrInts
		}
		return err
	})
	if err != nil {
		return "", a, err
	}
	if name == "" {
		return "", a, formatErr("an attribute has no name")
	}
	if a.Type == 0 {
		a.Type = seen
	}
	return name, a, nil
}

// rawTensor is a TensorProto as decoded, before its size is checked.
type rawTensor struct {
	name     string
	dims     []int64
	dtype    int64
	floats   []float32
	ints     []int64
	raw      []byte
	hasRaw   bool
	external bool
}

// decodeTensor decodes a TensorProto and checks the size its dims claim
// against the values it holds before allocating the values.
func decodeTensor(b []byte, what string) (*Tensor, error) {
	var r rawTensor
	const msg = "TensorProto"
	err := eachField(b, msg, func(f field) error {
		var err error
		switch f.num {
		case fTensorDims:
			r.dims, err = appendInts(r.dims, f, msg, "dims")
		case fTensorDataType:
			if err = wantType(f, protowire.VarintType, msg, "data_type"); err == nil {
				r.dtype = int64(int32(f.x))
			}
		case fTensorFloatData:
			r.floats, err = appendFloats(r.floats, f, msg, "float_data")
		case fTensorInt64Data:
			r.ints, err = appendInts(r.ints, f, msg, "int64_data")
		case fTensorName:
			if err = wantType(f, protowire.BytesType, msg, "name"); err == nil {
				r.name = string(f.v)
			}
		case fTensorRawData:
			if err = wantType(f, protowire.BytesType, msg, "raw_data"); err == nil {
				r.raw, r.hasRaw = f.v, true
			}
		case fTensorExternalData:
			r.external = true
		case fTensorDataLocation:
			if err = wantType(f, protowire.VarintType, msg, "data_location"); err == nil && f.x != 0 {
				r.external = true
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.finish(what)
}

// finish checks the tensor and copies its values out of the file's bytes.
func (r *rawTensor) finish(what string) (*Tensor, error) {
	label := what
	if r.name != "" {
		label = fmt.Sprintf("%s %q", what, r.name)
	}
	if r.external {
		return nil, fmt.Errorf("%s stores its data outside the file (data_location EXTERNAL); lqf reads self-contained models: re-save it with the data inside (onnx.save_model(m, path, save_as_external_data=False))", label)
	}
	t := &Tensor{Name: r.name, Dims: make([]int, len(r.dims))}
	n := uint64(1)
	overflow := false
	for i, d := range r.dims {
		if d < 0 {
			return nil, fmt.Errorf("%s has a negative dimension %d", label, d)
		}
		t.Dims[i] = int(min(d, math.MaxInt32))
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64/8 {
			overflow = true
		}
		n = lo
	}
	var width int
	switch r.dtype {
	case typeFloat:
		width = 4
	case typeInt64:
		width = 8
	default:
		return nil, fmt.Errorf("%s has data type %s; lqf reads FLOAT weights and INT64 shapes", label, dataTypeName(r.dtype))
	}
	held := func() string {
		switch {
		case r.hasRaw:
			return fmt.Sprintf("%d bytes", len(r.raw))
		case r.dtype == typeFloat:
			return fmt.Sprintf("%d float_data values", len(r.floats))
		default:
			return fmt.Sprintf("%d int64_data values", len(r.ints))
		}
	}
	if overflow {
		return nil, fmt.Errorf("%s claims dims %v, more values than fit in memory, but holds %s", label, r.dims, held())
	}
	ok := false
	switch {
	case r.hasRaw:
		ok = uint64(len(r.raw)) == n*uint64(width) && len(r.floats) == 0 && len(r.ints) == 0
	case r.dtype == typeFloat:
		ok = uint64(len(r.floats)) == n && len(r.ints) == 0
	default:
		ok = uint64(len(r.ints)) == n && len(r.floats) == 0
	}
	if !ok {
		return nil, fmt.Errorf("%s claims %d values but holds %s", label, n, held())
	}
	switch {
	case r.dtype == typeFloat && r.hasRaw:
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.raw[4*i:]))
		}
	case r.dtype == typeFloat:
		t.Data = r.floats
		if t.Data == nil {
			t.Data = []float32{}
		}
	case r.hasRaw:
		t.Ints = make([]int64, n)
		for i := range t.Ints {
			t.Ints[i] = int64(binary.LittleEndian.Uint64(r.raw[8*i:]))
		}
	default:
		t.Ints = r.ints
		if t.Ints == nil {
			t.Ints = []int64{}
		}
	}
	return t, nil
}

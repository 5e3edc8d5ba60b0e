// Package onnx reads ONNX models and converts convolutional image
// classifiers into lqf's layer graph (package layers) with their parameter
// values, so that a network trained elsewhere can be fine-tuned by lqf.
//
// It holds none of the paper's equations: it only brings a network to
// lqf's layer graph, on which package layers then builds the linearized
// network of eq. 1, f_lin(x) = f0(x) + J(x) dw.
//
// # Reading
//
// Read decodes the protobuf wire format with
// google.golang.org/protobuf/encoding/protowire and a hand-written subset
// of the ONNX schema (onnx/onnx, onnx/onnx.proto): ModelProto, GraphProto,
// NodeProto, AttributeProto, TensorProto, ValueInfoProto and the messages
// below them; every other field is skipped. The ONNX Go modules served by
// the module proxy were compared first: github.com/owulveryck/onnx-go
// v0.5.0 (2020, gogo protobuf, unmaintained), github.com/advancedclimatesystems/gonnx
// v1.1.0 (a runtime built on onnx-go's protos) and github.com/gomlx/onnx-gomlx
// v0.3.4 (its generated protos are in an internal package; its Parse builds
// a backend and dereferences the graph of any input, so that a non-ONNX
// file panics). Decoding the few messages lqf needs with the maintained
// protobuf module's wire decoder lets Read check every size a file claims
// against the bytes it holds before allocating anything: a truncated or
// hostile file is an error, never a panic or a huge allocation.
//
// Tensors: data type FLOAT (raw_data, little-endian, or float_data) for
// weights and INT64 for shape constants; any other type, and data stored
// outside the file (data_location EXTERNAL), is an error naming the tensor.
//
// # Converting
//
// Convert maps the graph from the ONNX input to the classifier's features
// onto layers.Net, NCHW to NHWC:
//
//	Conv                 -> Conv2D: weights [O, I, k, k] -> kernel [k, k, I, O] (HWIO),
//	                        bias [O] -> biases; square kernel, equal strides, symmetric
//	                        pads (or auto_pad VALID, or SAME giving symmetric pads),
//	                        dilations 1, group 1
//	BatchNormalization   -> BatchNorm (inference form): scale -> gamma, B -> beta,
//	                        input_mean -> mean, input_var -> variance (frozen), epsilon;
//	                        momentum as is (both ONNX and lqf update r <- m r + (1 - m) batch)
//	Relu, LeakyRelu      -> Activation relu, leaky-relu (alpha -> Slope)
//	Clip                 -> Activation relu when min is 0 and max is absent or +inf
//	                        (ReLU6, a finite max, is an error)
//	MaxPool              -> MaxPool2D (square window, symmetric pads, ceil_mode 0 or
//	                        giving the same size, dilations 1)
//	AveragePool          -> AvgPool2D (count_include_pad -> CountPad)
//	GlobalAveragePool    -> GlobalAvgPool
//	Add of two tensors   -> Sum (residual connections)
//	Gemm, MatMul (+ Add) -> Dense: B [Units, F] (transB 1) or [F, Units] -> weights
//	                        [F, Units], C or the added constant -> biases; alpha = beta = 1
//	Flatten (axis 1), Reshape to [N, -1] or [-1, F] -> Flatten
//	Identity, Dropout    -> dropped (listed in Import.Skipped)
//	Constant             -> shape constants of Reshape
//
// ONNX flattens a [C, H, W] map in CHW order, lqf's Flatten in HWC order:
// the rows of a Dense layer after a Flatten of a map are permuted,
// W_lqf[(h W + w) C + c] = W_onnx[c H W + h W + w], and so is every
// per-feature parameter on the way (a batch norm on the flattened
// features). After GlobalAveragePool the features are [C] and no
// permutation is needed. Import.MapTensors applies the same transposes and
// permutations to any tensors over the initializers (a direction, a
// gradient).
//
// The last Gemm or MatMul is the classifier (layers.ScopeHead); the nodes
// after it are dropped. Options.Cut instead names the tensor whose value
// feeds a new, zero-initialized Dense classifier with as many classes as
// the last Gemm or MatMul. Opsets 9 and later are read; every attribute a
// supported op has in opsets 9 to 17 is checked, and an attribute Convert
// does not know (as one added by a later opset) is an error, never ignored.
package onnx

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lqf-go/lqf/model"
	"github.com/lqf-go/lqf/onnx"
)

func init() {
	register(command{"inspect", "show the layer graph lqf builds from an ONNX file: input, layers, parameters, cut point, multiply-accumulates, unsupported ops", runInspect})
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", "inspect [--cut TENSOR] [--json FILE] FILE.onnx", stderr)
	cut := fs.String("cut", "", "tensor (a node output) to take as the features of a new classifier (default: the input of the last Gemm/MatMul)")
	cf := addCommonFlags(fs, common{JSON: "the layer graph (lqf's form)"})
	if err := parseFlagsAndArgs(fs, args, 1); err != nil {
		return err
	}
	if err := cf.check(); err != nil {
		return err
	}
	path := fs.Arg(0)
	m, err := onnx.ReadFile(path)
	if err != nil {
		return usagef("%v", err)
	}
	if bad := onnx.Unsupported(m); len(bad) > 0 {
		return usagef("%s: unsupported ops: %s", path, strings.Join(bad, ", "))
	}
	imp, err := onnx.Convert(m, onnx.Options{Cut: *cut})
	if err != nil {
		return usagef("%s: %v", path, err)
	}
	net := imp.Net
	shapes, err := net.Shapes()
	if err != nil {
		return err
	}
	params := map[string]int{}
	total := 0
	for key, v := range imp.Params {
		if strings.HasSuffix(key, "/mean") || strings.HasSuffix(key, "/variance") {
			continue // frozen batch-norm statistics
		}
		i := strings.LastIndex(key, "/")
		params[key[:i]] += len(v)
		total += len(v)
	}
	var rows [][]string
	for _, l := range net.Layers {
		scope := net.Scope(l.Name)
		n := params[scope]
		count := ""
		if n > 0 {
			count = fmt.Sprint(n)
		}
		rows = append(rows, []string{l.Name, l.Op.Kind(), strings.Join(l.Inputs, ","), fmt.Sprint(shapes[l.Name]), count})
	}
	fmt.Fprintf(stdout, "%s: opset %d, input %s (HxWxC)", path, m.Opset, net.Input)
	if net.Input.Mean != nil || net.Input.Std != nil {
		fmt.Fprintf(stdout, ", normalization mean %v std %v", net.Input.Mean, net.Input.Std)
	}
	fmt.Fprintln(stdout)
	table(stdout, []string{"layer", "op", "inputs", "output", "parameters"}, rows)
	fwd, lin, err := net.MultiplyAccumulates()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d trainable parameters; classifier %q on %d features (%d classes); %d multiply-accumulates per image (%d linearized)\n",
		total, net.Classifier().Name, net.FeatureDim(), net.NumClasses(), fwd, lin)
	if len(imp.Skipped) > 0 {
		skipped := append([]string(nil), imp.Skipped...)
		sort.Strings(skipped)
		fmt.Fprintf(stdout, "skipped: %s\n", strings.Join(skipped, ", "))
	}
	if cf.jsonPath() != "" {
		return writeJSON(cf.jsonPath(), net)
	}
	return nil
}

func runCheckONNX(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check onnx", "check onnx --onnx FILE --reference DIR [--json FILE]", stderr)
	path := fs.String("onnx", "", "the ONNX file")
	refDir := fs.String("reference", "", "reference values written by scripts/onnx_fixtures.py (meta.json, inputs.npy, outputs.npy, direction.npy, jvp.npy, grad.npy)")
	cf := addCommonFlags(fs, common{JSON: "the result"})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" || *refDir == "" {
		return usagef("check onnx: give --onnx FILE and --reference DIR")
	}
	if err := cf.check(); err != nil {
		return err
	}
	if st, err := os.Stat(*path); err != nil || st.IsDir() {
		return usagef("--onnx %s: not a readable ONNX file", *path)
	}
	if _, err := onnx.ReadFile(*path); err != nil { // bad input, before any work
		return usagef("--onnx %v", err)
	}
	if _, err := os.Stat(filepath.Join(*refDir, "meta.json")); err != nil {
		return usagef("--reference %s: no meta.json there; give the directory scripts/onnx_fixtures.py wrote", *refDir)
	}
	be, err := startBackend()
	if err != nil {
		return err
	}
	beginWork("check onnx")
	c, err := model.CheckONNX(be, *path, *refDir)
	if err != nil {
		return err
	}
	table(stdout, []string{"quantity", "max relative error", "bound"}, [][]string{
		{"outputs f(x)", fmt.Sprintf("%.3g", c.Outputs), fmt.Sprintf("%g", c.Bound)},
		{"JVP J(x) v over all parameters", fmt.Sprintf("%.3g", c.JVP), fmt.Sprintf("%g", c.Bound)},
		{"gradient of one output", fmt.Sprintf("%.3g", c.Grad), fmt.Sprintf("%g", c.Bound)},
	})
	fmt.Fprintf(stdout, "%d images, %d parameters\n", c.Images, c.Parameters)
	if err := writeJSON(cf.jsonPath(), c); err != nil {
		return err
	}
	if !c.Pass {
		return fmt.Errorf("onnx check failed: errors %.3g, %.3g, %.3g against the bound %g", c.Outputs, c.JVP, c.Grad, c.Bound)
	}
	return nil
}

package influence

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"gonum.org/v1/gonum/mat"

	"github.com/lqf-go/lqf/data"
	"github.com/lqf-go/lqf/internal/atomicfile"
	"github.com/lqf-go/lqf/internal/jsonfile"
	"github.com/lqf-go/lqf/model"
)

// kernelCacheMagic starts a kernel cache file; a JSON header line follows,
// then F0 [N*C] and J [N*C*P] as little-endian float32, R [N*C] and the
// upper triangle of K (row by row) as little-endian float64.
const kernelCacheMagic = "LQF-KERNEL-1\n"

type kernelCacheHeader struct {
	Key   string  `json:"key"`
	Dims  [3]int  `json:"dims"` // N, C, P
	Alpha float64 `json:"alpha"`
}

// cachedKernel returns the kernel set-up of net (backbone with the new
// head) on train: from opts.CacheDir when a file with the inputs' key is
// there, else computed (and stored when CacheDir is set).
func cachedKernel(be backends.Backend, backbone, net *model.Network, train *data.Set, opts FitOptions) (*model.Kernel, error) {
	if opts.CacheDir == "" {
		return model.NewKernel(be, net, train, opts.Alpha, opts.Progress)
	}
	key, err := kernelKey(backbone, train, opts)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(opts.CacheDir, "kernel-"+key[:24]+".bin")
	if k, err := readKernel(path, key, net, train); err == nil {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "influence: kernel set-up loaded from %s\n", path)
		}
		return k, nil
	} else if !os.IsNotExist(err) && opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "influence: recomputing the kernel set-up (%v)\n", err)
	}
	k, err := model.NewKernel(be, net, train, opts.Alpha, opts.Progress)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, func(w io.Writer) error { return writeKernel(w, key, k) }); err != nil {
		return nil, err
	}
	return k, nil
}

// kernelKey hashes what the kernel set-up depends on: the backbone's
// layer graph and parameter values, the training images, labels and class
// count, alpha and the head's seed.
func kernelKey(backbone *model.Network, train *data.Set, opts FitOptions) (string, error) {
	h := sha256.New()
	arch, err := json.Marshal(backbone.Arch)
	if err != nil {
		return "", err
	}
	h.Write(arch)
	for _, v := range backbone.Variables() {
		t, err := v.Value()
		if err != nil {
			return "", err
		}
		io.WriteString(h, v.ScopeAndName())
		writeFloat32s(h, tensors.MustCopyFlatData[float32](t))
	}
	hh, ww, cc := train.Geometry()
	fmt.Fprintf(h, "|%d %d %d %d %d|", train.Len(), hh, ww, cc, train.NumClasses)
	writeFloat32s(h, train.Images)
	binary.Write(h, binary.LittleEndian, train.Labels)
	fmt.Fprintf(h, "|alpha %v seed %d", opts.Alpha, opts.Seed)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeFloat32s(w io.Writer, x []float32) error {
	buf := make([]byte, 4*min(len(x), 1<<14))
	for len(x) > 0 {
		n := min(len(x), 1<<14)
		for i, v := range x[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		if _, err := w.Write(buf[:4*n]); err != nil {
			return err
		}
		x = x[n:]
	}
	return nil
}

func writeKernel(w io.Writer, key string, k *model.Kernel) error {
	bw := bufio.NewWriter(w)
	hdr, err := json.Marshal(kernelCacheHeader{Key: key, Dims: [3]int{k.N, k.C, k.P}, Alpha: k.Alpha})
	if err != nil {
		return err
	}
	bw.WriteString(kernelCacheMagic)
	bw.Write(append(hdr, '\n'))
	if err := writeFloat32s(bw, k.F0); err != nil {
		return err
	}
	if err := writeFloat32s(bw, k.J); err != nil {
		return err
	}
	if err := binary.Write(bw, binary.LittleEndian, k.R); err != nil {
		return err
	}
	r := k.N * k.C
	row := make([]float64, 0, r)
	for i := range r {
		row = row[:0]
		for j := i; j < r; j++ {
			row = append(row, k.K.At(i, j))
		}
		if err := binary.Write(bw, binary.LittleEndian, row); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// maxKernelHeaderBytes bounds the JSON header line of a kernel cache file
// (lqf writes about 150 bytes).
const maxKernelHeaderBytes = 1 << 16

// readKernel reads a kernel cache file written for key, checking its sizes
// against train and the network and against the file's length before
// allocating; the header line is read through jsonfile.ReadLine, at most
// maxKernelHeaderBytes. Any error names the file; cachedKernel then
// recomputes the kernel set-up and says why on its progress writer (a
// cache is only ever a shortcut: a damaged or foreign file costs the
// Jacobian again, never a wrong result).
func readKernel(path, key string, net *model.Network, train *data.Set) (*model.Kernel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	magic := make([]byte, len(kernelCacheMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != kernelCacheMagic {
		return nil, fmt.Errorf("%s: not a kernel cache file", path)
	}
	line, err := jsonfile.ReadLine(br, maxKernelHeaderBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var h kernelCacheHeader
	if err := json.Unmarshal(line, &h); err != nil || h.Key != key {
		return nil, fmt.Errorf("%s: written for other inputs", path)
	}
	n, c, p := h.Dims[0], h.Dims[1], h.Dims[2]
	if n != train.Len() || c != net.NumClasses() || p != net.NumParameters() {
		return nil, fmt.Errorf("%s: sizes %v do not match the problem", path, h.Dims)
	}
	r := n * c
	want := int64(len(kernelCacheMagic)+len(line)+1) + 4*int64(r) + 4*int64(r)*int64(p) + 8*int64(r) + 8*int64(r)*int64(r+1)/2
	if st.Size() != want {
		return nil, fmt.Errorf("%s: %d bytes, want %d (truncated or corrupt)", path, st.Size(), want)
	}
	k := &model.Kernel{Net: net, Alpha: h.Alpha, N: n, C: c, P: p, F0: make([]float32, r), J: make([]float32, r*p), R: make([]float64, r)}
	if err := binary.Read(br, binary.LittleEndian, k.F0); err != nil {
		return nil, err
	}
	if err := binary.Read(br, binary.LittleEndian, k.J); err != nil {
		return nil, err
	}
	if err := binary.Read(br, binary.LittleEndian, k.R); err != nil {
		return nil, err
	}
	k.K = mat.NewSymDense(r, nil)
	row := make([]float64, r)
	for i := range r {
		if err := binary.Read(br, binary.LittleEndian, row[:r-i]); err != nil {
			return nil, err
		}
		for j := i; j < r; j++ {
			k.K.SetSym(i, j, row[j-i])
		}
	}
	return k, nil
}

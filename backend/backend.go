// Package backend selects the GoMLX backend every lqf graph runs on:
// $GOMLX_BACKEND (XLA on CPU or GPU where its PJRT plugin is installed), or
// GoMLX's pure-Go backend, which needs no native libraries.
//
// It holds none of the paper's equations: it only chooses the hardware
// that lqf's graphs, and so every experiment, run on.
package backend

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/default" // pure Go, and XLA (PJRT) where it installs
)

// DefaultConfig is used when GOMLX_BACKEND is unset or plain "go":
// GoMLX's pure-Go backend, which needs no native libraries. Set GOMLX_BACKEND
// (for example "xla:cpu" or "xla:cuda") where an XLA PJRT plugin is installed.
//
// ops_sequential: the pure-Go backend's default mode schedules graph nodes on
// the same worker pool that its matrix multiplications split their batches
// over, and the backward pass of the backbone can exhaust the pool with nodes
// waiting for matmul workers (a deadlock seen with 2 cores). Running the nodes
// in order keeps the matmul parallelism, which is where the time goes.
const DefaultConfig = "go:ops_sequential"

// GPUMemoryEnvVar configures how an XLA GPU backend claims device memory:
// "grow" allocates on demand, a number in (0, 1] preallocates that fraction
// of the memory. XLA's default preallocates 75% of the GPU, so that a second
// lqf process on the same GPU runs out of memory; set "grow" (or a fraction
// per process) to run several, e.g. seeds of `lqf reproduce` side by side.
// Other backends ignore it.
const GPUMemoryEnvVar = "LQF_XLA_GPU_MEMORY"

// newXLAWithOptions creates an XLA backend with PJRT client options; nil
// where lqf is built without XLA (tag noxla).
var newXLAWithOptions func(config string, options map[string]any) (backends.Backend, error)

// New returns the backend named by $GOMLX_BACKEND, or the pure-Go one.
func New() (backends.Backend, error) {
	config := Config()
	name, pluginConfig, _ := strings.Cut(config, ":")
	if name == "xla" {
		options, err := xlaClientOptions(os.Getenv(GPUMemoryEnvVar))
		if err != nil {
			return nil, err
		}
		if options != nil {
			if newXLAWithOptions == nil {
				return nil, fmt.Errorf("%s is set but this lqf binary was built without XLA (tag noxla): unset it", GPUMemoryEnvVar)
			}
			return newXLAWithOptions(pluginConfig, options)
		}
	}
	return backends.NewWithConfig(config)
}

// xlaClientOptions parses GPUMemoryEnvVar into the PJRT GPU client's
// allocator options (nil: XLA's defaults).
func xlaClientOptions(v string) (map[string]any, error) {
	switch v = strings.TrimSpace(v); v {
	case "":
		return nil, nil
	case "grow":
		return map[string]any{"preallocate": false}, nil
	}
	f, err := strconv.ParseFloat(v, 32)
	if err != nil || !(f > 0 && f <= 1) {
		return nil, fmt.Errorf("%s=%q: want \"grow\" or a fraction of GPU memory in (0, 1], e.g. 0.2", GPUMemoryEnvVar, v)
	}
	return map[string]any{"preallocate": true, "memory_fraction": float32(f)}, nil
}

// Config is the backend configuration New uses.
func Config() string {
	config := os.Getenv(backends.ConfigEnvVar)
	if config == "" || config == "go" {
		config = DefaultConfig
	}
	return config
}

var (
	sharedOnce sync.Once
	shared     backends.Backend
	sharedErr  error
)

// Shared returns one backend for the whole process, made by New on the
// first call. Tensors cannot move between backend instances, so code that
// passes tensors between its parts (the tests of a package, a notebook)
// takes its backend here.
func Shared() (backends.Backend, error) {
	sharedOnce.Do(func() { shared, sharedErr = New() })
	return shared, sharedErr
}

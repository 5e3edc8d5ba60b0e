package model

import (
	"os"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/default" // pure Go, and XLA (PJRT) where it installs
)

// DefaultBackendConfig is used when GOMLX_BACKEND is unset or plain "go":
// GoMLX's pure-Go backend, which needs no native libraries. Set GOMLX_BACKEND
// (for example "xla:cpu" or "xla:cuda") where an XLA PJRT plugin is installed.
//
// ops_sequential: the pure-Go backend's default mode schedules graph nodes on
// the same worker pool that its matrix multiplications split their batches
// over, and the backward pass of the backbone can exhaust the pool with nodes
// waiting for matmul workers (a deadlock seen with 2 cores). Running the nodes
// in order keeps the matmul parallelism, which is where the time goes.
const DefaultBackendConfig = "go:ops_sequential"

// NewBackend returns the backend named by $GOMLX_BACKEND, or the pure-Go one.
func NewBackend() (backends.Backend, error) {
	return backends.NewWithConfig(BackendConfig())
}

// BackendConfig is the backend configuration NewBackend uses.
func BackendConfig() string {
	config := os.Getenv(backends.ConfigEnvVar)
	if config == "" || config == "go" {
		config = DefaultBackendConfig
	}
	return config
}

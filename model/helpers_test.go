package model

import (
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/backend"
)

// testBackend returns one backend shared by all tests: tensors cannot move
// between backend instances.
func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	sharedBackendOnce.Do(func() { sharedBackend, sharedBackendErr = backend.New() })
	if sharedBackendErr != nil {
		t.Fatal(sharedBackendErr)
	}
	return sharedBackend
}

var (
	sharedBackendOnce sync.Once
	sharedBackend     backends.Backend
	sharedBackendErr  error
)

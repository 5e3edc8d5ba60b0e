// Package backendtest gives tests the shared GoMLX backend (backend.Shared),
// failing the test when it cannot start.
package backendtest

import (
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/backend"
)

// Shared returns backend.Shared(), or fails t.
func Shared(t testing.TB) backends.Backend {
	t.Helper()
	be, err := backend.Shared()
	if err != nil {
		t.Fatal(err)
	}
	return be
}

package model

import (
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/backend"
)

// testBackend returns the process's shared backend (backend.Shared).
func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	be, err := backend.Shared()
	if err != nil {
		t.Fatal(err)
	}
	return be
}

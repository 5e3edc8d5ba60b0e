package model

import (
	"testing"

	"github.com/gomlx/gomlx/backends"

	"github.com/lqf-go/lqf/backend/backendtest"
)

// testBackend returns the process's shared backend (backend.Shared).
func testBackend(t testing.TB) backends.Backend { return backendtest.Shared(t) }

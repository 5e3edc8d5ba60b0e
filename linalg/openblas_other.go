//go:build !linux || android || !(amd64 || arm64)

package linalg

import (
	"fmt"
	"runtime"
)

// loadOpenBLAS reports that OpenBLAS is only looked for on Linux (amd64
// and arm64): elsewhere the host linear algebra is gonum's.
func loadOpenBLAS() (*openblasLib, error) {
	return nil, fmt.Errorf("OpenBLAS is not looked for on %s/%s", runtime.GOOS, runtime.GOARCH)
}

//go:build ((linux && amd64) || darwin) && !noxla

package backend

import (
	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

func init() {
	newXLAWithOptions = func(config string, options map[string]any) (backends.Backend, error) {
		return xla.NewWithOptions(config, pjrt.NamedValuesMap(options))
	}
}

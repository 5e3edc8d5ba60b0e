package backend

import (
	"strings"
	"testing"
)

func TestXLAClientOptions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]any
	}{
		{"", nil},
		{"grow", map[string]any{"preallocate": false}},
		{" 0.25 ", map[string]any{"preallocate": true, "memory_fraction": float32(0.25)}},
		{"1", map[string]any{"preallocate": true, "memory_fraction": float32(1)}},
	} {
		got, err := xlaClientOptions(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: %s = %v, want %v", tc.in, k, got[k], v)
			}
		}
	}
	for _, bad := range []string{"0", "1.5", "-0.1", "half", "NaN"} {
		if _, err := xlaClientOptions(bad); err == nil || !strings.Contains(err.Error(), GPUMemoryEnvVar) {
			t.Errorf("%q: got %v, want an error naming %s", bad, err, GPUMemoryEnvVar)
		}
	}
}

package influence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadKernelCraftedHeader: a kernel cache file whose header line is
// longer than maxKernelHeaderBytes, missing its end, or not JSON is
// refused with an error naming the file, before the network or the data
// are looked at (nil here: the header is checked first).
func TestReadKernelCraftedHeader(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, content, want string }{
		{"long.bin", kernelCacheMagic + strings.Repeat(" ", maxKernelHeaderBytes+10) + "{}\n", "longer than"},
		{"endless.bin", kernelCacheMagic + `{"key": "k"`, "truncated header"},
		{"notjson.bin", kernelCacheMagic + "<html>\n", "written for other inputs"},
		{"magic.bin", "LQF-CHECKPOINT-1\n{}\n", "not a kernel cache file"},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := readKernel(path, "k", nil, nil)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one naming the file and saying %q", c.name, err, c.want)
		}
	}
}

package jsonfile

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var v map[string]int
	if err := Read(write("ok.json", `{"a": 1}`+"\n"), 100, &v); err != nil || v["a"] != 1 {
		t.Fatalf("valid file: %v, %v", v, err)
	}
	for _, c := range []struct{ name, content, want string }{
		{"big.json", `{"a": 1}` + strings.Repeat(" ", 200), "larger than the limit"},
		{"bad.json", `{"a": `, "not valid JSON"},
		{"two.json", `{} {}`, "more than one JSON value"},
		{"type.json", `{"a": "x"}`, "not valid JSON"},
	} {
		p := write(c.name, c.content)
		if err := Read(p, 100, &v); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one naming the file and saying %q", c.name, err, c.want)
		}
	}
	if err := Read(filepath.Join(dir, "none.json"), 100, &v); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadRaw(dir, 100); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
}

// FuzzReadLine: ReadLine never returns more than its limit, never panics.
func FuzzReadLine(f *testing.F) {
	for _, s := range []string{"{}\nrest", "", "no newline", strings.Repeat("x", 100) + "\n", "\n\n", " {\"a\": 1} \r\n"} {
		f.Add([]byte(s), 16)
	}
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if limit < 0 || limit > 1<<20 {
			return
		}
		line, err := ReadLine(bufio.NewReaderSize(bytes.NewReader(b), 16), limit)
		if err == nil && (len(line) > limit || !bytes.Contains(b, line)) {
			t.Fatalf("line %q of %q with limit %d", line, b, limit)
		}
	})
}

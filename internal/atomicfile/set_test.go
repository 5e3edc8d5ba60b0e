package atomicfile

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSet(t *testing.T, dir string, commit bool, files map[string]string) *Set {
	t.Helper()
	s, err := BeginSet(dir, map[string]any{"seed": 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.ckpt", "b.ckpt", "record.json"} {
		if content, ok := files[name]; ok {
			if err := s.WriteFile(name, func(w io.Writer) error { _, err := io.WriteString(w, content); return err }); err != nil {
				t.Fatal(err)
			}
		}
	}
	if commit {
		if err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestSetInterrupted: a run killed between the writes of its files leaves
// a directory whose files CheckMember refuses (the earlier run's files are
// gone, not mixed in); the next complete run repairs it.
func TestSetInterrupted(t *testing.T) {
	dir := t.TempDir()
	writeSet(t, dir, true, map[string]string{"a.ckpt": "run 1 a", "b.ckpt": "run 1 b", "record.json": "{}"})
	for _, f := range []string{"a.ckpt", "b.ckpt", "record.json"} {
		if err := CheckMember(filepath.Join(dir, f)); err != nil {
			t.Fatalf("complete set: %v", err)
		}
	}
	// Run 2 is killed after its first file.
	writeSet(t, dir, false, map[string]string{"a.ckpt": "run 2 a"})
	if err := CheckMember(filepath.Join(dir, "a.ckpt")); err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("interrupted set: %v, want an error saying the run did not finish", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.ckpt")); !os.IsNotExist(err) {
		t.Errorf("run 1's b.ckpt is still beside run 2's a.ckpt: %v", err)
	}
	// Run 3 completes: the directory is whole again.
	s := writeSet(t, dir, true, map[string]string{"a.ckpt": "run 3 a", "b.ckpt": "run 3 b"})
	for _, f := range []string{"a.ckpt", "b.ckpt"} {
		if err := CheckMember(filepath.Join(dir, f)); err != nil {
			t.Errorf("repaired set: %v", err)
		}
	}
	m, err := ReadManifest(dir)
	if err != nil || m.RunID != s.RunID() || !m.Complete || len(m.Files) != 2 || m.Meta["seed"] != 1.0 {
		t.Errorf("manifest %+v, %v", m, err)
	}
}

// TestSetChecks: a changed file, a file the manifest does not name and a
// stale temporary file; a directory without a manifest is not checked.
func TestSetChecks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckMember(filepath.Join(dir, "mine.txt")); err != nil {
		t.Errorf("no manifest: %v", err)
	}
	stale := filepath.Join(dir, ".a.ckpt.tmp-123")
	if err := os.WriteFile(stale, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSet(t, dir, true, map[string]string{"a.ckpt": "a"})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mine.txt")); err != nil {
		t.Errorf("a file of no set was removed: %v", err)
	}
	if err := CheckMember(filepath.Join(dir, "mine.txt")); err == nil || !strings.Contains(err.Error(), "not among the files") {
		t.Errorf("file outside the set: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.ckpt"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckMember(filepath.Join(dir, "a.ckpt")); err == nil || !strings.Contains(err.Error(), "not the file") {
		t.Errorf("changed file: %v", err)
	}
	s, _ := BeginSet(dir, nil)
	if err := s.WriteFile("../escape", func(io.Writer) error { return nil }); err == nil {
		t.Error("a file outside the directory was accepted")
	}
}

// TestSetRemovesOnlyWhatItWrote: a manifest that names a file lqf did not
// write (or one changed since) does not make BeginSet delete it.
func TestSetRemovesOnlyWhatItWrote(t *testing.T) {
	dir := t.TempDir()
	writeSet(t, dir, true, map[string]string{"a.ckpt": "a", "b.ckpt": "b"})
	if err := os.WriteFile(filepath.Join(dir, "b.ckpt"), []byte("edited by hand"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte(`{"complete":true,"files":[{"name":"a.ckpt","bytes":1,"sha256":"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},{"name":"b.ckpt","bytes":1},{"name":"notes.txt","bytes":3}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := BeginSet(dir, nil); err != nil {
		t.Fatal(err)
	}
	for name, kept := range map[string]bool{"a.ckpt": false, "b.ckpt": true, "notes.txt": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v", name, err == nil, kept)
		}
	}
}

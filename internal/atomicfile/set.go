package atomicfile

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lqf-go/lqf/internal/jsonfile"
)

// ManifestName is the file a Set writes first (incomplete) and last
// (complete), naming every file of the set.
const ManifestName = "manifest.json"

// Manifest records a set of files written as one output (lqf pretrain's
// checkpoints and record, lqf export's arrays).
type Manifest struct {
	RunID    string         `json:"run_id"`
	Complete bool           `json:"complete"`
	Files    []ManifestFile `json:"files"`
	Meta     map[string]any `json:"meta,omitempty"`
}

// ManifestFile is one file of a set: its name in the set's directory, its
// size and its SHA-256.
type ManifestFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Set writes files into one directory as one output, so that a reader never
// takes files of two runs for one: BeginSet removes what the directory's
// previous manifest names (the files of an earlier run, when they are
// byte for byte what it recorded; other files are left alone) and stale temporary files of interrupted writes, then writes
// an incomplete manifest; each WriteFile is atomic; Commit writes the
// complete manifest last. A run killed in between leaves an incomplete
// manifest, which CheckMember refuses; the next run repairs the directory.
type Set struct {
	dir string
	m   Manifest
}

// BeginSet starts a set in dir (created if needed) with metadata meta
// (the run's seed, say), under a new random run id.
func BeginSet(dir string, meta map[string]any) (*Set, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	s := &Set{dir: dir, m: Manifest{RunID: hex.EncodeToString(id), Meta: meta}}
	if old, err := ReadManifest(dir); err == nil {
		for _, f := range old.Files {
			// Only what that run wrote, unchanged since: a manifest never
			// makes lqf delete a file it did not write.
			path := filepath.Join(dir, f.Name)
			if f.Name != filepath.Base(f.Name) || f.Name == ManifestName || strings.HasPrefix(f.Name, ".") {
				continue
			}
			if h, n, err := fileHash(path); err == nil && n == f.Bytes && h == f.SHA256 {
				os.Remove(path)
			}
		}
	}
	stale, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	for _, f := range stale {
		os.Remove(f)
	}
	return s, s.writeManifest()
}

// RunID is the set's run id.
func (s *Set) RunID() string { return s.m.RunID }

// WriteFile writes the file name of the set atomically (WriteFile) and
// records its size and hash.
func (s *Set) WriteFile(name string, fill func(w io.Writer) error) error {
	if name != filepath.Base(name) || name == ManifestName {
		return fmt.Errorf("atomicfile: %q cannot be a file of a set", name)
	}
	h := sha256.New()
	var n int64
	err := WriteFile(filepath.Join(s.dir, name), func(w io.Writer) error {
		return fill(io.MultiWriter(w, h, countWriter{&n}))
	})
	if err != nil {
		return err
	}
	s.m.Files = append(s.m.Files, ManifestFile{name, n, hex.EncodeToString(h.Sum(nil))})
	return s.writeManifest()
}

// Commit writes the complete manifest: the set is whole.
func (s *Set) Commit() error {
	s.m.Complete = true
	return s.writeManifest()
}

func (s *Set) writeManifest() error {
	return WriteFile(filepath.Join(s.dir, ManifestName), func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(s.m)
	})
}

type countWriter struct{ n *int64 }

func (c countWriter) Write(p []byte) (int, error) {
	*c.n += int64(len(p))
	return len(p), nil
}

// maxManifestBytes bounds a manifest (jsonfile.Read): lqf's sets list a
// few files of about 150 bytes each.
const maxManifestBytes = 4 << 20

// ReadManifest reads dir's manifest, at most maxManifestBytes;
// os.ErrNotExist when it has none, an error naming it when it cannot be
// read.
func ReadManifest(dir string) (*Manifest, error) {
	var m Manifest
	if err := jsonfile.Read(filepath.Join(dir, ManifestName), maxManifestBytes, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// CheckMember checks that the file at path belongs to the complete set of
// its directory when the directory has a manifest: an incomplete manifest
// (a run was interrupted), a file the manifest does not name, or one whose
// size or SHA-256 differs from the record is an error. A directory without
// a manifest is not checked (files made another way).
func CheckMember(path string) error {
	dir, name := filepath.Dir(path), filepath.Base(path)
	m, err := ReadManifest(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !m.Complete {
		return fmt.Errorf("%s: the run that writes this directory did not finish (%s is incomplete); run it again", path, ManifestName)
	}
	for _, f := range m.Files {
		if f.Name != name {
			continue
		}
		got, n, err := fileHash(path)
		if err != nil {
			return err
		}
		if n != f.Bytes || got != f.SHA256 {
			return fmt.Errorf("%s: not the file that run %s wrote (%s records %d bytes, SHA-256 %.12s...; the file has %d bytes, %.12s...); run it again", path, m.RunID, ManifestName, f.Bytes, f.SHA256, n, got)
		}
		return nil
	}
	return fmt.Errorf("%s: not among the files of run %s listed in %s; another run wrote it", path, m.RunID, ManifestName)
}

func fileHash(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	var h hash.Hash = sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

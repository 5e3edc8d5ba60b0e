package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"

	"github.com/lqf-go/lqf/data"
)

// commonFlags are the flags most commands share, each with one meaning and
// one help text: --task, the backbone flags (--backbone, --cut, --leaky),
// --seed, --json and --quiet. A nil field is a flag the command does not
// take.
type commonFlags struct {
	task  *string
	bb    *backboneFlags
	seed  *uint64
	json  *string
	quiet *bool
}

// common says which common flags a command takes.
type common struct {
	Task     bool
	Backbone bool
	// BackboneDefault is --backbone's default ("leaky" unless set; finetune
	// has "", chosen per method); BackboneHelp replaces the help text.
	BackboneDefault, BackboneHelp string
	// Seed, if not empty, is the help text of --seed: what it seeds.
	Seed string
	// JSON, if not empty, is what --json writes ("the result" unless set).
	JSON  string
	Quiet bool
}

// addCommonFlags registers the common flags c asks for on fs.
func addCommonFlags(fs *flag.FlagSet, c common) *commonFlags {
	f := &commonFlags{}
	if c.Task {
		f.task = fs.String("task", DefaultTask, "task (see lqf tasks)")
	}
	if c.Backbone {
		def := c.BackboneDefault
		if def == "" && c.BackboneHelp == "" {
			def = "leaky"
		}
		f.bb = addBackboneFlags(fs, def, c.BackboneHelp)
	}
	if c.Seed != "" {
		f.seed = fs.Uint64("seed", 1, c.Seed)
	}
	if c.JSON != "" {
		f.json = fs.String("json", "", "write "+c.JSON+" as JSON to this file")
	}
	if c.Quiet {
		f.quiet = fs.Bool("quiet", false, "no progress lines")
	}
	return f
}

// check validates the flags before any work: the backbone flags, and that
// --json names a file in an existing directory.
func (f *commonFlags) check() error {
	if f.bb != nil {
		if err := f.bb.check(); err != nil {
			return err
		}
	}
	if f.json != nil {
		return checkOutputFile("--json", *f.json)
	}
	return nil
}

// checkOutputFile is a usage error unless path is empty or a file that can
// be created: its directory exists and it is not itself a directory.
func checkOutputFile(flagName, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("%s %s: is a directory; give a file name", flagName, path)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("%s %s: directory %s does not exist; create it first", flagName, path, dir)
	}
	return nil
}

// progress is where progress lines go: stderr, or nil with --quiet.
func (f *commonFlags) progress(stderr io.Writer) io.Writer {
	if f.quiet != nil && *f.quiet {
		return nil
	}
	return stderr
}

// open checks the flags, then resolves --task and the backbone, starts the
// backend and loads the task's splits (openSession).
func (f *commonFlags) open(split data.SplitOptions, stderr io.Writer) (*session, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return openSession(*f.task, f.bb, split, f.quiet != nil && *f.quiet, stderr)
}

// jsonPath is --json's value ("" when the command has none).
func (f *commonFlags) jsonPath() string {
	if f.json == nil {
		return ""
	}
	return *f.json
}

// minInt is an integer flag's value and the least value it accepts.
type minInt struct {
	name   string
	v, min int
}

// checkMinInts is a usage error naming the first flag below its minimum.
func checkMinInts(flags ...minInt) error {
	for _, f := range flags {
		if f.v < f.min {
			return usagef("%s %d: must be >= %d", f.name, f.v, f.min)
		}
	}
	return nil
}

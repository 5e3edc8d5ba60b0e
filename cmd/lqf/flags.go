package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
	Task bool
	// TaskDefault and TaskHelp replace --task's default (DefaultTask) and
	// help text when set (pretrain's source task).
	TaskDefault, TaskHelp string
	Backbone              bool
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
		f.task = fs.String("task", cmp.Or(c.TaskDefault, DefaultTask), cmp.Or(c.TaskHelp, "task (see lqf tasks)"))
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
// be created: its directory exists and is writable, and it is not itself a
// directory.
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
	if err := checkWritable(dir); err != nil {
		return usagef("%s %s: cannot write into %s (%v); choose another place", flagName, path, dir, err)
	}
	return nil
}

// checkOutputDir is a usage error unless path is empty or a directory the
// command can write into, existing or to be created: a path that exists
// must be a directory, and its nearest existing ancestor must be a
// writable directory. Nothing is created.
func checkOutputDir(flagName, path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil {
		if !st.IsDir() {
			return usagef("%s %s: is a file, not a directory; give a directory (it is created if missing)", flagName, path)
		}
		if err := checkWritable(path); err != nil {
			return usagef("%s %s: cannot write into it (%v); choose another directory", flagName, path, err)
		}
		return nil
	}
	for dir := filepath.Dir(filepath.Clean(path)); ; dir = filepath.Dir(dir) {
		st, err := os.Stat(dir)
		switch {
		case err == nil && !st.IsDir():
			return usagef("%s %s: %s is a file, so the directory cannot be created; choose another path", flagName, path, dir)
		case err == nil:
			if err := checkWritable(dir); err != nil {
				return usagef("%s %s: cannot create it in %s (%v); choose another directory", flagName, path, dir, err)
			}
			return nil
		case !errors.Is(err, os.ErrNotExist):
			return usagef("%s %s: %v", flagName, path, err)
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}

// beginWork is called by each command once its input is checked (flags,
// output paths, backbone, data) and its work starts: training, a kernel,
// a measurement. Every input error must come before it; tests set it to
// see that none comes after.
var beginWork = func(command string) {}

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

// maxEpochs bounds every epochs flag: more would overflow the step count
// (epochs x images / batch) long before it finished.
const maxEpochs = 1e6

// floatFlag is a float flag's value and the range it accepts: finite, in
// [lo, hi] with either end open; example is a good value, for the fix.
type floatFlag struct {
	name           string
	v              float64
	lo, hi         float64
	loOpen, hiOpen bool
	example        string
}

// positive accepts finite values > 0.
func positive(name string, v float64, example string) floatFlag {
	return floatFlag{name, v, 0, math.Inf(1), true, true, example}
}

// nonNegative accepts finite values >= 0.
func nonNegative(name string, v float64, example string) floatFlag {
	return floatFlag{name, v, 0, math.Inf(1), false, true, example}
}

// epochs accepts 0 <= v <= maxEpochs (above 0 when positive is set).
func epochs(name string, v float64, positive bool, example string) floatFlag {
	return floatFlag{name, v, 0, maxEpochs, positive, false, example}
}

// inRange accepts lo < v < hi, or lo <= v < hi with closedLo.
func inRange(name string, v, lo, hi float64, closedLo bool, example string) floatFlag {
	return floatFlag{name, v, lo, hi, !closedLo, true, example}
}

func (f floatFlag) ok() bool {
	v := f.v
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	return (v > f.lo || (!f.loOpen && v == f.lo)) && (v < f.hi || (!f.hiOpen && v == f.hi))
}

// rule says what the flag accepts, e.g. "a finite number > 0" or "a
// number >= 0 and < 1".
func (f floatFlag) rule() string {
	lo, hi := map[bool]string{true: ">", false: ">="}[f.loOpen], map[bool]string{true: "<", false: "<="}[f.hiOpen]
	if math.IsInf(f.hi, 1) {
		return fmt.Sprintf("a finite number %s %g", lo, f.lo)
	}
	return fmt.Sprintf("a number %s %g and %s %g", lo, f.lo, hi, f.hi)
}

// checkFloats is a usage error naming the first flag outside its range:
// its value (NaN and infinities included), the rule and an example.
func checkFloats(flags ...floatFlag) error {
	for _, f := range flags {
		if !f.ok() {
			return usagef("%s %g: must be %s; give e.g. %s %s", f.name, f.v, f.rule(), f.name, f.example)
		}
	}
	return nil
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// parseList parses a comma-separated list of numbers of one flag, each
// checked against rule like checkFloats (rule.v is ignored).
func parseList(s string, rule floatFlag) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		rule.v = v
		if err != nil || !rule.ok() {
			return nil, usagef("%s %s: %q is not %s; give a comma-separated list like %s", rule.name, s, strings.TrimSpace(f), rule.rule(), rule.example)
		}
		out = append(out, v)
	}
	return out, nil
}

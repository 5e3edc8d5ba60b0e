package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNoReport is returned by LoadReport when dir holds no summary of the
// experiment in either mode.
var ErrNoReport = errors.New("analysis: no summary")

// LoadReport reads the report Reproduce wrote for experiment id under dir,
// computing nothing: the full-mode one (<dir>/<id>/summary.json) when there
// is one, else the quick-mode one (<dir>/<id>-quick/). Figures are
// returned as paths beside the summary.json read (the directory may have
// moved since the run). A report of a subset of seeds has a nil Summary.
func LoadReport(dir, id string) (*Report, error) {
	if _, err := ExperimentByID(id); err != nil {
		return nil, err
	}
	for _, sub := range []string{id, id + "-quick"} {
		path := filepath.Join(dir, sub, "summary.json")
		raw, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var rep Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if rep.ID != id {
			return nil, fmt.Errorf("%s: a summary of experiment %q, not %q", path, rep.ID, id)
		}
		if rep.Summary != nil {
			for i, f := range rep.Summary.Figures {
				rep.Summary.Figures[i] = filepath.Join(dir, sub, filepath.Base(f))
			}
		}
		return &rep, nil
	}
	return nil, fmt.Errorf("%w of %s in %s: run `lqf reproduce --%s --out %s`", ErrNoReport, id, dir, idFlag(id), dir)
}

// Package progress prints the progress of long lqf jobs: done/total, rate,
// elapsed time and ETA, plus a short status (for example the current loss).
//
// On a terminal the line is redrawn in place; elsewhere (logs, notebooks, CI)
// a full line is printed at most every Interval, so output stays readable.
//
// It holds none of the paper's equations.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar reports progress of a job of Total units (images, steps, samples).
// A nil *Bar is valid and prints nothing, so callers need no checks.
type Bar struct {
	w        io.Writer
	label    string
	unit     string
	total    int
	done     int
	start    time.Time
	last     time.Time
	interval time.Duration
	tty      bool
	status   string
	mu       sync.Mutex
	now      func() time.Time
}

// New returns a Bar writing to w (nil: no output). unit names what is
// counted, for the rate ("img", "step").
func New(w io.Writer, label string, total int, unit string) *Bar {
	if w == nil {
		return nil
	}
	b := &Bar{w: w, label: label, unit: unit, total: total, now: time.Now, interval: 10 * time.Second}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty, b.interval = true, 200*time.Millisecond
		}
	}
	b.start = b.now()
	b.last = b.start
	return b
}

// SetStatus sets the text shown after the counters.
func (b *Bar) SetStatus(format string, args ...any) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.status = fmt.Sprintf(format, args...)
	b.mu.Unlock()
}

// Add records n more units done and prints when the interval has passed.
func (b *Bar) Add(n int) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if t := b.now(); t.Sub(b.last) >= b.interval {
		b.last = t
		b.print(false)
	}
}

// Finish prints the final line with the total time.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.print(true)
}

// Line formats the current state: "label 42% 420/1000 img, 85.3 img/s,
// 4.9s elapsed, ETA 6.8s, status".
func (b *Bar) Line() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.line(false)
}

func (b *Bar) line(final bool) string {
	elapsed := b.now().Sub(b.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(b.done) / s
	}
	var sb strings.Builder
	sb.WriteString(b.label)
	if b.total > 0 {
		fmt.Fprintf(&sb, " %3.0f%% %d/%d %s", 100*float64(b.done)/float64(b.total), b.done, b.total, b.unit)
	} else {
		fmt.Fprintf(&sb, " %d %s", b.done, b.unit)
	}
	fmt.Fprintf(&sb, ", %.1f %s/s, %s elapsed", rate, b.unit, round(elapsed))
	if !final && b.total > 0 && rate > 0 {
		eta := time.Duration(float64(b.total-b.done) / rate * float64(time.Second))
		fmt.Fprintf(&sb, ", ETA %s", round(eta))
	}
	if b.status != "" {
		sb.WriteString(", ")
		sb.WriteString(b.status)
	}
	return sb.String()
}

func (b *Bar) print(final bool) {
	line := b.line(final)
	switch {
	case b.tty && final:
		fmt.Fprintf(b.w, "\r\033[K%s\n", line)
	case b.tty:
		fmt.Fprintf(b.w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(b.w, line)
	}
}

func round(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBarRateAndETA(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "train", 100, "img")
	clock := b.start
	b.now = func() time.Time { return clock }
	clock = clock.Add(2 * time.Second)
	b.Add(20) // 10 img/s, 80 left: ETA 8s; interval not yet passed
	if buf.Len() != 0 {
		t.Fatalf("printed before the interval: %q", buf.String())
	}
	if got, want := b.Line(), "train  20% 20/100 img, 10.0 img/s, 2s elapsed, ETA 8s"; got != want {
		t.Fatalf("Line() = %q, want %q", got, want)
	}
	clock = clock.Add(10 * time.Second)
	b.SetStatus("loss %.2f", 0.5)
	b.Add(40)
	if !strings.Contains(buf.String(), "60/100 img") || !strings.Contains(buf.String(), "loss 0.50") {
		t.Fatalf("periodic line missing counters or status: %q", buf.String())
	}
	b.Finish()
	if last := strings.TrimSpace(buf.String()[strings.LastIndex(strings.TrimSpace(buf.String()), "\n")+1:]); strings.Contains(last, "ETA") {
		t.Fatalf("final line still has an ETA: %q", last)
	}
}

func TestNilBarIsSilent(t *testing.T) {
	var b *Bar = New(nil, "x", 1, "img")
	b.Add(1)
	b.SetStatus("s")
	b.Finish() // must not panic
}

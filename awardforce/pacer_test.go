package awardforce

import (
	"testing"
	"time"

	"github.com/afsync/afsync/internal/window"
)

// TestPacerCatchesUpAsTheWindowAllows: after a lull, requests go at once
// up to the limit (a late batch catches up), and never more than the limit
// in one window.
func TestPacerCatchesUpAsTheWindowAllows(t *testing.T) {
	p := &pacer{window: window.Window{Limit: 3, Span: time.Minute}}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	want := []time.Duration{0, 0, 0, time.Minute, time.Minute, time.Minute, 2 * time.Minute}
	for i, w := range want {
		if got := p.reserve(t0).Sub(t0); got != w {
			t.Fatalf("turn %d at %s, want %s", i, got, w)
		}
	}
	// Ten minutes later (a lull): three at once again.
	later := t0.Add(10 * time.Minute)
	for i := range 3 {
		if got := p.reserve(later); !got.Equal(later) {
			t.Fatalf("after a lull, turn %d at %s, want at once", i, got.Sub(later))
		}
	}
	// Spread out requests each wait only for the turn a window before.
	if got := p.reserve(later.Add(30 * time.Second)); !got.Equal(later.Add(time.Minute)) {
		t.Fatalf("fourth within the window at %s, want a minute after the first", got.Sub(later))
	}
}

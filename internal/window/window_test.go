package window

import (
	"testing"
	"time"
)

// Three in a minute: the fourth is free a minute after the first, and
// only the last three are kept.
func TestTheNextIsFreeASpanAfterTheLimitthLast(t *testing.T) {
	w := Window{Limit: 3, Span: time.Minute}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var recent []time.Time
	for i := range 3 {
		if free := w.Free(recent); !free.IsZero() {
			t.Fatalf("moment %d: free at %s, want at once", i, free)
		}
		recent = w.Keep(recent, t0.Add(time.Duration(i)*time.Second))
	}
	if free := w.Free(recent); !free.Equal(t0.Add(time.Minute)) {
		t.Fatalf("the fourth free at %s, want a minute after the first", free.Sub(t0))
	}
	recent = w.Keep(recent, t0.Add(time.Minute))
	if len(recent) != 3 || !recent[0].Equal(t0.Add(time.Second)) {
		t.Fatalf("kept %v, want the last three", recent)
	}
	if free := w.Free(recent); !free.Equal(t0.Add(time.Minute + time.Second)) {
		t.Fatalf("the fifth free at %s, want a minute after the second", free.Sub(t0))
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/afsync/afsync/workflows"
)

func TestProgressViewShowsUsersInFlight(t *testing.T) {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := workflows.Progress{Total: 1000, StartedAt: start}
	p.Seen, p.Created, p.Unchanged = 400, 300, 100

	var plain bytes.Buffer
	v := &progressView{w: &plain, every: time.Second}
	v.update(p, 200, start.Add(10*time.Second))
	want := "progress: 400/1000 users (+200 in progress) · created 300 · updated 0 · unchanged 100 · skipped 0 · ambiguous 0 · failed 0 · 60 users/s · ETA 7s\n"
	if plain.String() != want {
		t.Fatalf("plain line:\n got %q\nwant %q", plain.String(), want)
	}

	var term bytes.Buffer
	tv := &progressView{w: &term, terminal: true, width: 120}
	tv.update(p, 200, start.Add(10*time.Second))
	bar := strings.Repeat("█", 16) + strings.Repeat("▒", 8) + strings.Repeat("░", 16)
	if !strings.Contains(term.String(), bar+" 400/1000 users (+200 in progress)") {
		t.Fatalf("terminal:\n%q\nwant the bar %q: 40%% done, 20%% in flight", term.String(), bar)
	}

	// On a narrow terminal the bar gives way to the text.
	term.Reset()
	narrow := &progressView{w: &term, terminal: true, width: 80}
	narrow.update(p, 200, start.Add(10*time.Second))
	line := strings.SplitN(strings.TrimPrefix(term.String(), "\r\x1b[2K"), "\n", 2)[0]
	if n := len([]rune(line)); n > 80 || !strings.HasSuffix(line, "60 users/s · ETA 7s") {
		t.Fatalf("an 80-column line of %d runes must keep its text:\n%q", n, line)
	}

	// A chunk's count can run past the total (a --limit cuts its last page)
	// or arrive after the end: the view never overshoots.
	term.Reset()
	tv.update(p, 900, start.Add(10*time.Second))
	if !strings.Contains(term.String(), "(+600 in progress)") {
		t.Fatalf("in flight must be capped at what is left:\n%q", term.String())
	}
	p.Done, p.FinishedAt = true, start.Add(20*time.Second)
	plain.Reset()
	v.update(p, 600, p.FinishedAt)
	if strings.Contains(plain.String(), "in progress") {
		t.Fatalf("a finished backfill has nothing in progress:\n%q", plain.String())
	}
}

package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/afsync/afsync/workflows"
)

// progressView renders a backfill's Progress: a redrawn bar on a terminal,
// plain lines elsewhere (CI, pipes, log files).
type progressView struct {
	w        io.Writer
	terminal bool
	width    int
	every    time.Duration // plain mode: at most one line per interval
	last     time.Time
	drawn    bool
}

// rate is users per second since the backfill started, counting pos users
// as through; eta the time left at that pace.
func rate(p workflows.Progress, pos int, now time.Time) (perSecond float64, eta time.Duration) {
	elapsed := now.Sub(p.StartedAt).Seconds()
	if p.Done && !p.FinishedAt.IsZero() {
		elapsed = p.FinishedAt.Sub(p.StartedAt).Seconds()
	}
	if elapsed <= 0 || pos == 0 {
		return 0, 0
	}
	perSecond = float64(pos) / elapsed
	if left := p.Total - pos; left > 0 {
		eta = time.Duration(float64(left) / perSecond * float64(time.Second))
	}
	return perSecond, eta
}

// update shows p. inFlight counts the users that running chunks have read
// but not finished: they advance the bar (shaded ▒) and the rate, so that
// progress moves a page at a time rather than a chunk at a time; the
// outcome counts are those of finished users only.
func (v *progressView) update(p workflows.Progress, inFlight int, now time.Time) {
	if p.Done {
		inFlight = 0
	}
	inFlight = max(0, min(inFlight, p.Total-p.Seen))
	pos := p.Seen + inFlight
	perSecond, eta := rate(p, pos, now)
	counts := fmt.Sprintf("created %d · updated %d · unchanged %d · skipped %d · ambiguous %d · failed %d",
		p.Created, p.Updated, p.Unchanged, p.Skipped, p.Ambiguous, p.Failed)
	speed := fmt.Sprintf("%.0f users/s", perSecond)
	if eta > 0 {
		speed += " · ETA " + eta.Round(time.Second).String()
	}
	users := fmt.Sprintf("%d/%d users", p.Seen, p.Total)
	if inFlight > 0 {
		users += fmt.Sprintf(" (+%d in progress)", inFlight)
	}
	if !v.terminal {
		if !p.Done && now.Sub(v.last) < v.every {
			return
		}
		v.last = now
		fmt.Fprintf(v.w, "progress: %s · %s · %s\n", users, counts, speed)
		return
	}
	text := fmt.Sprintf("%s  %s", users, speed)
	barWidth := 40
	if v.width > 0 { // leave the text room on the line: the bar gives way first
		barWidth = max(10, min(barWidth, v.width-len([]rune(text))-1))
	}
	done, busy := 0, 0
	if p.Total > 0 {
		done = min(barWidth, p.Seen*barWidth/p.Total)
		busy = min(barWidth, pos*barWidth/p.Total) - done
	}
	bar := strings.Repeat("█", done) + strings.Repeat("▒", busy) + strings.Repeat("░", barWidth-done-busy)
	line1 := bar + " " + text
	if v.drawn {
		fmt.Fprint(v.w, "\x1b[2A") // back over the two lines drawn last time
	}
	fmt.Fprintf(v.w, "\r\x1b[2K%s\n\r\x1b[2K%s\n", clip(line1, v.width), clip(counts, v.width))
	v.drawn = true
}

func clip(s string, width int) string {
	r := []rune(s)
	if width > 0 && len(r) > width {
		return string(r[:width])
	}
	return s
}

// printSummary writes the final table.
func printSummary(w io.Writer, p workflows.Progress) {
	perSecond, _ := rate(p, p.Seen, p.FinishedAt)
	took := p.FinishedAt.Sub(p.StartedAt).Round(time.Second)
	verb := "finished"
	if p.DryRun {
		verb = "dry run finished (nothing was written)"
	}
	fmt.Fprintf(w, "\nBackfill %s %s in %s (%.0f users/s)\n", p.BackfillID, verb, took, perSecond)
	rows := []struct {
		name string
		n    int
	}{
		{"users seen", p.Seen}, {"created", p.Created}, {"updated", p.Updated}, {"unchanged", p.Unchanged},
		{"skipped", p.Skipped}, {"ambiguous", p.Ambiguous}, {"failed", p.Failed},
		{"Salesforce API calls", p.SalesforceCalls}, {"Award Force API calls", p.AwardForceCalls},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-22s %8d\n", r.name, r.n)
	}
	for _, f := range p.Failures {
		fmt.Fprintf(w, "  failed: %s  %s\n", f.Slug, f.Error)
	}
	if shown := len(p.Failures); p.Failed > shown {
		fmt.Fprintf(w, "  … and %d more failures: see the chunks' results in the UI\n", p.Failed-shown)
	}
	for _, c := range p.FailedChunks {
		fmt.Fprintf(w, "  failed chunk: %s\n", c)
	}
}

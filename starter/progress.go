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

// rate is users per second since the backfill started; eta the time left.
func rate(p workflows.Progress, now time.Time) (perSecond float64, eta time.Duration) {
	elapsed := now.Sub(p.StartedAt).Seconds()
	if p.Done && !p.FinishedAt.IsZero() {
		elapsed = p.FinishedAt.Sub(p.StartedAt).Seconds()
	}
	if elapsed <= 0 || p.Seen == 0 {
		return 0, 0
	}
	perSecond = float64(p.Seen) / elapsed
	if left := p.Total - p.Seen; left > 0 {
		eta = time.Duration(float64(left) / perSecond * float64(time.Second))
	}
	return perSecond, eta
}

func (v *progressView) update(p workflows.Progress, now time.Time) {
	perSecond, eta := rate(p, now)
	counts := fmt.Sprintf("created %d · updated %d · unchanged %d · skipped %d · ambiguous %d · failed %d",
		p.Created, p.Updated, p.Unchanged, p.Skipped, p.Ambiguous, p.Failed)
	speed := fmt.Sprintf("%.0f users/s", perSecond)
	if eta > 0 {
		speed += " · ETA " + eta.Round(time.Second).String()
	}
	if !v.terminal {
		if !p.Done && now.Sub(v.last) < v.every {
			return
		}
		v.last = now
		fmt.Fprintf(v.w, "progress: %d/%d users · %s · %s\n", p.Seen, p.Total, counts, speed)
		return
	}
	barWidth := max(10, min(40, v.width-20))
	filled := 0
	if p.Total > 0 {
		filled = min(barWidth, p.Seen*barWidth/p.Total)
	}
	bar := strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled)
	line1 := fmt.Sprintf("%s %d/%d users  %s", bar, p.Seen, p.Total, speed)
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
	perSecond, _ := rate(p, p.FinishedAt)
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

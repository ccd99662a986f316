// Package window is the rule of a sliding-window rate limit: at most Limit
// moments in any Span. It keeps no clock and no lock, so that both the
// Award Force client (awardforce's pacer, on the worker) and the Award
// Force budget (deterministic workflow code, which carries its moments
// across continue-as-new) apply the same rule to moments they keep.
package window

import "time"

// Window allows at most Limit moments in any Span.
type Window struct {
	Limit int
	Span  time.Duration
}

// Free is the earliest moment the next may take after recent (the last
// moments, oldest first): a Span after the Limit-th last, or zero while
// there are fewer than Limit.
func (w Window) Free(recent []time.Time) time.Time {
	if len(recent) < w.Limit {
		return time.Time{}
	}
	return recent[len(recent)-w.Limit].Add(w.Span)
}

// Keep appends t to recent and returns the last Limit of them, all that
// Free needs: a slice of the same array, whose dropped head append frees
// when it next grows it (no copy per moment).
func (w Window) Keep(recent []time.Time, t time.Time) []time.Time {
	recent = append(recent, t)
	if extra := len(recent) - w.Limit; extra > 0 {
		recent = recent[extra:]
	}
	return recent
}

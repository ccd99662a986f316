package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"

	historypb "go.temporal.io/api/history/v1"
)

// timings sums, per workflow kind ("lane", "chunk") and step (an activity
// type, "workflow task", "waiting for a workflow task"), how often it ran
// and how long it took, from the histories' own timestamps: where a run's
// time goes.
type timings map[string]*timing

type timing struct {
	kind, step string
	n          int
	total      time.Duration
}

// historyClock follows one history's events for timings.
type historyClock struct {
	t         timings
	kind      string
	scheduled map[int64]*historypb.HistoryEvent // activity and workflow task scheduled events, by ID
	started   map[int64]time.Time               // workflow task started, by scheduled ID
}

func (t timings) clock(kind string) *historyClock {
	return &historyClock{t: t, kind: kind, scheduled: map[int64]*historypb.HistoryEvent{}, started: map[int64]time.Time{}}
}

func (t timings) add(kind, step string, d time.Duration) {
	k := kind + "\x00" + step
	if t[k] == nil {
		t[k] = &timing{kind: kind, step: step}
	}
	t[k].n++
	t[k].total += d
}

// see takes the next event of the history.
func (h *historyClock) see(ev *historypb.HistoryEvent) {
	at := ev.GetEventTime().AsTime()
	switch {
	case ev.GetActivityTaskScheduledEventAttributes() != nil, ev.GetWorkflowTaskScheduledEventAttributes() != nil:
		h.scheduled[ev.GetEventId()] = ev
	case ev.GetActivityTaskCompletedEventAttributes() != nil:
		if s := h.scheduled[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; s != nil {
			h.t.add(h.kind, "activity "+s.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), at.Sub(s.GetEventTime().AsTime()))
		}
	case ev.GetWorkflowTaskStartedEventAttributes() != nil:
		id := ev.GetWorkflowTaskStartedEventAttributes().GetScheduledEventId()
		if s := h.scheduled[id]; s != nil {
			h.t.add(h.kind, "waiting for a workflow task", at.Sub(s.GetEventTime().AsTime()))
		}
		h.started[id] = at
	case ev.GetWorkflowTaskCompletedEventAttributes() != nil:
		if s, ok := h.started[ev.GetWorkflowTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
			h.t.add(h.kind, "workflow task (and its local activities)", at.Sub(s))
		}
	}
}

// print lists the steps, kind by kind, the longest in total first.
func (t timings) print(out io.Writer) {
	all := make([]*timing, 0, len(t))
	for _, v := range t {
		all = append(all, v)
	}
	slices.SortFunc(all, func(a, b *timing) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(b.total, a.total))
	})
	fmt.Fprintln(out, "where the time goes (summed over every run; steps overlap):")
	for _, v := range all {
		fmt.Fprintf(out, "  %-6s %-42s %7d × %8.1f ms = %8.1f s\n", v.kind, v.step, v.n,
			float64(v.total.Microseconds())/1000/float64(v.n), v.total.Seconds())
	}
}

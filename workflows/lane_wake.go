package workflows

// A lane's prompt wakes. A lane waits a quarter of a second for more
// people before it starts a batch that is not full (Gather), and on its
// way out ends a workflow task before it continues as new. Both waited for
// a timer, and the server puts every new timer task at least
// history.timerProcessorMaxTimeShift ahead (one second by default; read in
// temporal server 1.29.1's service/history/shard/task_key_manager.go): a
// gathering of 250 ms took about a second, and a continue-as-new two,
// while the batches waited. With
// LaneSettings.PromptWakes a wait shorter than promptWakeMax is a WakeAt
// activity on the lane's own task queue instead, which returns at the
// moment, measured on the server's clock.
//
// A wake costs the server an activity where a timer costs less, so a lane
// takes one only when the second matters (worthAWake): a batch is in
// flight or a hundred people wait (the lane's pace is at stake: a backfill
// faster than Award Force's limit), or someone waits whose sync a person
// may be watching (a registration, an edit, a manual sync). A backfill's
// trickle at Award Force's pace waits with a timer: its second late costs
// no pace. (A hundred integrations on one dev server, measured with wakes
// everywhere, with these rules and with none, stayed within the runs'
// spread: docs/benchmarks.md.)
//
// A wake only wakes the lane, which looks at everything again; a wake that
// comes when it is no longer needed costs a workflow task. One is on its
// way for the earliest moment the lane waits for; another starts only for
// an earlier moment, at most maxWakesOut at once. A wake that fails (a
// worker that does not know WakeAt, during an upgrade) makes the run go
// back to timers; one that returns before its moment by the workflow's
// clock (the unit tests' clock, which only timers move) makes the lane
// wait for that moment with a timer.

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

const (
	// promptWakeMax is the longest wait a lane makes with a wake: longer
	// ones are timers, whose second late matters less.
	promptWakeMax = 2 * time.Second
	// maxWakesOut bounds the wakes on their way at once.
	maxWakesOut = 4
	// wakeWorthy is how many waiting people make any short wait worth a
	// wake: a quarter of a full batch.
	wakeWorthy = maxBatch / 4
)

// laneWakes is a run's prompt wakes.
type laneWakes struct {
	// prompt: the run wakes promptly (PromptWakes and
	// ChangeLanePromptWakes).
	prompt bool
	// failed: a wake failed; the run waits with timers.
	failed bool
	// at is the moment of the earliest wake on its way (zero: none).
	at time.Time
	// out counts the wakes on their way; woken counts those back.
	out, woken int
	// early is the latest moment a wake returned before: waits until then
	// are timers.
	early time.Time
}

// await waits until cond holds or the moment wake comes (zero: no moment).
func (l *lane) await(ctx workflow.Context, now, wake time.Time, cond func() bool) error {
	switch {
	case wake.IsZero():
		return workflow.Await(ctx, cond)
	case l.wakesPromptly(now, wake):
		if !l.wakes.coming(wake) {
			l.startWake(ctx, wake)
		}
		woken := l.wakes.woken
		return workflow.Await(ctx, func() bool { return cond() || l.wakes.woken != woken })
	default:
		_, err := workflow.AwaitWithTimeout(ctx, wake.Sub(now), cond)
		return err
	}
}

// wakesPromptly says whether the lane waits for the moment wake with a
// wake rather than a timer.
func (l *lane) wakesPromptly(now, wake time.Time) bool {
	w := &l.wakes
	if !w.prompt || w.failed || wake.Sub(now) >= promptWakeMax || !wake.After(w.early) || !l.worthAWake() {
		return false
	}
	// One on its way soon enough will do; otherwise there must be room.
	return w.coming(wake) || w.out < maxWakesOut
}

// coming says whether a wake is on its way by the moment by.
func (w *laneWakes) coming(by time.Time) bool { return !w.at.IsZero() && !w.at.After(by) }

// worthAWake says whether the lane's wait is worth a wake: a batch is in
// flight, wakeWorthy people wait, or one of them is not a backfill's.
func (l *lane) worthAWake() bool {
	if l.inFlight > 0 || len(l.st.Items) >= wakeWorthy {
		return true
	}
	for _, it := range l.st.Items {
		if r, ok := l.st.Requests[it.Request]; ok && r.Trigger != pairing.TriggerBackfill {
			return true
		}
	}
	return false
}

// startWake starts a wake at the moment at.
func (l *lane) startWake(ctx workflow.Context, at time.Time) {
	w := &l.wakes
	w.at = at
	w.out++
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, wakeOptions(ctx)), coord.WakeAt, at)
	workflow.Go(ctx, func(ctx workflow.Context) {
		err := f.Get(ctx, nil)
		w.out--
		if w.at.Equal(at) {
			w.at = time.Time{}
		}
		switch {
		case err != nil:
			w.failed = true
			workflow.GetLogger(ctx).Warn("A lane's wake failed: the lane waits with timers until it continues as new", "error", err)
		case workflow.Now(ctx).Before(at) && at.After(w.early):
			w.early = at
		}
		w.woken++
	})
}

// wakeNow ends the workflow task with a wake due at once, and waits for it.
func (l *lane) wakeNow(ctx workflow.Context) {
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, wakeOptions(ctx)), coord.WakeAt, workflow.Now(ctx)).Get(ctx, nil); err != nil {
		l.wakes.failed = true
	}
}

// wakeOptions runs a wake on the lane's own task queue, once: a wake that
// fails is not worth another. One whose worker died gives up within
// seconds of its moment (StartToCloseTimeout), not at the end of its
// schedule, so that a lane waiting for it goes on with timers.
func wakeOptions(ctx workflow.Context) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              workflow.GetInfo(ctx).TaskQueueName,
		ScheduleToCloseTimeout: promptWakeMax + 30*time.Second,
		StartToCloseTimeout:    promptWakeMax + 5*time.Second,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	}
}

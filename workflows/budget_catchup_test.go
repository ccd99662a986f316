package workflows

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/workflow"
)

// The budget's pace when its timers fire late (ChangeBudgetCatchesUp),
// on a simulated clock: the workflow test environment fires timers on
// time, a loaded server does not.

// simulateBudget runs b's grant loop as AwardForceBudget does, from start,
// waking late(wake) after each moment it waits for, until nothing is owed.
// It returns when each permit goes: its moment, or the grant if that is
// later (a call never goes before it holds its permit).
func simulateBudget(b *budget, start time.Time, late func(wake int) time.Duration) []time.Time {
	now := start
	// The workflow's loop when requests reach an idle budget: a new one
	// starts its pace, and version 1 starts it afresh whatever the time.
	if b.st.Next.IsZero() || b.catchUp && !b.credit && b.st.Next.Before(start) {
		b.st.Next = start
	}
	var sent []time.Time
	for wake := 0; b.due() > 0; wake++ {
		for b.due() > 0 && !now.Before(b.dueAt()) {
			g, _ := b.grant(now)
			for i := range g.N {
				at := now
				if g.Every > 0 {
					at = latest(now, g.From.Add(time.Duration(i)*g.Every))
				}
				sent = append(sent, at)
			}
		}
		now = b.dueAt().Add(late(wake))
	}
	return sent
}

// catchUpVersions are the versions of ChangeBudgetCatchesUp that budget
// runs may take.
var catchUpVersions = []int{1, 2}

// pacedBudget is a budget at rate owing n permits to one paced backfill
// request, taking version of ChangeBudgetCatchesUp (0: not).
func pacedBudget(rate float64, n, version int) *budget {
	b := newBudget(nil)
	b.rate, b.catchUp, b.credit = rate, version >= 1, version >= 2
	b.enqueue(paced(permits("chunk", ClassBackfill, n)))
	return b
}

// mostInAnyWindow counts the most permits sent within any span.
func mostInAnyWindow(sent []time.Time, span time.Duration) int {
	most := 0
	for i := range sent {
		j := i
		for j < len(sent) && sent[j].Sub(sent[i]) < span {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

// Every seventh wake 6 s late (the slowest of 100 budgets on a 2-core dev
// server woke 3.9, 4.9 and 9.4 s late in five minutes), the others 50 ms: the
// budget grants what it missed, so 600 permits take at most 20 s more than
// the pace gives (the last wake's lateness, and a little where a late wake
// held back permits the window then released late), where starting afresh
// from each late wake lost some 120 s; and no minute holds more than 60.
func TestALateBudgetGrantsWhatItMissed(t *testing.T) {
	late := func(wake int) time.Duration {
		if wake%7 == 6 {
			return 6 * time.Second
		}
		return 50 * time.Millisecond
	}
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	before := simulateBudget(pacedBudget(60, 600, 0), start, late)
	for _, v := range catchUpVersions {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) {
			b := pacedBudget(60, 600, v)
			sent := simulateBudget(b, start, late)
			require.Len(t, sent, 600)
			require.True(t, slices.IsSortedFunc(sent, func(a, b time.Time) int { return a.Compare(b) }))
			require.LessOrEqual(t, mostInAnyWindow(sent, time.Minute), 60)
			pace := 599 * b.interval()
			took := sent[len(sent)-1].Sub(start)
			require.Less(t, took, pace+20*time.Second, "the pace, the last late wake and a little")

			lost := before[len(before)-1].Sub(start) - pace
			require.Greater(t, lost, 100*time.Second, "the code before lost every late wake's lateness")
			t.Logf("600 permits at 60/min, every 7th wake 6 s late: %s (the pace alone %s; without catching up %s)",
				took.Round(time.Millisecond), pace, before[len(before)-1].Sub(start).Round(time.Millisecond))
		})
	}
}

// measuredLateness is how late a budget's timed wakes came on a 2-core
// dev server serving 100 budgets (7,461 wakes: p50 45 ms, p90 145 ms, p99
// 1.2 s, max 11.6 s), as a repeating pattern.
func measuredLateness(wake int) time.Duration {
	switch {
	case wake%500 == 499:
		return 11600 * time.Millisecond
	case wake%100 == 99:
		return 1200 * time.Millisecond
	case wake%10 == 9:
		return 145 * time.Millisecond
	}
	return 45 * time.Millisecond
}

// Wakes as late as measured, at rates from one every two minutes to 1,200
// a minute (a window of 600 twice a minute): never more than the rate in
// any minute, and at least 97% of it.
func TestALateBudgetKeepsEveryMinuteWithinTheRate(t *testing.T) {
	for _, v := range catchUpVersions {
		for _, rate := range []float64{0.5, 60, 90.5, 1200} {
			t.Run(fmt.Sprintf("version %d at %v", v, rate), func(t *testing.T) {
				late := measuredLateness
				n := int(rate * 10)
				if rate < 1 {
					n = 6
				}
				start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
				b := pacedBudget(rate, n, v)
				sent := simulateBudget(b, start, late)
				require.Len(t, sent, n)
				require.LessOrEqual(t, mostInAnyWindow(sent, time.Minute), max(int(rate), 1))
				// n permits at the rate take n-1 intervals after the first.
				atRate := time.Duration(float64(n-1) / rate * float64(time.Minute))
				require.Less(t, sent[len(sent)-1].Sub(sent[0]), time.Duration(float64(atRate)/0.97)+1500*time.Millisecond)
			})
		}
	}
}

// A budget stalled for ten minutes with permits owed (its worker gone)
// grants at most catchUpSpan's worth at once when it wakes, and from then
// on no permit waits longer than that after the one before: a webhook
// arriving then waits seconds, not the minute the window would allow.
func TestAStalledBudgetCatchesUpOnlySoFar(t *testing.T) {
	for _, v := range catchUpVersions {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) {
			start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
			b := pacedBudget(60, 300, v)
			sent := simulateBudget(b, start, func(wake int) time.Duration {
				if wake == 3 {
					return 10 * time.Minute
				}
				return 0
			})
			require.Len(t, sent, 300)
			burst, stalled := 0, 0
			for i := range sent {
				j := i
				for j < len(sent) && sent[j].Equal(sent[i]) {
					j++
				}
				burst = max(burst, j-i)
				if i > 0 && sent[i].Sub(sent[i-1]) > 5*time.Minute {
					stalled = i
				}
			}
			require.Positive(t, stalled)
			require.LessOrEqual(t, burst, int(catchUpSpan/b.interval())+1, "the burst after the stall")
			require.GreaterOrEqual(t, burst, 5, "the stall's wake catches up")
			for i := stalled + 1; i < len(sent); i++ {
				require.LessOrEqual(t, sent[i].Sub(sent[i-1]), catchUpSpan+b.interval(), "permit %d after the stall", i)
			}
			require.LessOrEqual(t, mostInAnyWindow(sent, time.Minute), 60)
		})
	}
}

// The first run to take the change carries no window: it assumes the
// permits before Next went at the pace, so a late wake at once after the
// upgrade keeps the minute within the rate together with them.
func TestTheFirstRunWithAWindowAssumesThePaceBefore(t *testing.T) {
	for _, v := range catchUpVersions {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) {
			next := time.Date(2026, 12, 7, 0, 1, 0, 0, time.UTC)
			b := newBudget(&BudgetState{Next: next, Waiting: map[string][]*PermitRequest{
				ClassBackfill: {ptr(paced(permits("chunk", ClassBackfill, 100)))}}})
			b.rate, b.catchUp, b.credit = 60, true, v >= 2
			b.adopt()
			require.Len(t, b.st.Recent, 60)
			var before []time.Time
			for i := 60; i > 0; i-- { // the code before: strictly at its interval
				before = append(before, next.Add(-time.Duration(i)*b.interval()))
			}
			now := next.Add(12 * time.Second) // the first wake, late
			var sent []time.Time
			for b.due() > 0 {
				for b.due() > 0 && !now.Before(b.dueAt()) {
					g, _ := b.grant(now)
					for i := range g.N {
						sent = append(sent, latest(now, g.From.Add(time.Duration(i)*g.Every)))
					}
				}
				now = b.dueAt()
			}
			require.LessOrEqual(t, mostInAnyWindow(append(before, sent...), time.Minute), 60)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A paced request's grants reach it grantAhead before their first permit's
// moment (the first excepted: its first permit is due at once), so that a
// loaded server's signal, workflow task and activity start do not make its
// reads late; the budget's pace is the same.
func TestAPacedRequestIsGrantedAheadOfItsMoments(t *testing.T) {
	log, _ := budgetTest(t, 60, map[time.Duration][]PermitRequest{0: {paced(permits("a", ClassBackfill, 40))}})
	require.Equal(t, 40, log.total)
	requireWithinRate(t, log.moments, 60)
	m := log.n[0]
	for i := 1; i < len(log.at); i++ {
		require.Equal(t, grantAhead, log.moments[m].Sub(log.at[i]), "grant %d", i)
		m += log.n[i]
	}
}

// A grant catching up holds only the permits the window allows now: with
// the 60 last permits a window ago for the first only, one, where a paced
// grant could hold four.
func TestACatchUpGrantHoldsWhatTheWindowAllows(t *testing.T) {
	for _, v := range catchUpVersions {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) {
			now := time.Date(2026, 12, 7, 0, 2, 0, 0, time.UTC)
			b := pacedBudget(60, 100, v)
			span := b.window().Span
			for i := range 60 {
				b.st.Recent = append(b.st.Recent, now.Add(-span+time.Duration(i)*10*time.Millisecond))
			}
			b.st.Next = now.Add(-5 * time.Second) // late, with time to catch up
			require.False(t, now.Before(b.dueAt()))
			g, _ := b.grant(now)
			require.Equal(t, 1, g.N)
			next := now.Add(10 * time.Millisecond) // once the window's second permit is a window ago
			if v >= 2 {
				next = next.Add(-grantAhead) // granted ahead, at that moment
			}
			require.Equal(t, next, b.dueAt())
			g, _ = b.grant(next)
			require.Equal(t, 1, g.N)
			require.Equal(t, now.Add(10*time.Millisecond), latest(next, g.From), "the permit's moment")
		})
	}
}

// sends is when each of log's permits goes, in time order: its moment, or
// its grant if that is later (a call never goes before it holds its
// permit). The test environment may log the grants signalled in one
// workflow task in any order.
func (log *grantLog) sends() []time.Time {
	var out []time.Time
	m := 0
	for i, at := range log.at {
		for range log.n[i] {
			out = append(out, latest(at, log.moments[m]))
			m++
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// A backfill's steps each ask once the one before is answered (its
// chunk's other pages, then their users' reads): since version 2 the
// seconds the budget sat idle between them are not lost, the reads keep
// the pace of the pages before them; version 1 started the pace afresh.
func TestAnIdleBudgetGrantsTheTimeItLeftUnused(t *testing.T) {
	requests := map[time.Duration][]PermitRequest{
		0:               {paced(permits("pages", ClassBackfill, 2))},
		4 * time.Second: {paced(permits("reads", ClassBackfill, 300))},
	}
	var last [3]time.Duration
	for _, v := range catchUpVersions {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) {
			log, _ := budgetTestFrom(t, 60, nil, requests, atVersion(workflow.Version(v)))
			require.Equal(t, 302, log.total)
			sent := log.sends()
			require.LessOrEqual(t, mostInAnyWindow(sent, time.Minute), 60)
			last[v] = sent[len(sent)-1].Sub(sent[0])
		})
	}
	credit := pacedBudget(60, 0, 2).interval()
	require.LessOrEqual(t, last[2], 301*credit, "version 2: 302 permits at the pace, as if nobody had waited")
	require.GreaterOrEqual(t, last[1], 4*time.Second+299*pacedBudget(60, 0, 1).interval(), "version 1: the reads' pace from their arrival")
	t.Logf("302 permits, 3 s idle after the first 2: %s (version 1 %s)", last[2], last[1])
}

// A budget idle for an hour grants what it left unused for catchUpSpan
// at most: a burst of that many permits, then the pace.
func TestALongIdleGrantsNoMoreThanCatchUpSpan(t *testing.T) {
	log, _ := budgetTestFrom(t, 60, nil, map[time.Duration][]PermitRequest{
		0:         {paced(permits("webhook", ClassEvents, 1))},
		time.Hour: {paced(permits("reads", ClassBackfill, 60))},
	}, atVersion(2))
	sent := log.sends()[1:]
	require.Len(t, sent, 60)
	interval := pacedBudget(60, 0, 2).interval()
	burst := 0
	for _, at := range sent {
		if at.Equal(sent[0]) {
			burst++
		}
	}
	require.Equal(t, int(catchUpSpan/interval)+1, burst, "catchUpSpan's worth at once")
	require.LessOrEqual(t, sent[burst].Sub(sent[0]), interval, "the next at its place in the pace")
	for i := burst + 1; i < len(sent); i++ {
		require.InDelta(t, interval.Seconds(), sent[i].Sub(sent[i-1]).Seconds(), 0.001, "permit %d: the pace", i)
	}
	require.LessOrEqual(t, mostInAnyWindow(sent, time.Minute), 60)
}

// A grant signal takes seconds to be delivered on a loaded server: since
// version 2 the budget times its next grant without waiting for it, so
// each later grant still reaches its asker grantAhead before its first
// moment; version 1 waited, and granted late.
func TestTheBudgetTimesItsNextGrantWithoutWaitingForDelivery(t *testing.T) {
	requests := map[time.Duration][]PermitRequest{0: {paced(permits("reads", ClassBackfill, 40))}}
	ahead := func(log *grantLog) (least time.Duration) {
		least = time.Hour
		m := log.n[0]
		for i := 1; i < len(log.at); i++ {
			least = min(least, log.moments[m].Sub(log.at[i]))
			m += log.n[i]
		}
		return least
	}
	log, _ := budgetTestFrom(t, 60, nil, requests, deliveredAfter(3*time.Second))
	require.Equal(t, 40, log.total)
	requireWithinRate(t, log.moments, 60)
	require.GreaterOrEqual(t, ahead(log), grantAhead-3*time.Second, "granted on time, delivered 3 s later")
	old, _ := budgetTestFrom(t, 60, nil, requests, deliveredAfter(3*time.Second), atVersion(1))
	require.Less(t, ahead(old), grantAhead-3*time.Second-500*time.Millisecond, "version 1: delivered late")
}

// Permits granted at once (a budget catching up, or granting the time it
// left idle) hold the window a minute later, as Award Force counts them:
// since version 2 those permits are still granted grantAhead before their
// moment, where version 1 granted them at it (and their reads went late,
// every minute: one run's slowest chunk read 3.5-7.7 s late at 0, 59,
// 119, 180, 241 and 301 s).
func TestAGrantTheWindowHoldsBackIsStillGrantedAhead(t *testing.T) {
	log, _ := budgetTestFrom(t, 60, nil, map[time.Duration][]PermitRequest{
		0:               {paced(permits("pages", ClassBackfill, 2))},
		4 * time.Second: {paced(permits("reads", ClassBackfill, 200))},
	})
	require.Equal(t, 202, log.total)
	require.LessOrEqual(t, mostInAnyWindow(log.sends(), time.Minute), 60)
	held := 0 // grants whose moment the window set, after the first minute
	m := 0
	for i := range log.at {
		first := log.moments[m]
		if i >= 2 && first.Sub(log.at[0]) > time.Minute {
			require.Equal(t, grantAhead, first.Sub(log.at[i]), "grant %d (%d permits)", i, log.n[i])
			if log.n[i] == 1 {
				held++
			}
		}
		m += log.n[i]
	}
	require.Positive(t, held, "the window held some back")
}

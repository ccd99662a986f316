package workflows

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The budget's pace when its timers fire late (ChangeBudgetCatchesUp),
// on a simulated clock: the workflow test environment fires timers on
// time, a loaded server does not.

// simulateBudget runs b's grant loop as AwardForceBudget does (wake), its
// requests reaching it idle at start, waking late(wake) after each moment
// it waits for, until nothing is owed.
// It returns when each permit goes: its moment, or the grant if that is
// later (a call never goes before it holds its permit).
func simulateBudget(b *budget, start time.Time, late func(wake int) time.Duration) []time.Time {
	now := start
	var sent []time.Time
	for wake := 0; b.due() > 0; wake++ {
		grants, _ := b.wake(now, wake == 0)
		for _, g := range grants {
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

// pacedBudget is a budget at rate owing n permits to one paced backfill
// request; catchUp says whether it takes ChangeBudgetCatchesUp.
func pacedBudget(rate float64, n int, catchUp bool) *budget {
	b := newBudget(nil)
	b.rate, b.catchUp = rate, catchUp
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
	b := pacedBudget(60, 600, true)
	sent := simulateBudget(b, start, late)
	require.Len(t, sent, 600)
	require.True(t, slices.IsSortedFunc(sent, func(a, b time.Time) int { return a.Compare(b) }))
	require.LessOrEqual(t, mostInAnyWindow(sent, time.Minute), 60)
	pace := 599 * b.interval()
	took := sent[len(sent)-1].Sub(start)
	require.Less(t, took, pace+20*time.Second, "the pace, the last late wake and a little")

	before := simulateBudget(pacedBudget(60, 600, false), start, late)
	lost := before[len(before)-1].Sub(start) - pace
	require.Greater(t, lost, 100*time.Second, "the code before lost every late wake's lateness")
	t.Logf("600 permits at 60/min, every 7th wake 6 s late: %s (the pace alone %s; without catching up %s)",
		took.Round(time.Millisecond), pace, before[len(before)-1].Sub(start).Round(time.Millisecond))
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
	for _, rate := range []float64{0.5, 60, 90.5, 1200} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			late := measuredLateness
			n := int(rate * 10)
			if rate < 1 {
				n = 6
			}
			start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
			b := pacedBudget(rate, n, true)
			sent := simulateBudget(b, start, late)
			require.Len(t, sent, n)
			require.LessOrEqual(t, mostInAnyWindow(sent, time.Minute), max(int(rate), 1))
			// n permits at the rate take n-1 intervals after the first.
			atRate := time.Duration(float64(n-1) / rate * float64(time.Minute))
			require.Less(t, sent[len(sent)-1].Sub(sent[0]), time.Duration(float64(atRate)/0.97)+1500*time.Millisecond)
		})
	}
}

// A budget stalled for ten minutes with permits owed (its worker gone)
// grants at most catchUpSpan's worth at once when it wakes, and from then
// on no permit waits longer than that after the one before: a webhook
// arriving then waits seconds, not the minute the window would allow.
func TestAStalledBudgetCatchesUpOnlySoFar(t *testing.T) {
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	b := pacedBudget(60, 300, true)
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
}

// The first run to take the change carries no window: it assumes the
// permits before Next went at the pace, so a late wake at once after the
// upgrade keeps the minute within the rate together with them.
func TestTheFirstRunWithAWindowAssumesThePaceBefore(t *testing.T) {
	next := time.Date(2026, 12, 7, 0, 1, 0, 0, time.UTC)
	b := newBudget(&BudgetState{Next: next, Waiting: map[string][]*PermitRequest{
		ClassBackfill: {ptr(paced(permits("chunk", ClassBackfill, 100)))}}})
	b.rate, b.catchUp = 60, true
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
	now := time.Date(2026, 12, 7, 0, 2, 0, 0, time.UTC)
	b := pacedBudget(60, 100, true)
	span := b.window().Span
	for i := range 60 {
		b.st.Recent = append(b.st.Recent, now.Add(-span+time.Duration(i)*10*time.Millisecond))
	}
	b.st.Next = now.Add(-5 * time.Second) // late, with time to catch up
	require.False(t, now.Before(b.dueAt()))
	g, _ := b.grant(now)
	require.Equal(t, 1, g.N)
	require.Equal(t, now.Add(10*time.Millisecond), b.dueAt(), "the next once the window's second permit is a window ago")
}

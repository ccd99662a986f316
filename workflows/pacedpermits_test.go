package workflows

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
)

func paced(r PermitRequest) PermitRequest {
	r.Paced = true
	return r
}

// requireWithinRate checks permit moments the way Award Force counts
// requests: never more than rate in any minute, and at the rate (the
// whole budget used, with its margin).
func requireWithinRate(t *testing.T, moments []time.Time, rate int) {
	t.Helper()
	sorted := slices.Clone(moments)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(sorted); i++ {
		gap := sorted[i].Sub(sorted[i-1])
		require.GreaterOrEqual(t, gap, time.Minute/time.Duration(rate), "permits %d and %d", i-1, i)
	}
	for i := range sorted {
		inMinute := 0
		for j := i; j < len(sorted) && sorted[j].Sub(sorted[i]) < time.Minute; j++ {
			inMinute++
		}
		require.LessOrEqual(t, inMinute, rate)
	}
	span := sorted[len(sorted)-1].Sub(sorted[0])
	require.Less(t, span.Seconds(), float64(len(sorted)-1)*60/float64(rate)/0.97, "≥ 97%% of the rate")
}

// requireLaterEachGrant checks that each permit, in the order granted, is
// due after the one before: a call that asks after another is granted
// (a write-back of a newer decision) is never due before it.
func requireLaterEachGrant(t *testing.T, moments []time.Time) {
	t.Helper()
	for i := 1; i < len(moments); i++ {
		require.True(t, moments[i].After(moments[i-1]), "permit %d due at %s, permit %d at %s", i-1, moments[i-1], i, moments[i])
	}
}

// A paced request is granted several permits a signal, each due at its
// own moment: the moments keep Award Force's rate exactly as single
// permits did, for a quarter of the budget's signals.
func TestAPacedRequestIsGrantedSeveralPermitsAtTheirMoments(t *testing.T) {
	log, _ := budgetTest(t, 60, map[time.Duration][]PermitRequest{
		0:               {paced(permits("a", ClassBackfill, 30))},
		5 * time.Second: {paced(permits("b", ClassBackfill, 30))},
	})
	require.Equal(t, 60, log.total)
	require.Len(t, log.moments, 60)
	requireWithinRate(t, log.moments, 60)
	requireLaterEachGrant(t, log.moments)
	require.LessOrEqual(t, len(log.at), 60/4+2, "grants of up to four permits: %v", log.n)
	// No moment reaches further than pacedSpan past its grant, granted
	// grantAhead before its first moment, nor comes before the budget's
	// last one: a grant uses what the budget has.
	m := 0
	for i, at := range log.at {
		for range log.n[i] {
			require.LessOrEqual(t, log.moments[m].Sub(at), pacedSpan+grantAhead, "permit %d", m)
			m++
		}
	}
}

// While webhooks wait, a paced backfill gets one permit a turn as before:
// a webhook arriving during a grant waits for at most that grant's reach
// (granted up to grantAhead before its first moment).
func TestAPacedBackfillLeavesWebhooksTheirTurn(t *testing.T) {
	log, _ := budgetTest(t, 60, map[time.Duration][]PermitRequest{
		0:               {paced(permits("backfill", ClassBackfill, 40))},
		3 * time.Second: {paced(permits("webhook-1", ClassEvents, 1)), permits("webhook-2", ClassEvents, 1)},
	})
	requireWithinRate(t, log.moments, 60)
	requireLaterEachGrant(t, log.moments)
	arrived := log.at[0].Add(3 * time.Second)
	for _, id := range []string{"webhook-1", "webhook-2"} {
		i := slices.Index(log.momentTo, id)
		require.GreaterOrEqual(t, i, 0, "%s was granted", id)
		require.LessOrEqual(t, log.moments[i].Sub(arrived), pacedSpan+grantAhead+3*time.Second, "%s waited from %s to %s", id, arrived, log.moments[i])
	}
	// While they waited, the backfill's grants were of one permit.
	first := slices.Index(log.to, "webhook-1")
	last := slices.Index(log.to, "webhook-2")
	for i := min(first, last) + 1; i < max(first, last); i++ {
		require.Equal(t, 1, log.n[i], "grant %d, to %s, while a webhook waited", i, log.to[i])
	}
}

// A paced grant's calls run each with its own moment: the gate asks
// paced, and each call's activity finds its moment in its context (the
// header PermitSlotPropagator writes and reads).
func TestAPacedGrantsCallsCarryTheirMoments(t *testing.T) {
	env := chunkEnv()
	env.SetContextPropagators([]workflow.ContextPropagator{activities.PermitSlotPropagator{}})
	from := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var asked []PermitRequest
	env.OnActivity(coord.RequestPermits, mock.Anything, mock.Anything).Return(func(_ context.Context, req PermitRequest) error {
		asked = append(asked, req)
		env.RegisterDelayedCallback(func() {
			env.SignalWorkflowByID(req.ReplyTo, PermitGrantSignal, PermitGrant{Request: req.ID, N: req.N, From: from, Every: time.Second})
		}, 0)
		return nil
	})
	moments := map[int]time.Time{}
	env.OnActivity(af.ListUsers, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.ListUsersInput) (activities.ListUsersResult, error) {
		moments[in.Page], _ = activities.PermitSlot(ctx)
		return onePerPage(in), nil
	})
	runDryChunk(t, env)
	require.Len(t, asked, 1)
	require.True(t, asked[0].Paced, "the gate asks for paced permits")
	var got []time.Time
	for _, m := range moments {
		got = append(got, m)
	}
	require.ElementsMatch(t, []time.Time{from, from.Add(time.Second), from.Add(2 * time.Second)}, got,
		"one moment a call, each its own: %v", moments)
}

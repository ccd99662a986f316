package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

var watchStart = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)

// watchedSpec watches every 10 s.
func watchedSpec() pairing.Spec {
	s := pairing.Default()
	s.CRMChanges.Every = "10s"
	s.Fields = append(s.Fields, pairing.FieldPair{AwardForce: "JobTitle", CRM: "Title", Direction: pairing.DirectionFromCRM})
	return *s
}

// fakeOrg answers ChangedRecords from a list of changes, by window.
type fakeOrg struct {
	changes []activities.CRMChange
	windows [][2]time.Time
	// owners is the identity ledger: the people paired with a record.
	owners map[string][]string
	// recalled are the records the watch asked the ledger about, by ask.
	recalled [][]string
}

func (o *fakeOrg) recall(_ context.Context, in RecallInput) (Recalled, error) {
	o.recalled = append(o.recalled, in.Records)
	out := Recalled{Owners: map[string][]string{}}
	for _, id := range in.Records {
		if slugs, ok := o.owners[normalID(id)]; ok {
			out.Owners[normalID(id)] = slugs
		}
	}
	return out, nil
}

func (o *fakeOrg) answer(_ context.Context, in activities.ChangesInput) (activities.ChangesResult, error) {
	o.windows = append(o.windows, [2]time.Time{in.Start, in.End})
	res := activities.ChangesResult{Covered: in.End, Calls: 2}
	for _, c := range o.changes {
		if !c.Modified.Before(in.Start) && !c.Modified.After(in.End) {
			res.Changes = append(res.Changes, c)
		}
	}
	return res, nil
}

// watchTest runs the watch until stopAt (a spec that does not watch ends
// it) and returns the sync requests it made, by poll.
func watchTest(t *testing.T, org *fakeOrg, stopAt time.Duration, setup func(env *testsuite.TestWorkflowEnvironment)) ([][]SyncRequest, *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(watchStart)
	env.RegisterWorkflow(CRMWatch)
	env.RegisterActivity(&activities.AwardForce{})
	env.RegisterActivity(&activities.Salesforce{})
	env.RegisterActivity(&Coordinator{})
	grantPermits(env)
	env.OnActivity(sf.ChangedRecords, mock.Anything, mock.Anything).Return(org.answer)
	env.OnActivity(coord.RecallPairings, mock.Anything, mock.Anything).Return(org.recall)
	var started [][]SyncRequest
	env.OnActivity(coord.StartSyncs, mock.Anything, mock.Anything).Return(func(_ context.Context, in StartSyncsInput) (int, error) {
		started = append(started, in.Requests)
		return len(in.Requests), nil
	})
	if setup != nil {
		setup(env)
	}
	off := watchedSpec()
	watch := false
	off.CRMChanges.Watch = &watch
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(CRMWatchSpecSignal, off) }, stopAt)
	env.SetTestTimeout(time.Minute)
	env.ExecuteWorkflow(CRMWatch, CRMWatchInput{Spec: watchedSpec()})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	return started, env
}

func change(id, slug, email string, at time.Duration) activities.CRMChange {
	return activities.CRMChange{RecordID: id, Slug: slug, Identifier: email, Modified: watchStart.Add(at)}
}

func TestTheWatchHandsEachChangeOverOnce(t *testing.T) {
	org := &fakeOrg{changes: []activities.CRMChange{
		change("003A", "SlugA", "a@example.org", -5*time.Second),
		change("003B", "", "b@example.org", 3*time.Second),
		change("003C", "SlugC", "c@example.org", 25*time.Second),
	}}
	started, _ := watchTest(t, org, 35*time.Second, func(env *testsuite.TestWorkflowEnvironment) {
		b := pairing.Profile{Slug: "SlugB", Updated: watchStart, Values: map[string]string{"email": "b@example.org"}}
		env.OnActivity(af.FindUser, mock.Anything, "b@example.org").Return(activities.FoundUser{Found: true, Profile: b}, nil).Once()
	})
	// Polls at 0 s (window -10 s…0), 10 s, 20 s and 30 s (windows a minute
	// wide, overlapping): A at the first, B at the second, C at the fourth,
	// each once although later windows list them again.
	var got []string
	for _, reqs := range started {
		for _, r := range reqs {
			assert.Equal(t, pairing.TriggerCRMChange, r.Trigger)
			got = append(got, r.Slug+"/"+r.RecordID)
		}
	}
	assert.Equal(t, []string{"SlugA/003A", "SlugB/003B", "SlugC/003C"}, got)
	require.Len(t, org.windows, 4)
	assert.Equal(t, watchStart.Add(-time.Minute), org.windows[0][0], "the first window is a minute wide")
	for _, w := range org.windows {
		assert.GreaterOrEqual(t, w[1].Sub(w[0]), time.Minute, "Salesforce wants windows a minute wide")
	}
	// B's user came from Award Force, by email: the sync starts from that read.
	for _, reqs := range started {
		for _, r := range reqs {
			if r.Slug == "SlugB" {
				require.NotNil(t, r.Profile)
			}
		}
	}
}

func TestTheWatchHoldsAChangeWhoseUserCouldNotBeRead(t *testing.T) {
	org := &fakeOrg{changes: []activities.CRMChange{change("003B", "", "b@example.org", -2*time.Second)}}
	started, _ := watchTest(t, org, 15*time.Second, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(af.FindUser, mock.Anything, "b@example.org").
			Return(activities.FoundUser{}, temporal.NewNonRetryableApplicationError("Award Force refused", "Refused", nil)).Once()
		b := pairing.Profile{Slug: "SlugB", Updated: watchStart, Values: map[string]string{"email": "b@example.org"}}
		env.OnActivity(af.FindUser, mock.Anything, "b@example.org").Return(activities.FoundUser{Found: true, Profile: b}, nil).Once()
	})
	require.Len(t, started, 1, "the change is handed over at the second poll")
	assert.Equal(t, "SlugB", started[0][0].Slug)
	require.Len(t, org.windows, 2)
	assert.False(t, org.windows[1][0].After(watchStart.Add(-2*time.Second)), "the second window starts no later than the held change")
}

func TestTheWatchSkipsUsersAwardForceDoesNotKnow(t *testing.T) {
	org := &fakeOrg{changes: []activities.CRMChange{change("003X", "", "stranger@example.org", -time.Second)}}
	started, _ := watchTest(t, org, 15*time.Second, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(af.FindUser, mock.Anything, "stranger@example.org").Return(activities.FoundUser{}, nil).Once()
	})
	assert.Empty(t, started, "a CRM person who is not an Award Force user starts no sync")

	// The watch's first version asked GetUser, which fails for a stranger.
	started, _ = watchTest(t, org, 15*time.Second, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnGetVersion(ChangeWatchFindsUsers, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		env.OnActivity(af.GetUser, mock.Anything, "stranger@example.org").
			Return(pairing.Profile{}, temporal.NewNonRetryableApplicationError("no such user", activities.ErrTypeAwardForceNotFound, nil)).Once()
	})
	assert.Empty(t, started)
}

func TestAPollHandsOverAtMostItsShareAndTheRestNext(t *testing.T) {
	org := &fakeOrg{}
	total := legacyChangesPerPoll + 100
	for i := range total {
		org.changes = append(org.changes, change(recordID(i), "Slug"+recordID(i), "", -50*time.Second+time.Duration(i)*time.Millisecond))
	}
	started, _ := watchTest(t, org, 15*time.Second, nil)
	require.Len(t, started, 3)
	assert.Len(t, started[0], maxChangesPerPoll)
	assert.Len(t, started[1], maxChangesPerPoll)
	assert.Len(t, started[2], total-2*maxChangesPerPoll)
	assert.Equal(t, "Slug"+recordID(maxChangesPerPoll), started[1][0].Slug, "the next poll goes on where the first stopped")
	require.GreaterOrEqual(t, len(org.windows), 3)
	assert.Equal(t, org.windows[0][1], org.windows[2][1], "the polls after a capped one come at once")

	// The first versions took up to 500 a poll and waited the spec's
	// period before the next.
	org.windows = nil
	started, _ = watchTest(t, org, 15*time.Second, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnGetVersion(ChangeWatchCatchesUp, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	})
	require.Len(t, started, 2)
	assert.Len(t, started[0], legacyChangesPerPoll)
	assert.Len(t, started[1], 100)
	require.GreaterOrEqual(t, len(org.windows), 2)
	spec := watchedSpec()
	assert.Equal(t, spec.WatchEvery(), org.windows[1][1].Sub(org.windows[0][1]))
}

func recordID(i int) string {
	return "003" + string(rune('A'+i/26/26%26)) + string(rune('A'+i/26%26)) + string(rune('A'+i%26))
}

func TestTheWatchWindow(t *testing.T) {
	spec := watchedSpec()
	w := &watch{spec: spec}
	now := watchStart
	start, end, gap := w.window(now)
	assert.Equal(t, now.Add(-time.Minute), start, "first poll: a minute back")
	assert.Equal(t, now, end)
	assert.False(t, gap)

	w.st.Covered = now.Add(-10 * time.Minute)
	start, _, _ = w.window(now)
	assert.Equal(t, w.st.Covered, start, "from the high-water mark")

	w.st.Covered = now.Add(-40 * 24 * time.Hour)
	start, _, gap = w.window(now)
	assert.True(t, gap, "stopped longer than Salesforce keeps changes")
	assert.Equal(t, now.Add(-maxLookBack), start)
}

// A record whose address was edited in Salesforce no longer names its
// person by identifier; the identity ledger still does, and the watch hands
// the change to them without asking Award Force.
func TestTheWatchFindsTheOwnerOfAChangedRecordInTheIdentityLedger(t *testing.T) {
	org := &fakeOrg{
		changes: []activities.CRMChange{
			change("003000000000001AAA", "", "typo@example.org", 2*time.Second),    // Ada's, its address edited
			change("003000000000002AAA", "", "someone@example.org", 3*time.Second), // no one's
		},
		owners: map[string][]string{"003000000000001AAA": {"AdaLovel"}},
	}
	var asked []string
	started, _ := watchTest(t, org, 15*time.Second, func(env *testsuite.TestWorkflowEnvironment) {
		env.OnActivity(af.FindUser, mock.Anything, mock.Anything).Return(func(_ context.Context, id string) (activities.FoundUser, error) {
			asked = append(asked, id)
			return activities.FoundUser{}, nil
		})
	})
	require.Len(t, started, 1)
	require.Equal(t, []SyncRequest{{Slug: "AdaLovel", Trigger: pairing.TriggerCRMChange, RecordID: "003000000000001AAA"}}, started[0])
	require.Equal(t, []string{"someone@example.org"}, asked, "Award Force is asked only about the record the ledger does not know")
	require.Equal(t, [][]string{{"003000000000001AAA", "003000000000002AAA"}}, org.recalled)
}

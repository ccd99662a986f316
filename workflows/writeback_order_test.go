package workflows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// titleSync runs a UserSync whose lane decided, at the second decidedAt,
// to pull a job title into Award Force; newer says whether the lane has
// decided the person again since.
func titleSync(t *testing.T, decidedAt int64, newer bool) (UserSyncResult, []int64, bool) {
	t.Helper()
	spec := pairing.Default()
	p := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	title := pairing.Change{Field: "JobTitle", Source: "Title", Before: "Countess", After: "Enchantress"}
	f := &fakeLanes{answer: func(req PairRequest) []UserSyncResult {
		d := pairing.Decision{Action: pairing.ActionNoChange, RecordID: "003000000000001AAA", AwardForce: []pairing.Change{title}}
		return []UserSyncResult{{Slug: "AbCdEfGh", Outcome: OutcomeUnchanged, Decision: d, RecordID: d.RecordID, DecidedAt: decidedAt}}
	}}
	env := laneEnv(t, f)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(p, nil).Once()
	var asked []int64
	env.OnActivity(coord.DecidedSince, mock.Anything, "AbCdEfGh", mock.Anything).Return(func(_ context.Context, _ string, at int64) (bool, error) {
		asked = append(asked, at)
		return newer, nil
	})
	wrote := false
	env.OnActivity(af.UpdateUser, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.UpdateUserInput) (activities.UpdateUserResult, error) {
		wrote = true
		return activities.UpdateUserResult{Updated: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}, nil
	})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: UserSyncWorkflowID("AbCdEfGh")})
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerManual, Spec: *spec})
	require.NoError(t, env.GetWorkflowError())
	var res UserSyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res, asked, wrote
}

func TestAWriteBackTheLaneDecidedAgainSinceIsLeftToTheNewerSync(t *testing.T) {
	res, asked, wrote := titleSync(t, 1_796_500_000, true)
	require.Equal(t, []int64{1_796_500_000}, asked, "the write-back asks the lane, with the second of the decision it writes")
	require.False(t, wrote, "an older decision's values are not written over a newer one's")
	require.Empty(t, res.Decision.AwardForce, "the audit writes nothing back")
	require.Contains(t, res.Decision.Reason, "left to a newer sync")
	require.Equal(t, OutcomeUnchanged, res.Outcome, "nothing was written: not updated")
}

func TestAWriteBackOfTheLanesLatestDecisionIsWritten(t *testing.T) {
	res, asked, wrote := titleSync(t, 1_796_500_000, false)
	require.Len(t, asked, 1)
	require.True(t, wrote)
	require.Equal(t, OutcomeUpdated, res.Outcome)
	require.Len(t, res.Decision.AwardForce, 1)
}

func TestAWriteBackOfAnAnswerWithoutItsSecondDoesNotAsk(t *testing.T) {
	// A lane from before write-backs-follow-the-lane answers no second.
	_, asked, wrote := titleSync(t, 0, true)
	require.Empty(t, asked)
	require.True(t, wrote)
}

func TestAChunksWriteBackFollowsTheLanesOrder(t *testing.T) {
	w := newWorld(20)
	title := pairing.Change{Field: "JobTitle", Source: "Title", Before: "", After: "Countess"}
	f := &fakeLanes{answer: func(req PairRequest) []UserSyncResult {
		var out []UserSyncResult
		for _, it := range req.Items {
			d := pairing.Decision{Action: pairing.ActionNoChange, RecordID: "003000000000001AAA", AwardForce: []pairing.Change{title}}
			out = append(out, UserSyncResult{Slug: it.Profile.Slug, Outcome: OutcomeUnchanged, Decision: d, RecordID: d.RecordID, DecidedAt: 1_796_500_000})
		}
		return out
	}}
	env := laneBackfillEnv(w, f)
	// The lane decided U0000003 again after the chunk's decision (a single
	// sync, another backfill): its write-back is that sync's to make.
	env.OnActivity(coord.DecidedSince, mock.Anything, mock.Anything, int64(1_796_500_000)).Return(func(_ context.Context, slug string, _ int64) (bool, error) {
		return slug == "U0000003", nil
	})
	var wrote []string
	env.OnActivity(af.UpdateUser, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.UpdateUserInput) (activities.UpdateUserResult, error) {
		wrote = append(wrote, in.Slug)
		return activities.UpdateUserResult{}, nil
	})
	env.ExecuteWorkflow(Backfill, BackfillInput{Spec: *pairing.Default(), PagesPerChunk: 1})
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, wrote, 19, "every user but the one decided again since")
	require.NotContains(t, wrote, "U0000003")
	env.AssertActivityNotCalled(t, "SyncStartedSince", mock.Anything, mock.Anything, mock.Anything)
}

func TestTheLaneTellsWhenItLastDecidedAPerson(t *testing.T) {
	l := &lane{st: LaneState{Written: map[string]Written{"AdaLovel": {1_796_400_000, 1_796_500_000, 7}}}}
	at, err := l.decided("AdaLovel")
	require.NoError(t, err)
	require.Equal(t, int64(1_796_500_000), at, "the second of the last decision, not the version")
	at, err = l.decided("Unknown1")
	require.NoError(t, err)
	require.Zero(t, at, "someone the lane does not remember")
}

// laneAnswers is a Temporal client whose person's lane answers the decided
// query with decided and its status with memorySince, and whose user's
// sync (UserSync) last started at syncStarted (zero: never).
type laneAnswers struct {
	client.Client
	decided     int64
	memorySince time.Time
	syncStarted time.Time
	described   bool
}

func (c *laneAnswers) QueryWorkflow(_ context.Context, id, _, query string, args ...any) (converter.EncodedValue, error) {
	if id != LaneWorkflowID(LaneOf("AbCdEfGh")) {
		return nil, fmt.Errorf("asked workflow %s, not the person's lane", id)
	}
	var answer any
	switch query {
	case LaneDecidedQuery:
		answer = c.decided
	case LaneQuery:
		answer = LaneStatus{MemorySince: c.memorySince}
	default:
		return nil, fmt.Errorf("unknown query %q", query)
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(answer)
	return client.NewValue(p), err
}

func (c *laneAnswers) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	c.described = true
	if id != UserSyncWorkflowID("AbCdEfGh") {
		return nil, fmt.Errorf("described workflow %s, not the person's sync", id)
	}
	if c.syncStarted.IsZero() {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{StartTime: timestamppb.New(c.syncStarted)}}, nil
}

// A lane that forgot the person cannot say whether it decided them again:
// a sync of theirs started after the decision can, and is asked only then.
func TestALaneThatForgotThePersonLeavesTheAnswerToTheirSyncs(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		lane        laneAnswers
		newer, asks bool
	}{
		{"remembered, decided again since", laneAnswers{decided: at.Unix() + 5, memorySince: at.Add(time.Hour)}, true, false},
		{"remembered, not decided since", laneAnswers{decided: at.Unix(), memorySince: at.Add(-time.Hour)}, false, false},
		{"not remembered, memory reaches the decision", laneAnswers{memorySince: at.Add(-time.Minute), syncStarted: at.Add(time.Minute)}, false, false},
		{"forgotten, a sync started since", laneAnswers{memorySince: at.Add(time.Hour), syncStarted: at.Add(time.Minute)}, true, true},
		{"forgotten, a sync started within the same second", laneAnswers{memorySince: at.Add(time.Hour), syncStarted: at.Add(500 * time.Millisecond)}, false, true},
		{"forgotten, the last sync started before", laneAnswers{memorySince: at.Add(time.Hour), syncStarted: at.Add(-time.Minute)}, false, true},
		{"forgotten, no sync at all", laneAnswers{memorySince: at.Add(time.Hour)}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lane := tc.lane
			c := &Coordinator{Client: &lane}
			newer, err := c.DecidedSince(context.Background(), "AbCdEfGh", at.Unix())
			require.NoError(t, err)
			require.Equal(t, tc.newer, newer)
			require.Equal(t, tc.asks, lane.described, "whether the person's sync was asked")
		})
	}
}

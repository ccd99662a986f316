package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// callCounter follows a chunk's Award Force calls under a paced budget:
// the permits asked and the calls made with them, and the most that were
// ever asked for and not yet made (each is a workflow goroutine waiting).
type callCounter struct {
	mu                    sync.Mutex
	asked, made, mostOpen int
	requests              int
	reads, writes         map[string]int
}

func newCallCounter() *callCounter {
	return &callCounter{reads: map[string]int{}, writes: map[string]int{}}
}

func (c *callCounter) ask(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked += n
	c.requests++
	c.mostOpen = max(c.mostOpen, c.asked-c.made)
}

// did counts a call made, and in kind (when not nil) one more for slug.
func (c *callCounter) did(kind map[string]int, slug string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.made++
	if kind != nil {
		kind[slug]++
	}
}

// lateSync is the user whose newer sync started while their chunk ran.
const lateSync = "U0000290"

// windowEnv is a chunk environment over w whose budget grants each permit
// request ten permits at a time, a permit every millisecond (Award Force's
// pace, faster), counting the calls in c.
func windowEnv(w *world, c *callCounter) *testsuite.TestWorkflowEnvironment {
	env := chunkEnv()
	grantPaced(env, 10, time.Millisecond, func(req PermitRequest) { c.ask(req.N) })
	env.OnActivity(af.ListUsers, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.ListUsersInput) (activities.ListUsersResult, error) {
		c.did(nil, "") // a page listed
		return w.listUsers(ctx, in)
	})
	env.OnActivity(af.GetUsers, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.GetUsersInput) ([]activities.UserRead, error) {
		for _, slug := range in.Slugs {
			c.did(c.reads, slug)
		}
		return w.getUsers(ctx, in)
	})
	env.OnActivity(af.UpdateUser, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.UpdateUserInput) (activities.UpdateUserResult, error) {
		c.did(c.writes, in.Slug)
		return activities.UpdateUserResult{}, nil
	})
	// A newer sync of one user late in the list (lateSync) started since:
	// the chunk's write-back of theirs, started late by the window, is
	// still checked and not made.
	env.OnActivity(coord.SyncStartedSince, mock.Anything, mock.Anything, mock.Anything).Return(func(_ context.Context, slug string, _ time.Time) (bool, error) {
		return slug == lateSync, nil
	})
	return mockSalesforce(env, w)
}

// runWindowChunk runs a chunk of w's pages (100 users each), whose spec
// reads a profile field and writes every record's id back.
func runWindowChunk(t *testing.T, env *testsuite.TestWorkflowEnvironment, pages int) ChunkResult {
	t.Helper()
	spec := pairing.Default()
	spec.RecordIDField = "SfRecord"
	env.ExecuteWorkflow(BackfillChunk, ChunkInput{Spec: *spec, FirstPage: 1, LastPage: pages})
	require.NoError(t, env.GetWorkflowError())
	var res ChunkResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.Users, 100*pages)
	require.Zero(t, res.Counts.Failed, "%+v", res.Counts)
	return res
}

// A chunk keeps at most chunkCallWindow of its reads, and of its
// write-backs, waiting for a permit or under way: each is a workflow
// goroutine, and a worker of many integrations held hundreds of thousands.
// Every user is still read once and every record's id written back once,
// but for a user a newer sync writes instead.
func TestAChunkKeepsItsCallsWithinAWindow(t *testing.T) {
	w := newWorld(300)
	c := newCallCounter()
	res := runWindowChunk(t, windowEnv(w, c), 3)

	require.LessOrEqual(t, c.mostOpen, chunkCallWindow, "calls asked for and not yet made")
	require.Equal(t, c.asked, c.made+1, "a permit a call, and one for the write-back found superseded once it held it")
	require.Len(t, c.reads, 300)
	for slug, n := range c.reads {
		require.Equal(t, 1, n, "reads of %s", slug)
	}
	backs := 0
	for _, u := range res.Users {
		if len(u.Decision.AwardForce) > 0 && u.Slug != lateSync {
			backs++
			require.Equal(t, 1, c.writes[u.Slug], "write-backs of %s", u.Slug)
		}
	}
	require.Len(t, c.writes, backs)
	require.Contains(t, res.Users[290].Decision.Reason, "left to a newer sync", "%s's write-back", lateSync)
	require.Zero(t, c.writes[lateSync], "a write-back behind a newer sync")
	require.Greater(t, backs, chunkCallWindow, "enough write-backs to fill the window")
	// The permits are asked for as the window moves, a step at a time (one
	// request a step of reads and of write-backs, and the list's).
	require.Greater(t, c.requests, 2*300/chunkCallWindow, "permit requests")
	require.LessOrEqual(t, c.requests, 2*(300/chunkCallStep)+3, "permit requests")
}

// A chunk started before ChangeChunkCallWindow starts all its calls at once,
// as it did (TestReplayRecordedHistories replays such chunks' histories,
// testdata/v30).
func TestAChunkFromBeforeTheWindowStartsEveryCallAtOnce(t *testing.T) {
	w := newWorld(100)
	c := newCallCounter()
	env := windowEnv(w, c)
	env.OnGetVersion(ChangeChunkCallWindow, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	runWindowChunk(t, env, 1)
	require.Equal(t, 100, c.mostOpen, "every read asked for at once")
	require.Len(t, c.reads, 100)
}

// A window never holds more than its size open, starts every call once and
// in order, a step's worth at a time; a window as large as its calls starts
// them all at once, as chunks did before ChangeChunkCallWindow.
func TestACallWindowStartsAStepAtATime(t *testing.T) {
	for _, c := range []struct{ n, size, topUps int }{
		{n: 300, size: chunkCallWindow, topUps: 1 + (300-chunkCallWindow)/chunkCallStep},
		{n: 310, size: chunkCallWindow, topUps: 2 + (310-chunkCallWindow)/chunkCallStep},
		{n: 30, size: 30, topUps: 1},
		{n: 0, size: 0, topUps: 0},
	} {
		w := callWindow{n: c.n, size: c.size}
		next, topUps := 0, 0
		for ended := 0; ended <= c.n; ended++ {
			from, to := w.more(ended)
			require.Equal(t, next, from, "n=%d: calls start in order", c.n)
			if to > from {
				topUps++
			}
			next = to
			require.LessOrEqual(t, next-ended, c.size, "n=%d: open after %d ended", c.n, ended)
			if ended < c.n {
				require.Greater(t, next, ended, "n=%d: the next to end has started", c.n)
			}
		}
		require.Equal(t, c.n, next, "every call started")
		require.Equal(t, c.topUps, topUps, "n=%d: starts", c.n)
	}
}

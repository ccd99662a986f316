package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// pacedChunkEnv is a chunk environment over w whose budget grants each
// permit request in grants of up to block permits, one every block×every,
// each permit every apart, as the budget paces.
func pacedChunkEnv(w *world, block int, every time.Duration) *testsuite.TestWorkflowEnvironment {
	env := chunkEnv()
	grantPaced(env, block, every, nil)
	env.OnActivity(af.ListUsers, mock.Anything, mock.Anything).Return(w.listUsers)
	return mockSalesforce(env, w)
}

// grantPaced has env's budget grant each permit request in grants of up
// to block permits, one every block×every, each permit every apart, as
// the budget paces; seen, when not nil, is told of each request first.
func grantPaced(env *testsuite.TestWorkflowEnvironment, block int, every time.Duration, seen func(PermitRequest)) {
	env.OnActivity(coord.RequestPermits, mock.Anything, mock.Anything).Return(func(_ context.Context, req PermitRequest) error {
		if seen != nil {
			seen(req)
		}
		for i := 0; i < req.N; i += block {
			n := min(block, req.N-i)
			env.RegisterDelayedCallback(func() {
				env.SignalWorkflowByID(req.ReplyTo, PermitGrantSignal, PermitGrant{Request: req.ID, N: n, From: env.Now(), Every: every})
			}, time.Duration(i)*every)
		}
		return nil
	})
}

// The reads whose permits come in one grant go in one GetUsers activity,
// each with its permit's moment; a read Award Force refuses with a 429
// takes a new permit after its Retry-After and is read again; the others
// are read once.
func TestReadsGrantedTogetherShareAnActivity(t *testing.T) {
	w := newWorld(10)
	env := pacedChunkEnv(w, 4, time.Second)
	var calls []activities.GetUsersInput
	reads := map[string]int{}
	get := func(_ context.Context, slug string) (pairing.Profile, error) {
		for _, u := range w.users {
			if u.Slug == slug {
				return u, nil
			}
		}
		t.Fatalf("no user %s", slug)
		return pairing.Profile{}, nil
	}
	env.OnActivity(af.GetUsers, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.GetUsersInput) ([]activities.UserRead, error) {
		calls = append(calls, in)
		out := make([]activities.UserRead, len(in.Slugs))
		for i, slug := range in.Slugs {
			if reads[slug]++; slug == "U0000003" && reads[slug] == 1 {
				out[i].Failure = &activities.ReadFailure{Type: activities.ErrTypeAwardForceRateLimited, Message: "Too Many Attempts.", RetryAfter: 3 * time.Second}
				continue
			}
			p, err := get(ctx, slug)
			require.NoError(t, err)
			out[i].Profile = p
		}
		return out, nil
	})
	spec := pairing.Default()
	spec.Fields = append(spec.Fields, pairing.FieldPair{AwardForce: "JobTitle", CRM: "Title"})
	env.ExecuteWorkflow(BackfillChunk, ChunkInput{Spec: *spec, FirstPage: 1, LastPage: 1})
	require.NoError(t, env.GetWorkflowError())
	var res ChunkResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Len(t, res.Users, 10)
	require.Zero(t, res.Counts.Failed, "%+v", res.Users)

	var sizes []int
	for _, in := range calls {
		sizes = append(sizes, len(in.Slugs))
		require.Len(t, in.At, len(in.Slugs))
		for i := 1; i < len(in.At); i++ {
			require.Equal(t, time.Second, in.At[i].Sub(in.At[i-1]), "each read at its own permit's moment: %v", in.At)
		}
	}
	// Permits go to the oldest calls waiting: the refused read's new permit
	// is the next waiting read's, and it takes one of the first request's.
	require.ElementsMatch(t, []int{4, 4, 2, 1}, sizes, "an activity a grant")
	for _, u := range w.users {
		want := 1
		if u.Slug == "U0000003" {
			want = 2
		}
		require.Equal(t, want, reads[u.Slug], "reads of %s", u.Slug)
	}
	env.AssertActivityNumberOfCalls(t, "GetUser", 0)
}

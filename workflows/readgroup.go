package workflows

import (
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
)

// Reads in groups (ChangeChunkReadsInGroups): a backfill chunk reads its
// users' profiles one Award Force request a user, each with its permit.
// The permits of one grant (up to four seconds' worth while the budget
// paces, all at once without a limit) go to one GetUsers activity, which
// makes each read at its permit's moment: an activity and a workflow task
// a grant instead of a read.

// maxReadGroup bounds the reads of one GetUsers activity (its input and
// result, and the requests it makes at once without a limit).
const maxReadGroup = 25

// readGroup is the reads granted permits together: once each has joined
// (readUser), one GetUsers activity makes them all.
type readGroup struct {
	size  int // reads handed a permit of the group
	slugs []string
	at    []time.Time
	sets  []workflow.Settable // each read's outcome (an activities.UserRead)
}

// join adds a read at its moment, and runs the group's activity once the
// last has joined. The future holds the read's activities.UserRead.
func (r *readGroup) join(ctx workflow.Context, slug string, at time.Time) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	r.slugs = append(r.slugs, slug)
	r.at = append(r.at, at)
	r.sets = append(r.sets, set)
	if len(r.sets) < r.size {
		return f
	}
	r.inOrder()
	o := workflow.GetActivityOptions(ctx)
	o.ScheduleToCloseTimeout = 0
	o.RetryPolicy = &temporal.RetryPolicy{MaximumAttempts: 1}
	// The last read starts at its moment at the latest: the activity has the
	// time between the first and last moments on top of one call's.
	if first, last := r.at[0], r.at[len(r.at)-1]; !first.IsZero() && last.After(first) {
		o.StartToCloseTimeout += last.Sub(first)
	}
	o.Summary = readsSummary(r.slugs)
	in := activities.GetUsersInput{Slugs: r.slugs, At: r.at}
	if r.at[0].IsZero() {
		in.At = nil
	}
	reads := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, o), af.GetUsers, in)
	sets := r.sets
	workflow.Go(ctx, func(ctx workflow.Context) {
		var out []activities.UserRead
		err := reads.Get(ctx, &out)
		for i, set := range sets {
			switch {
			case err != nil:
				set.Set(nil, err)
			case i < len(out):
				set.Set(out[i], nil)
			default:
				set.Set(nil, temporal.NewApplicationError("GetUsers answered fewer reads than it was asked", activities.ErrTypeUnexpected))
			}
		}
	})
	return f
}

// inOrder sorts the group's reads by moment (its members join in the
// order their coroutines run).
func (r *readGroup) inOrder() {
	idx := make([]int, len(r.slugs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return r.at[idx[a]].Before(r.at[idx[b]]) })
	slugs, at, sets := make([]string, len(idx)), make([]time.Time, len(idx)), make([]workflow.Settable, len(idx))
	for i, j := range idx {
		slugs[i], at[i], sets[i] = r.slugs[j], r.at[j], r.sets[j]
	}
	r.slugs, r.at, r.sets = slugs, at, sets
}

// readsSummary names a group's users for the UI.
func readsSummary(slugs []string) string {
	if len(slugs) == 1 {
		return "Read the profile fields of user " + slugs[0]
	}
	return "Read the profile fields of users " + strings.Join(slugs, ", ")
}

// readUser reads slug's profile within the budget, as call does with
// GetUser (a failed read takes a new permit, after its Retry-After or a
// backoff, within ctx's activity options' ScheduleToCloseTimeout), but in
// one GetUsers activity with the other reads its permit was granted with.
// The future holds the read's pairing.Profile.
func (g *afGate) readUser(ctx workflow.Context, slug string) workflow.Future {
	if !g.budgeted {
		return g.call(ctx, af.GetUser, slug)
	}
	return g.eachPermit(ctx, true, func(ctx workflow.Context, t permitTicket) workflow.Future {
		f, set := workflow.NewFuture(ctx)
		joined := t.group.join(ctx, slug, t.Slot)
		workflow.Go(ctx, func(ctx workflow.Context) {
			var read activities.UserRead
			err := joined.Get(ctx, &read)
			switch {
			case err != nil:
				set.Set(nil, err)
			case read.Failure != nil:
				set.Set(nil, read.Failure.Err())
			default:
				set.Set(read.Profile, nil)
			}
		})
		return f
	})
}

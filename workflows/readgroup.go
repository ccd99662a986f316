package workflows

import (
	"slices"
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
	reads []groupRead
}

// groupRead is one read of a group: its user, its moment, and the future
// of its outcome.
type groupRead struct {
	slug string
	at   time.Time
	set  workflow.Settable
}

// join adds a read at its moment, and runs the group's activity once the
// last has joined. The future holds the read's pairing.Profile, or its
// failure as GetUser would have failed.
func (r *readGroup) join(ctx workflow.Context, slug string, at time.Time) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	r.reads = append(r.reads, groupRead{slug: slug, at: at, set: set})
	if len(r.reads) < r.size {
		return f
	}
	// Members join in the order their coroutines run: the activity reads
	// in the order of the moments.
	slices.SortStableFunc(r.reads, func(a, b groupRead) int { return a.at.Compare(b.at) })
	reads := r.reads
	in := activities.GetUsersInput{}
	for _, rd := range reads {
		in.Slugs = append(in.Slugs, rd.slug)
		in.At = append(in.At, rd.at)
	}
	if reads[0].at.IsZero() {
		in.At = nil // a grant without moments: every read at once
	}
	o := workflow.GetActivityOptions(ctx)
	o.ScheduleToCloseTimeout = 0
	o.RetryPolicy = &temporal.RetryPolicy{MaximumAttempts: 1}
	// The last read starts at its moment at the latest: the activity has the
	// time between the first and last moments on top of one call's.
	if len(in.At) > 1 {
		o.StartToCloseTimeout += in.At[len(in.At)-1].Sub(in.At[0])
	}
	o.Summary = readsSummary(in.Slugs)
	done := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, o), af.GetUsers, in)
	workflow.Go(ctx, func(ctx workflow.Context) {
		var out []activities.UserRead
		err := done.Get(ctx, &out)
		if err == nil && len(out) != len(reads) {
			err = temporal.NewApplicationError("GetUsers answered another number of reads than it was asked", activities.ErrTypeUnexpected)
		}
		for i, rd := range reads {
			switch {
			case err != nil:
				rd.set.Set(nil, err)
			case out[i].Failure != nil:
				rd.set.Set(nil, out[i].Failure.Err())
			default:
				rd.set.Set(out[i].Profile, nil)
			}
		}
	})
	return f
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
		return t.group.join(ctx, slug, t.Slot)
	})
}

package workflows

// A lane remembers, for a while, which version of each person it wrote:
// an older version is never written over a newer one, and a profile read
// before the memory begins is read again (freshReads).

import (
	"cmp"
	"errors"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// expire forgets doubts that have passed, specs no request uses, and the
// oldest remembered versions (see memoryWindow and memoryCap).
func (l *lane) expire(now time.Time) {
	for k, until := range l.st.Doubt {
		if !until.After(now) {
			delete(l.st.Doubt, k)
		}
	}
	used := map[string]bool{}
	for _, r := range l.st.Requests {
		used[r.Spec] = true
	}
	for fp := range l.st.Specs {
		if !used[fp] {
			delete(l.st.Specs, fp)
		}
	}
	// Keep every write since the oldest waiting profile was read, and at
	// least memoryWindow's worth.
	cutoff := now.Add(-memoryWindow)
	hold := func(it *LaneItem) {
		if it.ReadAt.Before(cutoff) && !it.ReadAt.Before(l.st.MemorySince) {
			cutoff = it.ReadAt
		}
	}
	for _, it := range l.st.Items {
		hold(it)
	}
	for it := range l.flying {
		hold(it)
	}
	if q := l.st.Queue; q != nil && q.Queued > 0 && !q.OldestRead.IsZero() {
		hold(&LaneItem{ReadAt: q.OldestRead})
	}
	l.forgetBefore(cutoff.Unix())
	if l.bounded {
		l.forgetFadedBefore(cutoff.Unix())
		if len(l.st.Written) > memoryCap {
			l.fade(memoryCap * 9 / 10) // a tenth at a time: fading sorts the memory
		}
	} else if len(l.st.Written) > memoryCap {
		ats := make([]int64, 0, len(l.st.Written))
		for _, w := range l.st.Written {
			ats = append(ats, w[1])
		}
		slices.Sort(ats)
		l.forgetBefore(ats[len(ats)-memoryCap] + 1)
	}
	l.capPaired()
}

// capPaired keeps the records of the pairedCap people written last (ties
// by slug, so that every replay forgets the same ones).
func (l *lane) capPaired() {
	if len(l.st.Paired) <= pairedCap {
		return
	}
	slugs := l.oldestWrittenFirst(maps.Keys(l.st.Paired))
	for _, slug := range slugs[:len(slugs)-pairedCap] {
		delete(l.st.Paired, slug)
	}
}

// oldestWrittenFirst sorts slugs by their last write, oldest first (ties
// by slug: every replay sorts them alike).
func (l *lane) oldestWrittenFirst(slugs iter.Seq[string]) []string {
	return slices.SortedFunc(slugs, func(a, b string) int {
		return cmp.Or(cmp.Compare(l.st.Written[a][1], l.st.Written[b][1]), strings.Compare(a, b))
	})
}

// forgetBefore forgets the writes made before the Unix time t.
func (l *lane) forgetBefore(t int64) {
	forgot := false
	for slug, w := range l.st.Written {
		if w[1] < t {
			delete(l.st.Written, slug)
			delete(l.st.Paired, slug)
			forgot = true
		}
	}
	if since := time.Unix(t, 0).UTC(); forgot && since.After(l.st.MemorySince) {
		l.st.MemorySince = since
	}
}

// decided answers LaneDecidedQuery: when the lane last decided the person
// of slug (the second of their last write, or of the decision that found
// their record up to date), 0 when it does not remember them.
func (l *lane) decided(slug string) (int64, error) {
	return l.st.Written[slug][1], nil
}

// supersededBy reports whether the lane wrote a newer version of person it
// than this one, and that version.
func (r *laneRun) supersededBy(it *LaneItem) (Written, bool) {
	w, ok := r.st.Written[it.who()]
	return w, ok && !it.Profile.Updated.IsZero() && it.Profile.Updated.Unix() < w[0]
}

// written remembers that it's version of its person is what the CRM now
// holds, decided at now: with inOrder, a second after the person's last
// decision if that was not before now's second.
func (r *laneRun) written(it *LaneItem, now time.Time) {
	w := Written{it.Profile.Updated.Unix(), now.Unix(), int64(ProfileDigest(&r.b.spec, it.Profile))}
	if it.Profile.Updated.IsZero() {
		w[0], w[2] = 0, 0
	}
	prev, ok := r.st.Written[it.who()]
	if ok && prev[0] > w[0] {
		w[0], w[2] = prev[0], prev[2]
	}
	if ok && r.inOrder && prev[1] >= w[1] {
		w[1] = prev[1] + 1
	}
	r.st.Written[it.who()] = w
}

// tied lists the people the lane last wrote at the very version they
// bring, with other values: two edits within one second, of which only
// Award Force knows the later one (ChangeSameSecondEdits). Only a batch
// that meets one asks for the version: no older history could.
func (r *laneRun) tied(ctx workflow.Context) map[int]bool {
	var out map[int]bool
	for i, it := range r.b.items {
		w, ok := r.st.Written[it.who()]
		if !ok || w[2] == 0 || it.Profile.Updated.IsZero() || it.Profile.Updated.Unix() != w[0] ||
			int64(ProfileDigest(&r.b.spec, it.Profile)) == w[2] {
			continue
		}
		if out == nil {
			out = map[int]bool{}
		}
		out[i] = true
	}
	if out != nil && workflow.GetVersion(ctx, ChangeSameSecondEdits, workflow.DefaultVersion, 1) < 1 {
		return nil
	}
	return out
}

// freshReads reads again, from Award Force, the profiles read before the
// lane's memory begins (the lane cannot tell whether a newer version was
// written since) and those tied with the version it wrote.
func (r *laneRun) freshReads(ctx workflow.Context) {
	var stale []int
	tied := r.tied(ctx)
	for i, it := range r.b.items {
		switch {
		case tied[i]:
			stale = append(stale, i)
		case !r.st.unsure(it):
		case r.readsLate && !it.Deleted:
			if r.unsure == nil {
				r.unsure = map[int]bool{}
			}
			r.unsure[i] = true // read once the lookup shows a write
		default:
			stale = append(stale, i)
		}
	}
	r.readAgain(ctx, stale, func(i int, p pairing.Profile, readAt time.Time) {
		it := r.b.items[i]
		it.Profile, it.ReadAt = p, readAt
		if r.b.key(it) != r.b.keys[it] || r.b.orgKey(it) != r.b.orgs[it] {
			// The identifier (or organisation) changed since the first
			// read: the batch does not hold the new one. The person
			// waits for a batch that does.
			r.outcomes[i].back = true
		}
	})
}

// readAgain reads the profiles of the people is from Award Force, a
// bounded number at a time, and hands each one read to got; a user gone
// is answered skipped, a failed read settled as a failed call.
func (r *laneRun) readAgain(ctx workflow.Context, is []int, got func(i int, p pairing.Profile, readAt time.Time)) {
	if len(is) == 0 {
		return
	}
	actx := workflow.WithActivityOptions(ctx, awardForceOptions(ctx))
	readAt := workflow.Now(ctx)
	r.reads.each(ctx, len(is), func(j int) workflow.Future {
		it := r.b.items[is[j]]
		return r.af.gateFor(it.Integration).call(summarized(readsOf(actx, it), "Read Award Force user %s again", it.Profile.Slug), af.GetUser, it.Profile.Slug)
	}, func(j int, f workflow.Future) {
		i := is[j]
		var p pairing.Profile
		err := f.Get(ctx, &p)
		r.st.Counts.FreshReads++
		var appErr *temporal.ApplicationError
		switch {
		case err == nil:
			got(i, p, readAt)
		case errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeAwardForceNotFound:
			r.answer(i, UserSyncResult{Outcome: OutcomeSkipped, Decision: pairing.Decision{Action: pairing.ActionSkip, Reason: "the user no longer exists in Award Force"}})
		default:
			r.callFailed(workflow.Now(ctx), []int{i}, err)
		}
	})
}

// readsOf is actx for reading the person it from Award Force: on the
// Award Force task queue of the person's integration (a dependent one's
// worker holds its key).
func readsOf(actx workflow.Context, it *LaneItem) workflow.Context {
	if it.Integration == "" {
		return actx
	}
	o := workflow.GetActivityOptions(actx)
	o.TaskQueue = namesOf(actx).of(it.Integration).AwardForceTaskQueue()
	return workflow.WithActivityOptions(actx, o)
}

// readBeforeWriting reads again, from Award Force, the people the lane is
// unsure of (readsLate) that w would write: one whose profile is what the
// lane holds is written; one with a newer profile waits again with it, to
// be decided on it; the others are settled by readAgain. Those not
// written leave w.
func (r *laneRun) readBeforeWriting(ctx workflow.Context, w *laneWrites) {
	var is []int
	for _, i := range slices.Concat(w.creates, w.updates) {
		if r.unsure[i] {
			is = append(is, i)
		}
	}
	keep := map[int]bool{}
	r.readAgain(ctx, is, func(i int, p pairing.Profile, readAt time.Time) {
		it := r.b.items[i]
		same := p.Updated.Equal(it.Profile.Updated) && ProfileDigest(&r.b.spec, p) == ProfileDigest(&r.b.spec, it.Profile)
		it.Profile, it.ReadAt = p, readAt
		if same {
			keep[i] = true
			return
		}
		r.outcomes[i].back = true
	})
	drop := func(i int) bool { return r.unsure[i] && !keep[i] }
	w.creates, w.in.Creates = without(w.creates, w.in.Creates, drop)
	w.updates, w.in.Updates = without(w.updates, w.in.Updates, drop)
}

// without is the people is and their writes ws (one each, in the same
// order) less those drop names.
func without[T any](is []int, ws []T, drop func(int) bool) ([]int, []T) {
	var keptIs []int
	var keptWs []T
	for j, i := range is {
		if !drop(i) {
			keptIs, keptWs = append(keptIs, i), append(keptWs, ws[j])
		}
	}
	return keptIs, keptWs
}

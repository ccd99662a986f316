package workflows

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// fatalErrorTypes end a whole backfill: every other chunk would fail the
// same way, so going on would only spend quota. Anything else fails one
// user, or one chunk, and the backfill goes on.
var fatalErrorTypes = map[string]bool{
	activities.ErrTypeInvalidSpec:          true,
	activities.ErrTypeAwardForceAuth:       true,
	activities.ErrTypeSalesforceAuth:       true,
	activities.ErrTypeSalesforceOrgRefused: true,
}

// isFatal reports whether err, or any application error it wraps, is of a
// fatal type.
func isFatal(err error) bool {
	var appErr *temporal.ApplicationError
	for errors.As(err, &appErr) {
		if fatalErrorTypes[appErr.Type()] {
			return true
		}
		err = appErr.Unwrap()
	}
	return false
}

// backfillAwardForceOptions bounds a backfill's Award Force activities. The
// fleet-wide rate limit can keep a chunk's requests queued for a while, so
// the overall bound is generous; permanent errors still end at once.
func backfillAwardForceOptions(ctx workflow.Context) workflow.ActivityOptions {
	o := awardForceOptions(ctx)
	o.ScheduleToCloseTimeout = 6 * time.Hour
	return o
}

// backfillSalesforceOptions bounds a backfill's Salesforce activities: long
// enough to sit out a spent daily allocation (retried every QuotaRetryDelay)
// rather than fail thousands of users.
func backfillSalesforceOptions(ctx workflow.Context) workflow.ActivityOptions {
	o := salesforceOptions(ctx)
	o.ScheduleToCloseTimeout = 24 * time.Hour
	o.RetryPolicy.MaximumInterval = 5 * time.Minute
	return o
}

// BackfillChunk pairs the users of a few Award Force pages at once: it
// lists them, looks all of them up with as few SOQL queries as the URI limit
// allows, decides each with the same Decide as a single sync, and writes
// with sObject Collections (up to 200 records a call). Users that need no
// change cost no write. A record Salesforce refuses is reported in its
// user's result and never fails the chunk.
func BackfillChunk(ctx workflow.Context, in ChunkInput) (*ChunkResult, error) {
	c := &chunk{in: in, res: &ChunkResult{}, progress: ChunkProgress{Stage: StageListing}, readAt: workflow.Now(ctx),
		af: newAFGate(ctx, ClassBackfill)}
	if err := workflow.SetQueryHandler(ctx, ChunkProgressQuery, func() (ChunkProgress, error) {
		p := c.progress
		p.Pairing = c.lanes.Waiting
		return p, nil
	}); err != nil {
		return nil, err
	}
	afCtx := workflow.WithActivityOptions(ctx, backfillAwardForceOptions(ctx))
	sfCtx := workflow.WithActivityOptions(ctx, backfillSalesforceOptions(ctx))
	if err := c.list(afCtx); err != nil {
		return nil, err
	}
	c.progress.Stage = StageProfiles
	if err := c.fetchProfileFields(afCtx); err != nil {
		return nil, err
	}
	if in.DryRun {
		// A dry run looks up and decides itself, and writes nothing.
		c.progress.Stage = StageLookup
		if err := c.lookup(sfCtx); err != nil {
			return nil, err
		}
		if err := c.decide(ctx); err != nil {
			return nil, err
		}
	} else {
		// Chunks that wrote Salesforce themselves, before the lanes, are
		// retired (CHANGELOG): the marker stays, its old branch is gone.
		workflow.GetVersion(ctx, ChangePairThroughLanes, 1, 1)
		c.progress.Stage = StagePairing
		if err := c.pair(ctx); err != nil {
			return nil, err
		}
		c.progress.Stage = StageWritingBack
		if err := c.writeBack(afCtx); err != nil {
			return nil, err
		}
	}
	for _, u := range c.res.Users {
		c.res.Counts.Count(u.Outcome)
	}
	if !in.DryRun {
		countChunk(ctx, c.res.Counts)
	}
	c.progress.Stage = StageDone
	if err := c.recordSearchAttributes(ctx); err != nil {
		workflow.GetLogger(ctx).Warn("Could not record search attributes", "error", err)
	}
	return c.res, nil
}

// recordSearchAttributes lists the chunk's failed and ambiguous users so
// that ops can find them in the UI.
func (c *chunk) recordSearchAttributes(ctx workflow.Context) error {
	var failed, ambiguous []string
	for _, u := range c.res.Users {
		switch {
		case u.Outcome == OutcomeFailed && len(failed) < MaxSlugsPerAttribute:
			failed = append(failed, u.Slug)
		case u.Outcome == OutcomeAmbiguous && len(ambiguous) < MaxSlugsPerAttribute:
			ambiguous = append(ambiguous, u.Slug)
		}
	}
	var updates []temporal.SearchAttributeUpdate
	if len(failed) > 0 {
		updates = append(updates, FailedUsersKey.ValueSet(failed))
	}
	if len(ambiguous) > 0 {
		updates = append(updates, AmbiguousUsersKey.ValueSet(ambiguous))
	}
	if len(updates) == 0 {
		return nil
	}
	return workflow.UpsertTypedSearchAttributes(ctx, updates...)
}

// chunk is one BackfillChunk's state; one method a step.
type chunk struct {
	in       ChunkInput
	profiles []pairing.Profile
	matches  map[string][]pairing.CRMRecord
	// lengths are the CRM fields' lengths, from the lookup (a dry run flags
	// values too long for them).
	lengths  map[string]int
	res      *ChunkResult
	progress ChunkProgress
	// readAt is no later than any of the chunk's Award Force reads.
	readAt time.Time
	lanes  requester
	af     *afGate
	// handedAt is when the chunk first handed users to the lanes; zero
	// for chunks that did not (dry runs, older executions).
	handedAt time.Time
	// considered counts the users, from the first, already handed to the
	// lanes or decided without them; who are the indices of those handed.
	considered int
	who        []int
	// windowed is 1 when the chunk keeps its calls within chunkCallWindow
	// (ChangeChunkCallWindow), -1 when not, 0 until asked.
	windowed int8
}

// chunkCallWindow bounds a chunk's profile reads, and its write-backs,
// waiting for a permit or under way at once (ChangeChunkCallWindow): two
// read groups' worth, far more than Award Force's pace consumes in the time
// the next step's permits take to be asked for.
const chunkCallWindow = 2 * maxReadGroup

// chunkCallStep is how many of a chunk's calls end before as many start:
// one permit request a step, not one a call (each is a local activity, a
// signal to the budget and a workflow task of the budget's).
const chunkCallStep = maxReadGroup

// callWindow starts n calls in order, at most size of them open (started
// and not ended) at once: once a step's worth of the oldest have ended
// (chunkCallStep), as many start. A window of n starts them all at once.
type callWindow struct{ n, size, started int }

// more says which calls start, [from, to), once the oldest ended have
// ended.
func (w *callWindow) more(ended int) (from, to int) {
	from = w.started
	if w.started == 0 || w.started-ended <= w.size-chunkCallStep {
		w.started = min(w.n, ended+w.size)
	}
	return from, w.started
}

// callWindow is how many of n calls the chunk starts before it waits for
// the first: all of them in executions from before ChangeChunkCallWindow,
// which is asked only when n is more than the window.
func (c *chunk) callWindow(ctx workflow.Context, n int) int {
	if n > chunkCallWindow && askedOnce(ctx, &c.windowed, ChangeChunkCallWindow) {
		return chunkCallWindow
	}
	return n
}

// pair hands the chunk's users to their pairing lanes and takes each one's
// audit from the answers. Users without an identifier are skipped here, as
// Decide would. A fatal refusal (a rejected grant, the API off for the org)
// fails the chunk, which stops the backfill.
func (c *chunk) pair(ctx workflow.Context) error {
	if err := c.handUpTo(ctx, len(c.profiles)); err != nil {
		return err
	}
	if len(c.who) == 0 {
		return nil
	}
	results, err := c.lanes.collect(ctx)
	if err != nil {
		return err
	}
	c.res.Counts.SalesforceCalls += int(math.Round(c.lanes.Calls))
	for _, i := range c.who {
		res := results[c.profiles[i].Slug]
		res.Slug = c.profiles[i].Slug
		c.res.Users[i] = res
		if fatalErrorTypes[res.ErrorType] {
			return temporal.NewNonRetryableApplicationError(trimType(res.Error, res.ErrorType), res.ErrorType, nil)
		}
	}
	return nil
}

// handUpTo hands the users from the first not yet considered up to end
// (excluded) to their pairing lanes, without waiting for their answers.
// Users without an identifier are decided here, as Decide would, and
// users that failed earlier are left out.
func (c *chunk) handUpTo(ctx workflow.Context, end int) error {
	spec := &c.in.Spec
	var items []PairItem
	for i := c.considered; i < end; i++ {
		p, u := c.profiles[i], &c.res.Users[i]
		switch {
		case u.Outcome != "":
			continue // failed earlier
		case c.in.Filter.Deleted:
			// A sweep of deleted users: their records are stamped, or left
			// alone, as awardforce_deletions says.
			items = append(items, PairItem{Profile: pairing.Profile{Slug: p.Slug}, ReadAt: c.readAt, Deleted: true})
		case !spec.Handles(pairing.TriggerBackfill) || activities.IdentifierKey(p.Values[spec.UniqueIdentifier.AwardForce]) == "":
			u.Decision = spec.Decide(pairing.TriggerBackfill, p, nil)
			u.Outcome = outcomeOf(u.Decision)
			continue
		default:
			items = append(items, PairItem{Profile: p, ReadAt: c.readAt})
		}
		c.who = append(c.who, i)
	}
	c.considered = end
	if len(items) == 0 {
		return nil
	}
	if c.handedAt.IsZero() {
		c.handedAt = workflow.Now(ctx)
	}
	return c.lanes.hand(ctx, *spec, pairing.TriggerBackfill, items)
}

// list reads the chunk's pages, all requested at once. The rate-limited
// queue may answer them in any order: each counts towards the progress as it
// arrives, and the users keep the list's order.
func (c *chunk) list(ctx workflow.Context) error {
	n := c.in.LastPage - c.in.FirstPage + 1
	pages := make([][]pairing.Profile, n)
	sel := workflow.NewSelector(ctx)
	var failed error
	listed := 0
	if c.in.FirstPageUsers != nil {
		// The backfill listed the first page already, to count the users.
		pages[0] = c.in.FirstPageUsers
		c.progress.Listed = len(pages[0])
		listed = 1
	}
	for i := listed; i < n; i++ {
		p := c.in.FirstPage + i
		in := activities.ListUsersInput{Page: p, PerPage: activities.PageSize, Filter: c.in.Filter}
		f := c.af.call(summarized(ctx, "List Award Force users, page %d", p), af.ListUsers, in)
		sel.AddFuture(f, func(f workflow.Future) {
			var page activities.ListUsersResult
			if err := f.Get(ctx, &page); err != nil {
				failed = cmp.Or(failed, err)
				return
			}
			c.res.Counts.AwardForceCalls++
			pages[i] = page.Users
			c.progress.Listed += len(page.Users)
			if c.in.MaxUsers > 0 {
				c.progress.Listed = min(c.progress.Listed, c.in.MaxUsers)
			}
		})
	}
	for range n - listed {
		sel.Select(ctx)
		if failed != nil {
			return failed
		}
	}
	for _, users := range pages {
		c.profiles = append(c.profiles, users...)
	}
	if c.in.MaxUsers > 0 && len(c.profiles) > c.in.MaxUsers {
		c.profiles = c.profiles[:c.in.MaxUsers]
	}
	c.res.Users = make([]UserSyncResult, len(c.profiles))
	for i, p := range c.profiles {
		c.res.Users[i].Slug = p.Slug
	}
	return nil
}

// fetchProfileFields replaces list data with each user's full profile, one
// request a user, but only when the spec maps profile fields: the list does
// not carry them. The reads granted permits together go in one activity
// (readUser, since ChangeChunkReadsInGroups). Since ChangeChunkPairsAsRead,
// a chunk that writes hands its users to the lanes every PairEvery reads:
// the reads of a chunk take minutes at Award Force's pace, and its people
// are paired meanwhile instead of all at its end.
func (c *chunk) fetchProfileFields(ctx workflow.Context) error {
	if len(c.in.Spec.ProfileFieldSlugs()) == 0 || c.in.Filter.Deleted {
		return nil
	}
	grouped := workflow.GetVersion(ctx, ChangeChunkReadsInGroups, workflow.DefaultVersion, 1) >= 1
	every := 0 // no hands while reading
	if !c.in.DryRun && workflow.GetVersion(ctx, ChangeChunkPairsAsRead, workflow.DefaultVersion, 1) >= 1 {
		every = cmp.Or(max(c.in.PairEvery, 0), DefaultPairEvery)
	}
	futures := make([]workflow.Future, len(c.profiles))
	start := func(i int) {
		if slug := c.profiles[i].Slug; grouped {
			futures[i] = c.af.readUser(ctx, slug)
		} else {
			futures[i] = c.af.call(summarized(ctx, "Read the profile fields of user %s", slug), af.GetUser, slug)
		}
	}
	window := len(futures)
	if grouped {
		window = c.callWindow(ctx, len(futures))
	}
	win := callWindow{n: len(futures), size: window}
	topUp := func(ended int) {
		from, to := win.more(ended)
		for i := from; i < to; i++ {
			start(i)
		}
	}
	topUp(0)
	for i := range futures {
		var full pairing.Profile
		err := futures[i].Get(ctx, &full)
		c.res.Counts.AwardForceCalls++
		if err != nil {
			if isFatal(err) {
				return err
			}
			c.fail(i, err)
		} else {
			c.profiles[i] = full
		}
		topUp(i + 1)
		if read := i + 1; every > 0 && read < len(futures) && read-c.considered >= every {
			if err := c.handUpTo(ctx, read); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *chunk) lookup(ctx workflow.Context) error {
	spec := &c.in.Spec
	var ids []string
	for i, p := range c.profiles {
		if c.res.Users[i].Outcome == "" {
			ids = append(ids, p.Values[spec.UniqueIdentifier.AwardForce])
		}
	}
	c.matches = map[string][]pairing.CRMRecord{}
	if !spec.Handles(pairing.TriggerBackfill) || len(ids) == 0 {
		return nil
	}
	var found activities.FindRecordsResult
	ctx = summarized(ctx, "Look up %d users' %s records by %s", len(ids), spec.Object, spec.UniqueIdentifier.CRM)
	err := workflow.ExecuteActivity(ctx, sf.FindRecords, activities.FindRecordsInput{Spec: *spec, Identifiers: ids}).Get(ctx, &found)
	if err != nil {
		return err
	}
	c.res.Counts.SalesforceCalls += found.Queries
	c.matches = found.Matches
	c.lengths = found.Lengths
	return nil
}

// decide decides for every user of the chunk (a dry run's, or a run from
// before the lanes), with the Accounts of a spec with account, found
// read-only.
func (c *chunk) decide(ctx workflow.Context) error {
	spec := &c.in.Spec
	rules := pairing.Context{Trigger: pairing.TriggerBackfill}
	if workflow.GetVersion(ctx, ChangeFieldFormats, workflow.DefaultVersion, 1) >= 1 {
		rules.Rules, rules.Lengths = pairing.RulesFieldFormats, c.lengths
	}
	var accounts map[int]*pairing.Account
	if spec.Account != nil && spec.Handles(pairing.TriggerBackfill) && workflow.GetVersion(ctx, ChangeAccounts, workflow.DefaultVersion, 1) >= 1 {
		var err error
		if accounts, err = c.findAccounts(ctx, rules); err != nil {
			return err
		}
	}
	for i, p := range c.profiles {
		u := &c.res.Users[i]
		if u.Outcome != "" {
			continue // failed earlier
		}
		key := activities.IdentifierKey(p.Values[spec.UniqueIdentifier.AwardForce])
		rc := rules
		rc.Account = accounts[i]
		u.Decision = spec.DecideWith(rc, p, c.matches[key])
		u.RecordID = u.Decision.RecordID
		u.Outcome = outcomeOf(u.Decision)
	}
	return nil
}

// writeBack pulls CRM values (and new record ids) into Award Force, one
// request a user that needs it.
func (c *chunk) writeBack(ctx workflow.Context) error {
	type pending struct {
		i int
		f workflow.Future
	}
	skip := workflow.GetVersion(ctx, ChangeFieldFormats, workflow.DefaultVersion, 1) >= 1
	ordered, lane := c.writeBackOrder(ctx)
	write := func(i int, refusable bool) pending {
		u := c.res.Users[i]
		in := activities.UpdateUserInput{Slug: u.Slug, Changes: u.Decision.AwardForce, SkipRefused: refusable}
		actx := summarized(ctx, "Write %s into Award Force user %s", fieldNames(u.Decision.AwardForce), u.Slug)
		var superseded func(workflow.Context) bool
		switch {
		case lane && u.DecidedAt > 0:
			// The lane's order covers a newer single sync too.
			superseded = func(ctx workflow.Context) bool { return laneDecidedSince(ctx, u.Slug, u.DecidedAt) }
		case ordered:
			superseded = func(ctx workflow.Context) bool { return c.syncedSince(ctx, u.Slug) }
		}
		return pending{i, c.af.callUnless(actx, superseded, af.UpdateUser, in)}
	}
	var todo []int
	for i, u := range c.res.Users {
		if u.Outcome == OutcomeFailed || len(u.Decision.AwardForce) == 0 {
			continue
		}
		todo = append(todo, i)
	}
	// The first round's writes, up to the window at once: the next starts
	// as the oldest ends.
	window := c.callWindow(ctx, len(todo))
	win := callWindow{n: len(todo), size: window}
	var ps []pending
	from, to := win.more(0)
	for _, i := range todo[from:to] {
		ps = append(ps, write(i, skip))
	}
	// A second round writes what Award Force did not refuse of the values
	// of users it refused some of, each as soon as its first ends.
	for round := 0; round < 2 && len(ps) > 0; round++ {
		wait := ps
		ps = nil
		for k := 0; k < len(wait); k++ {
			p := wait[k]
			var out activities.UpdateUserResult
			err := p.f.Get(ctx, &out)
			again, err := c.wroteBack(p.i, out, err)
			if err != nil {
				return err
			}
			if again {
				ps = append(ps, write(p.i, false))
			}
			if round == 0 { // the first round's writes are todo's, in order
				from, to := win.more(k + 1)
				for _, i := range todo[from:to] {
					wait = append(wait, write(i, skip))
				}
			}
		}
	}
	return nil
}

// writeBackOrder asks the versions that order the chunk's write-backs
// behind newer decisions of their users: ordered (a newer sync of the
// user, ChangeOrderedWriteBacks) and lane (a newer decision of the lane,
// ChangeWriteBacksFollowTheLane), each only when a write-back needs it.
func (c *chunk) writeBackOrder(ctx workflow.Context) (ordered, lane bool) {
	if !c.handedAt.IsZero() && slices.ContainsFunc(c.res.Users, func(u UserSyncResult) bool {
		return u.Outcome != OutcomeFailed && len(u.Decision.AwardForce) > 0
	}) {
		ordered = workflow.GetVersion(ctx, ChangeOrderedWriteBacks, workflow.DefaultVersion, 1) >= 1
	}
	if i := slices.IndexFunc(c.res.Users, func(u UserSyncResult) bool {
		return u.Outcome != OutcomeFailed && len(u.Decision.AwardForce) > 0 && u.DecidedAt > 0
	}); i >= 0 {
		lane = followsTheLane(ctx, &c.res.Users[i])
	}
	return ordered, lane
}

// wroteBack records how user i's write-back ended (out, or err): left to
// a newer sync, failed, refused in part (again: write the rest once more)
// or written. An error is returned only when the whole chunk must stop.
func (c *chunk) wroteBack(i int, out activities.UpdateUserResult, err error) (again bool, _ error) {
	u := &c.res.Users[i]
	if errors.Is(err, errSuperseded) {
		u.Decision.Reason += "; the write-back into Award Force was left to a newer sync of the user"
		u.Decision.AwardForce = nil
		return false, nil
	}
	c.res.Counts.AwardForceCalls++
	if err != nil {
		if isFatal(err) {
			return false, err
		}
		c.fail(i, err)
		return false, nil
	}
	if len(out.Refused) > 0 {
		u.Decision.SkippedFields = append(u.Decision.SkippedFields, out.Refused...)
		u.Decision.AwardForce = activities.Without(u.Decision.AwardForce, out.Refused)
		return len(u.Decision.AwardForce) > 0, nil
	}
	if u.Outcome == OutcomeUnchanged {
		u.Outcome = OutcomeUpdated
	}
	return false, nil
}

// syncedSince asks whether a sync of the user started after the chunk
// handed its users to the lanes: that sync's decision is newer than the
// chunk's. When the answer cannot be had, the chunk writes as before.
func (c *chunk) syncedSince(ctx workflow.Context, slug string) bool {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: time.Minute,
		Summary: "Ask whether a newer sync of " + slug + " started",
	})
	var newer bool
	if err := workflow.ExecuteLocalActivity(lctx, coord.SyncStartedSince, slug, c.handedAt).Get(lctx, &newer); err != nil {
		workflow.GetLogger(ctx).Warn("Could not tell whether a newer sync started; writing back", "slug", slug, "error", err)
		return false
	}
	return newer
}

func (c *chunk) fail(i int, err error) {
	c.res.Users[i].Outcome = OutcomeFailed
	c.res.Users[i].Error = errorMessage(err)
}

package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// Backfill defaults; BackfillInput may override them.
const (
	DefaultPagesPerChunk = 5
	DefaultConcurrency   = 4
	// DefaultChunksPerRun bounds a run's history in bytes too: each chunk's
	// result (every user's audit, about 200 KB for 500 users) lands in the
	// parent's history, and the server warns at 10 MB.
	DefaultChunksPerRun = 20
	// DefaultPairEvery is how many profile reads a chunk makes before it
	// hands the users read to the lanes: a lane batch of 200 costs a lookup
	// and one sObject Collections write, and at Award Force's 60 requests a
	// minute the chunk's first records are in Salesforce after minutes, not
	// after all its reads.
	DefaultPairEvery = 200
)

// Backfill pairs every existing Award Force user (or those the filter and
// limit select). It hands pages of the user list to BackfillChunk child
// workflows, a few at a time, tallies their results, answers ProgressQuery,
// and continues as new every ChunksPerRun chunks so that its history stays
// small for any number of users. Killing the worker at any moment is safe:
// chunks resume where their history stands, and their writes are idempotent.
func Backfill(ctx workflow.Context, in BackfillInput) (*Progress, error) {
	if err := in.Spec.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrTypeInvalidSpec, nil)
	}
	b := &backfill{in: in}
	b.applyDefaults()
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, b.progress); err != nil {
		return nil, err
	}
	if b.in.State == nil {
		if err := b.start(ctx); err != nil {
			return nil, err
		}
	} else {
		b.state = *b.in.State
	}
	if err := b.runChunks(ctx); err != nil {
		return nil, err
	}
	if b.more() {
		next := b.in
		next.State = &b.state
		return nil, workflow.NewContinueAsNewError(ctx, Backfill, next)
	}
	b.state.Progress.Done = true
	b.state.Progress.FinishedAt = workflow.Now(ctx)
	return &b.state.Progress, nil
}

// backfill is one run's state.
type backfill struct {
	in       BackfillInput
	state    BackfillState
	running  []string // IDs of the chunks in flight, oldest first
	launched int
	fatal    error
	// firstPage is the first page, listed to count the users, for the
	// first chunk.
	firstPage []pairing.Profile
}

// progress answers ProgressQuery.
func (b *backfill) progress() (Progress, error) {
	p := b.state.Progress
	p.Running = slices.Clone(b.running)
	return p, nil
}

func (b *backfill) applyDefaults() {
	if b.in.PagesPerChunk <= 0 {
		b.in.PagesPerChunk = DefaultPagesPerChunk
	}
	if b.in.Concurrency <= 0 {
		b.in.Concurrency = DefaultConcurrency
	}
	if b.in.ChunksPerRun <= 0 {
		b.in.ChunksPerRun = DefaultChunksPerRun
	}
}

// start counts the users so that progress has a total, and opens the
// books. Within the Award Force budget the count is the first page itself,
// handed to the first chunk: no request is spent on counting alone.
func (b *backfill) start(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, backfillAwardForceOptions(ctx))
	gate := newAFGate(ctx, ClassBackfill)
	var probe activities.ListUsersResult
	in := activities.ListUsersInput{Page: 1, PerPage: 1, Filter: b.in.Filter}
	if gate.budgeted {
		in.PerPage = activities.PageSize
	}
	ctx = summarized(ctx, "Count the Award Force users to pair")
	if err := gate.call(ctx, af.ListUsers, in).Get(ctx, &probe); err != nil {
		return err
	}
	if gate.budgeted {
		b.firstPage = probe.Users
		if b.firstPage == nil {
			b.firstPage = []pairing.Profile{}
		}
	}
	total := probe.Total
	if b.in.Limit > 0 {
		total = min(total, b.in.Limit)
	}
	b.state = BackfillState{
		NextPage: 1,
		NextSeq:  1,
		LastPage: pagesFor(total),
		Progress: Progress{
			BackfillID: workflow.GetInfo(ctx).WorkflowExecution.ID,
			DryRun:     b.in.DryRun,
			Total:      total,
			StartedAt:  workflow.Now(ctx),
		},
	}
	b.state.Progress.AwardForceCalls = 1
	return nil
}

func pagesFor(users int) int { return (users + activities.PageSize - 1) / activities.PageSize }

// more reports whether pages remain for another run.
func (b *backfill) more() bool {
	return b.fatal == nil && b.state.NextPage <= b.state.LastPage
}

// runChunks launches up to ChunksPerRun chunks, Concurrency at a time, and
// waits for all of them: a run never ends with a chunk in flight.
func (b *backfill) runChunks(ctx workflow.Context) error {
	for b.more() && b.launched < b.in.ChunksPerRun {
		if err := workflow.Await(ctx, func() bool { return len(b.running) < b.in.Concurrency || b.fatal != nil }); err != nil {
			return err
		}
		if b.fatal != nil {
			break
		}
		b.launch(ctx)
	}
	if err := workflow.Await(ctx, func() bool { return len(b.running) == 0 }); err != nil {
		return err
	}
	if b.fatal != nil {
		return b.fatal
	}
	return nil
}

func (b *backfill) launch(ctx workflow.Context) {
	first := b.state.NextPage
	last := min(first+b.in.PagesPerChunk-1, b.state.LastPage)
	in := ChunkInput{Spec: b.in.Spec, Filter: b.in.Filter, FirstPage: first, LastPage: last, DryRun: b.in.DryRun, PairEvery: b.in.PairEvery}
	if first == 1 && b.firstPage != nil {
		in.FirstPageUsers, b.firstPage = b.firstPage, nil
	}
	if b.in.Limit > 0 {
		in.MaxUsers = min(b.in.Limit-(first-1)*activities.PageSize, (last-first+1)*activities.PageSize)
	}
	id := ChunkWorkflowID(b.state.Progress.BackfillID, b.state.NextSeq)
	// The integration's search attribute and memo, and its id in the
	// summary (the default's reads as before), are labels, not commands:
	// a history recorded without them replays unchanged.
	names := namesOf(ctx)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:               id,
		TaskQueue:                names.TaskQueue(),
		WorkflowExecutionTimeout: 7 * 24 * time.Hour,
		StaticSummary:            names.Summary(fmt.Sprintf("Pair the users of Award Force pages %d–%d", first, last)),
		TypedSearchAttributes:    names.SearchAttributes(),
		Memo:                     names.Memo(nil),
	})
	future := workflow.ExecuteChildWorkflow(cctx, BackfillChunk, in)
	b.state.NextPage = last + 1
	b.state.NextSeq++
	b.launched++
	b.running = append(b.running, id)
	workflow.Go(ctx, func(gctx workflow.Context) {
		var res ChunkResult
		err := future.Get(gctx, &res)
		b.absorb(id, &res, err)
		b.running = slices.DeleteFunc(b.running, func(r string) bool { return r == id })
	})
}

// absorb adds a finished chunk to the books.
func (b *backfill) absorb(id string, res *ChunkResult, err error) {
	p := &b.state.Progress
	p.Chunks++
	if err != nil {
		if isFatal(err) {
			if b.fatal == nil {
				b.fatal = temporal.NewNonRetryableApplicationError(fmt.Sprintf("backfill stopped: chunk %s: %s", id, errorMessage(err)), ErrTypeBackfillStopped, err)
			}
			return
		}
		p.FailedChunks = append(p.FailedChunks, id+": "+errorMessage(err))
		return
	}
	p.Add(res.Counts)
	for _, u := range res.Users {
		if u.Outcome == OutcomeFailed && len(p.Failures) < MaxReportedFailures {
			p.Failures = append(p.Failures, Failure{Slug: u.Slug, Error: u.Error})
		}
	}
}

// ErrTypeBackfillStopped is the error type of a backfill that stopped on a
// fault every chunk would hit (a rejected key, a spec the org refutes).
const ErrTypeBackfillStopped = "BackfillStopped"

// ChunkIDs lists the workflow IDs of a finished backfill's chunks, in order.
func ChunkIDs(p *Progress) []string {
	ids := make([]string, 0, p.Chunks)
	for seq := 1; seq <= p.Chunks; seq++ {
		ids = append(ids, ChunkWorkflowID(p.BackfillID, seq))
	}
	return ids
}

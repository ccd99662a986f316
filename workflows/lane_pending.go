package workflows

import "go.temporal.io/sdk/workflow"

// maxPending bounds, under ChangeLaneBoundedInput, a lane's outstanding
// commands of one kind across its batches in flight: signals to
// requesters, fresh reads. Temporal refuses a workflow task past 2,000
// pending signals or activities; four batches of 400 people, each their
// own request, reached 1,600.
const maxPending = 500

// pending counts a lane's outstanding commands of one kind; max 0 bounds
// nothing (a run from before ChangeLaneBoundedInput).
type pending struct{ n, max int }

// each starts n commands with start, never more than max outstanding
// across the lane (waiting first for its own oldest, then for the other
// batches'), and hands each to done, in order, once it may be waited for.
// Unbounded, it starts every command, then hands them to done: what a
// lane did before.
func (p *pending) each(ctx workflow.Context, n int, start func(i int) workflow.Future, done func(i int, f workflow.Future)) {
	futures := make([]workflow.Future, n)
	next := 0 // our oldest not handed to done
	for i := range n {
		for p.max > 0 && p.n >= p.max && next < i {
			done(next, futures[next])
			next++
			p.n--
		}
		if p.max > 0 && p.n >= p.max {
			_ = workflow.Await(ctx, func() bool { return p.n < p.max })
		}
		futures[i] = start(i)
		p.n++
	}
	for ; next < n; next++ {
		done(next, futures[next])
		p.n--
	}
}

package workflows

// Answers go back to the requesters, one signal a request a batch.

import (
	"slices"

	"go.temporal.io/sdk/workflow"
)

// settle answers the requesters, and puts back whoever waits again.
func (l *lane) settle(ctx workflow.Context, r *laneRun) {
	l.st.Counts.Batches++
	type reply struct {
		req *LaneRequest
		msg PairReply
	}
	var order []string
	replies := map[string]*reply{}
	// Each person's share of the batch's calls; one put back carries it to
	// its answer, so that the answers account for every call.
	share := float64(r.calls) / float64(max(len(r.outcomes), 1))
	for _, o := range r.outcomes {
		if o.result == nil { // put back (or, by mistake, left open: it waits again)
			o.it.Calls += share
			l.st.Items = append(l.st.Items, o.it)
			continue
		}
		l.st.Counts.Count(o.result.Outcome)
		rp := replies[o.it.Request]
		if rp == nil {
			rp = &reply{req: l.st.Requests[o.it.Request], msg: PairReply{Request: o.it.Request}}
			replies[o.it.Request] = rp
			order = append(order, o.it.Request)
		}
		rp.msg.Results = append(rp.msg.Results, *o.result)
		rp.msg.Calls += share + o.it.Calls
	}
	l.st.Counts.SalesforceCalls += r.calls
	slices.SortStableFunc(l.st.Items, func(a, b *LaneItem) int { return a.Received.Compare(b.Received) })
	for _, id := range order {
		rp := replies[id]
		rp.req.Open -= len(rp.msg.Results)
		if rp.req.Open <= 0 {
			delete(l.st.Requests, id)
		}
	}
	l.replies.each(ctx, len(order), func(i int) workflow.Future {
		rp := replies[order[i]]
		return workflow.SignalExternalWorkflow(ctx, rp.req.ReplyTo, rp.req.ReplyRun, PairedSignal, rp.msg)
	}, func(_ int, f workflow.Future) {
		// A requester that is gone (terminated, timed out) cannot be told;
		// its people are paired all the same.
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("A requester could not be answered", "error", err)
		}
	})
}

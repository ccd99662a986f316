package workflows

// Answers go back to the requesters, one signal a request a batch.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
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
	if l.bulkAnswers {
		out := make([]Answer, 0, len(order))
		for _, id := range order {
			rp := replies[id]
			out = append(out, Answer{To: rp.req.ReplyTo, Run: rp.req.ReplyRun, Reply: rp.msg})
		}
		l.answerAll(ctx, out)
		return
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

// Answer is a lane's answer to one requester run.
type Answer struct {
	To    string    `json:"to"`
	Run   string    `json:"run"`
	Reply PairReply `json:"reply"`
}

// answersAtOnce bounds the signals Coordinator.Answer has in flight.
const answersAtOnce = 16

// Answer signals each requester its answer (PairedSignal), a few at a
// time, and reports how many requesters were gone (finished, terminated:
// nobody to tell). Another failure fails it, to be tried again whole: a
// requester takes an answer it has once.
func (l *Coordinator) Answer(ctx context.Context, as []Answer) (int, error) {
	var (
		mu   sync.Mutex
		gone int
		errs []error
		wg   sync.WaitGroup
	)
	slots := make(chan struct{}, answersAtOnce)
	for _, a := range as {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			err := l.Client.SignalWorkflow(ctx, a.To, a.Run, PairedSignal, a.Reply)
			var notFound *serviceerror.NotFound
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &notFound):
				gone++
				// Named, to follow it in the UI. Seen in backfills before
				// lane-commits-answers: a lane task that continued as new
				// was refused (a signal came meanwhile) after this local
				// activity had answered; the retried task answered again
				// a requester that had ended.
				activity.GetLogger(ctx).Info("A requester was gone before its answer", "requester", a.To, "run", a.Run, "request", a.Reply.Request, "people", len(a.Reply.Results))
			case err != nil:
				errs = append(errs, fmt.Errorf("answering %s: %w", a.To, err))
			}
		})
	}
	wg.Wait()
	return gone, errors.Join(errs...)
}

// answerAll answers a batch's requesters with one local activity; those
// it could not reach are logged, their people paired all the same (a
// requester not answered hands its people again after resubmitAfter).
func (l *lane) answerAll(ctx workflow.Context, as []Answer) {
	if len(as) == 0 {
		return
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 5 * time.Minute,
	})
	var gone int
	err := workflow.ExecuteLocalActivity(lctx, coord.Answer, as).Get(ctx, &gone)
	l.answered = l.commitsAnswers
	if err != nil {
		workflow.GetLogger(ctx).Warn("Requesters could not be answered", "requesters", len(as), "error", err)
		return
	}
	if gone > 0 {
		workflow.GetLogger(ctx).Warn("Some requesters were gone before their answer", "gone", gone, "requesters", len(as))
	}
}

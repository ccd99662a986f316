package workflows

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
)

// afGate makes a workflow's Award Force requests within the fleet's budget:
// each request first takes a permit from AwardForceBudget and is a single
// attempt; a transient failure (a 429, maintenance, a timeout) takes a new
// permit for its next try, so that retries count against the budget too.
// Calls made in one workflow task share one permit request.
type afGate struct {
	// budgeted is false in executions started before the budget: they call
	// Award Force directly, as they did.
	budgeted bool
	class    string

	started bool
	seq     int
	// counted is 1 when permit request IDs end with their count
	// (ChangePermitsNamedByCount), -1 when not, 0 until asked; paced the
	// same for ChangePacedPermits.
	counted   int8
	paced     int8
	pending   []permitWait    // calls waiting for their permit request
	requested []permitWait    // calls whose permit request is out, in order
	asked     []PermitRequest // requests not fully granted

	// integration is the integration whose Award Force key (and budget)
	// the gate's calls use, when not the workflow's own: a lane reading
	// again a dependent integration's people (see gateFor).
	integration string
	// receiving says the workflow's PermitGrantSignal is read: by the
	// workflow's own gate, which hands the grants of others' to them.
	receiving bool
	others    map[string]*afGate // the other integrations' gates, on the own gate
	own       *afGate            // the workflow's own gate, on another's
}

// gateFor is the gate of the integration id's calls: g itself for "" (the
// workflow's own), else a gate asking id's budget, whose grants g's
// receive hands over (one workflow reads its grant signal once).
func (g *afGate) gateFor(id string) *afGate {
	if id == "" {
		return g
	}
	if o, ok := g.others[id]; ok {
		return o
	}
	o := &afGate{budgeted: g.budgeted, class: g.class, integration: id, own: g}
	if g.others == nil {
		g.others = map[string]*afGate{}
	}
	g.others[id] = o
	return o
}

// newAFGate returns the gate of a workflow run: budgeted in executions of
// the budget's version (ChangeAwardForceBudget), with permits of class.
func newAFGate(ctx workflow.Context, class string) *afGate {
	v := workflow.GetVersion(ctx, ChangeAwardForceBudget, workflow.DefaultVersion, 1)
	return &afGate{budgeted: v >= 1, class: class}
}

// call runs an Award Force activity with ctx's activity options: within
// the budget, or, for an execution started before it, directly with the
// options' retry policy.
func (g *afGate) call(ctx workflow.Context, activity any, args ...any) workflow.Future {
	return g.callUnless(ctx, nil, activity, args...)
}

// errSuperseded is what callUnless's future holds when its check said the
// call is no longer wanted.
var errSuperseded = errors.New("superseded: a newer sync of the user writes instead")

// callUnless is call with a check made once the call holds its permit,
// right before each attempt (a permit may take long to come): when
// superseded reports true, the call is not made and the future holds
// errSuperseded. A nil check is call.
func (g *afGate) callUnless(ctx workflow.Context, superseded func(workflow.Context) bool, activity any, args ...any) workflow.Future {
	if !g.budgeted {
		return workflow.ExecuteActivity(ctx, activity, args...)
	}
	once := workflow.GetActivityOptions(ctx)
	once.ScheduleToCloseTimeout = 0
	once.RetryPolicy = &temporal.RetryPolicy{MaximumAttempts: 1}
	return g.eachPermit(ctx, false, func(ctx workflow.Context, t permitTicket) workflow.Future {
		if superseded != nil && superseded(ctx) {
			f, set := workflow.NewFuture(ctx)
			set.Set(nil, errSuperseded)
			return f
		}
		actx := workflow.WithActivityOptions(ctx, once)
		if !t.Slot.IsZero() {
			actx = activities.WithPermitSlot(actx, t.Slot) // the activity waits for it
		}
		return workflow.ExecuteActivity(actx, activity, args...)
	})
}

// eachPermit makes a call within the budget: try, with a permit (a read's,
// shared with the other reads of its grant, when read), until it succeeds,
// fails for good, or ctx's activity options' ScheduleToCloseTimeout would
// pass; a transient failure takes a new permit after its Retry-After or a
// backoff. The future holds the last try's outcome.
func (g *afGate) eachPermit(ctx workflow.Context, read bool, try func(workflow.Context, permitTicket) workflow.Future) workflow.Future {
	o := workflow.GetActivityOptions(ctx)
	f, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		deadline := workflow.Now(ctx).Add(o.ScheduleToCloseTimeout)
		backoff := time.Second
		for {
			asked := workflow.Now(ctx)
			var t permitTicket
			if err := g.permit(ctx, read).Get(ctx, &t); err != nil {
				set.Set(nil, err)
				return
			}
			// How long the call waited for the budget: the pace of Award
			// Force's limit, seen by ops (no command: replays record nothing).
			workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"class": g.class}).
				Timer(MetricAwardForcePermitWait).Record(workflow.Now(ctx).Sub(asked))
			done := try(ctx, t)
			err := done.Get(ctx, nil)
			wait, retry := retryAfter(err, backoff)
			if !retry || o.ScheduleToCloseTimeout > 0 && workflow.Now(ctx).Add(wait).After(deadline) {
				set.Chain(done)
				return
			}
			if err := workflow.Sleep(ctx, wait); err != nil {
				set.Set(nil, err)
				return
			}
			backoff = min(2*backoff, time.Minute)
		}
	})
	return f
}

// retryAfter says whether a single attempt's error is worth another try,
// and after how long: a rate limit's Retry-After, or the backoff.
func retryAfter(err error, backoff time.Duration) (time.Duration, bool) {
	if err == nil || errors.Is(err, errSuperseded) {
		return 0, false
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if appErr.NonRetryable() {
			return 0, false
		}
		if d := appErr.NextRetryDelay(); d > 0 {
			return d, true
		}
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return 0, false
	}
	return backoff, true // unavailable, timeouts, a worker gone
}

// permitWait is a call waiting for its permit: the future's settable,
// and whether the call is a read (readUser) that shares an activity with
// the other reads of its grant.
type permitWait struct {
	set  workflow.Settable
	read bool
}

// permitTicket is what a call's permit future holds: the moment the permit
// allows (zero: now) and, for a read, the reads granted with it.
type permitTicket struct {
	Slot  time.Time
	group *readGroup
}

// permit returns a future that is ready once the budget grants this call
// a permit (a permitTicket); read says the call is a readUser's.
func (g *afGate) permit(ctx workflow.Context, read bool) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	g.pending = append(g.pending, permitWait{set: set, read: read})
	if !g.started {
		g.started = true
		workflow.Go(ctx, g.ask)
		if r := cmp.Or(g.own, g); !r.receiving {
			r.receiving = true
			workflow.Go(ctx, r.receive)
		}
	}
	return f
}

// ask sends the pending calls' permit request, and hands the outstanding
// ones again if the budget says nothing for resubmitAfter.
func (g *afGate) ask(ctx workflow.Context) {
	info := workflow.GetInfo(ctx).WorkflowExecution
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: 10 * time.Minute,
		Summary:                "Ask the Award Force budget for permits",
	})
	send := func(reqs ...PermitRequest) {
		for _, req := range reqs {
			if err := workflow.ExecuteLocalActivity(lctx, coord.RequestPermits, req).Get(ctx, nil); err != nil {
				workflow.GetLogger(ctx).Warn("Could not ask the Award Force budget for permits", "error", err)
			}
		}
	}
	for {
		ok, err := workflow.AwaitWithTimeout(ctx, resubmitAfter, func() bool { return len(g.pending) > 0 })
		if err != nil {
			return
		}
		if !ok {
			if len(g.asked) > 0 {
				send(g.asked...) // the same IDs: a budget that holds them ignores them
			}
			continue
		}
		g.seq++
		req := PermitRequest{
			ID:      fmt.Sprintf("%s/%s/permits-%d", info.ID, info.RunID, g.seq),
			ReplyTo: info.ID, ReplyRun: info.RunID, Class: g.class, N: len(g.pending),
		}
		if g.integration != "" {
			req.ID = fmt.Sprintf("%s/%s/permits-%s-%d", info.ID, info.RunID, g.integration, g.seq)
			req.Integration = g.integration
		}
		if g.countsInID(ctx) {
			req.ID += fmt.Sprintf("x%d", req.N)
		}
		req.Paced = askedOnce(ctx, &g.paced, ChangePacedPermits)
		g.requested = append(g.requested, g.pending...)
		g.pending = nil
		g.asked = append(g.asked, req)
		send(req)
	}
}

// countsInID says whether permit request IDs end with the count asked
// (ChangePermitsNamedByCount). A workflow task that fails after its
// RequestPermits ran is retried, perhaps with signals that came meanwhile
// (a lane's batch with more people to read again): asking another count
// under the same ID, the budget held the first and ignored the second,
// and the calls it left short waited resubmitAfter (30 minutes). A grant
// to the other request still goes to the calls waiting here.
func (g *afGate) countsInID(ctx workflow.Context) bool {
	return askedOnce(ctx, &g.counted, ChangePermitsNamedByCount)
}

// receive hands each granted permit to the oldest call waiting for one,
// in the gate that asked for it.
func (g *afGate) receive(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, PermitGrantSignal)
	for {
		var grant PermitGrant
		if !ch.Receive(ctx, &grant) {
			return
		}
		g.asker(grant.Request).granted(grant)
	}
}

// asker is the gate that asked for permit request id: the one of the
// integration its ID names (ask), else g.
func (g *afGate) asker(id string) *afGate {
	if len(g.others) == 0 {
		return g
	}
	tail := strings.TrimPrefix(id[strings.LastIndex(id, "/")+1:], "permits-")
	var best *afGate
	for other, o := range g.others {
		if strings.HasPrefix(tail, other+"-") && (best == nil || len(other) > len(best.integration)) {
			best = o
		}
	}
	return cmp.Or(best, g)
}

// granted hands grant's permits to the oldest calls waiting for one, each
// with its moment when the grant is paced; the reads among them form
// groups of up to maxReadGroup, a GetUsers activity each.
func (g *afGate) granted(grant PermitGrant) {
	var group *readGroup
	for i := range grant.N {
		if len(g.requested) == 0 {
			break // a resubmitted request granted twice: the extra permit goes unused
		}
		w := g.requested[0]
		g.requested = g.requested[1:]
		var slot time.Time
		if grant.Every > 0 {
			slot = grant.From.Add(time.Duration(i) * grant.Every)
		}
		t := permitTicket{Slot: slot}
		if w.read {
			if group == nil || group.size == maxReadGroup {
				group = &readGroup{}
			}
			group.size++
			t.group = group
		}
		w.set.Set(t, nil)
	}
	for i := range g.asked {
		if g.asked[i].ID == grant.Request {
			g.asked[i].N -= grant.N
			if g.asked[i].N <= 0 {
				g.asked = append(g.asked[:i], g.asked[i+1:]...)
			}
			break
		}
	}
}

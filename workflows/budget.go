package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// The Award Force budget: Award Force allows each API key 60 requests a
// minute, for the whole fleet. Every Award Force request afsync makes first
// takes a permit from one long-running workflow, AwardForceBudget, which
// hands permits out at that pace (a little under it, to absorb the jitter
// between a permit and its request reaching Award Force), taking turns
// between webhook syncs and backfills so that neither starves the other.
// Unlike a task queue's rate limit, which the server splits among the
// queue's partitions (four by default, fixed on Temporal Cloud) and wastes
// where a partition has no backlog, it reaches the budget on any server.

// BudgetWorkflowID is the Award Force budget's workflow ID.
const BudgetWorkflowID = "afsync-awardforce-budget"

// Signal and query names of the budget.
const (
	// PermitSignal carries a PermitRequest to the budget.
	PermitSignal = "permit"
	// PermitGrantSignal carries a PermitGrant back to the asker.
	PermitGrantSignal = "permit-granted"
	// BudgetQuery answers a BudgetStatus.
	BudgetQuery = "budget"
)

// Permit classes: the budget takes turns between them.
const (
	// ClassEvents is webhook, manual and lane work: one person at a time.
	ClassEvents = "events"
	// ClassBackfill is backfill work: many people at a time.
	ClassBackfill = "backfill"
)

// PermitRequest asks the budget for N permits, one an Award Force request.
type PermitRequest struct {
	// ID is unique per asker run; the budget ignores a request it holds.
	ID       string `json:"id"`
	ReplyTo  string `json:"reply_to"`
	ReplyRun string `json:"reply_run"`
	Class    string `json:"class"`
	N        int    `json:"n"`
	// Integration is the integration whose budget the permits are of,
	// when not the asker's own: a lane asking for a dependent
	// integration's reads.
	Integration string `json:"integration,omitempty"`
	// Paced says the asker takes permits that are due later
	// (PermitGrant.Every): its calls wait for their moment themselves
	// (ChangePacedPermits).
	Paced bool `json:"paced,omitempty"`
}

// PermitGrant grants N of a request's permits.
type PermitGrant struct {
	Request string `json:"request"`
	N       int    `json:"n"`
	// From and Every, set for a paced request (PermitRequest.Paced) while
	// the budget paces, say when each permit may be used: the i-th of the
	// N (from 0) from From + i×Every, on the server's clock. Zero: all at
	// once.
	From  time.Time     `json:"from,omitzero"`
	Every time.Duration `json:"every,omitempty"`
}

// BudgetSettings are the worker's settings the budget runs with, read at
// the start of each run.
type BudgetSettings struct {
	// RatePerMinute is the fleet-wide budget (AWARDFORCE_RATE_LIMIT; 0: no
	// limit).
	RatePerMinute float64 `json:"rate_per_minute"`
	// GrantsPerRun bounds a run's history (DefaultGrantsPerRun).
	GrantsPerRun int `json:"grants_per_run"`
}

// DefaultGrantsPerRun keeps a budget run's history a few thousand events.
const DefaultGrantsPerRun = 1000

func (s BudgetSettings) withDefaults() BudgetSettings {
	if s.GrantsPerRun <= 0 {
		s.GrantsPerRun = DefaultGrantsPerRun
	}
	return s
}

// BudgetInput starts the budget, or continues it after continue-as-new.
type BudgetInput struct {
	State *BudgetState `json:"state,omitempty"`
}

// BudgetState is what the budget carries from one run to the next.
type BudgetState struct {
	// Waiting holds, per class, the requests with permits still due, in
	// arrival order.
	Waiting map[string][]*PermitRequest `json:"waiting,omitempty"`
	// Next is the earliest time the next permit may go.
	Next time.Time `json:"next,omitzero"`
	// Turn is the class served last.
	Turn    string `json:"turn,omitempty"`
	Granted int    `json:"granted"`
}

// BudgetStatus is the budget's answer to BudgetQuery.
type BudgetStatus struct {
	// RatePerMinute is the budget (0: no limit).
	RatePerMinute float64 `json:"rate_per_minute"`
	// Waiting counts the permits due, per class.
	Waiting map[string]int `json:"waiting"`
	// Granted counts the permits granted since the budget started.
	Granted int `json:"granted"`
}

// budgetMargin slows the pace a little below the budget: a permit and its
// request reach Award Force a varying moment apart, and two requests must
// not land in one of Award Force's minutes as sixty-one.
const budgetMargin = 1.02

// pacedSpan bounds how far ahead one grant to a paced request reaches (at
// 60 a minute, four permits, the last due about three seconds later): each
// grant costs the budget a wake-up and a signal, and the asker a workflow
// task, so fewer, larger grants cut the server's work a request; a webhook
// arriving meanwhile waits at most that long for its turn.
const pacedSpan = 4 * time.Second

// AwardForceBudget hands out permits for Award Force requests at the
// fleet-wide rate, taking turns between classes, for ever (continuing as
// new to keep its history short).
func AwardForceBudget(ctx workflow.Context, in BudgetInput) error {
	b := newBudget(in.State)
	if err := workflow.SetQueryHandler(ctx, BudgetQuery, b.status); err != nil {
		return err
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var settings BudgetSettings
	if err := workflow.ExecuteLocalActivity(lctx, coord.CurrentBudget).Get(lctx, &settings); err != nil {
		return err
	}
	settings = settings.withDefaults()
	b.rate = settings.RatePerMinute
	requests := workflow.GetSignalChannel(ctx, PermitSignal)
	granted := 0
	for {
		b.receive(requests)
		now := workflow.Now(ctx)
		var grants []PermitGrant
		var to []*PermitRequest
		for b.due() > 0 && !now.Before(b.st.Next) {
			req, n := b.take()
			grant := PermitGrant{Request: req.ID, N: n}
			granted += n
			b.st.Granted += n
			if b.rate > 0 {
				interval := b.interval()
				if b.st.Next.Before(now.Add(-interval)) {
					b.st.Next = now // idle for a while: no credit saved up
				}
				if req.Paced {
					grant.From, grant.Every = b.st.Next, interval
				}
				b.st.Next = b.st.Next.Add(time.Duration(n) * interval)
			}
			grants = append(grants, grant)
			to = append(to, req)
		}
		futures := make([]workflow.Future, len(grants))
		for i, g := range grants {
			futures[i] = workflow.SignalExternalWorkflow(ctx, to[i].ReplyTo, to[i].ReplyRun, PermitGrantSignal, g)
		}
		for _, f := range futures {
			if err := f.Get(ctx, nil); err != nil {
				// The asker is gone: its permit is lost, which only slows
				// the fleet by one request.
				workflow.GetLogger(ctx).Warn("A permit could not be handed over", "error", err)
			}
		}
		if granted >= settings.GrantsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			b.receive(requests)
			return workflow.NewContinueAsNewError(ctx, AwardForceBudget, BudgetInput{State: &b.st})
		}
		cond := func() bool { return requests.Len() > 0 }
		if b.due() == 0 {
			if err := workflow.Await(ctx, cond); err != nil {
				return err
			}
		} else if _, err := workflow.AwaitWithTimeout(ctx, b.st.Next.Sub(workflow.Now(ctx)), cond); err != nil {
			return err
		}
	}
}

// budget is one run's state. Granting a permit costs the same whatever
// the queue: owed and held are kept as requests come and go, never
// recounted (they are built once a run from the state carried over).
type budget struct {
	st   BudgetState
	rate float64
	// owed counts the permits owed; held the IDs of the requests waiting.
	owed int
	held map[string]bool
}

// newBudget is a run's budget from the state carried over (nil: none).
func newBudget(st *BudgetState) *budget {
	b := &budget{held: map[string]bool{}}
	if st != nil {
		b.st = *st
	}
	if b.st.Waiting == nil {
		b.st.Waiting = map[string][]*PermitRequest{}
	}
	for _, reqs := range b.st.Waiting {
		for _, r := range reqs {
			b.owed += r.N
			b.held[r.ID] = true
		}
	}
	return b
}

func (b *budget) status() (BudgetStatus, error) {
	s := BudgetStatus{RatePerMinute: b.rate, Waiting: map[string]int{}, Granted: b.st.Granted}
	for class, reqs := range b.st.Waiting {
		for _, r := range reqs {
			s.Waiting[class] += r.N
		}
	}
	return s, nil
}

// receive queues every request signalled so far.
func (b *budget) receive(ch workflow.ReceiveChannel) {
	for {
		var req PermitRequest
		if !ch.ReceiveAsync(&req) {
			return
		}
		b.enqueue(req)
	}
}

// enqueue queues req in its class, unless it asks nothing or is a
// resubmission of a request held.
func (b *budget) enqueue(req PermitRequest) {
	if req.N <= 0 || b.held[req.ID] {
		return
	}
	class := req.Class
	if class != ClassBackfill {
		class = ClassEvents
	}
	b.st.Waiting[class] = append(b.st.Waiting[class], &req)
	b.owed += req.N
	b.held[req.ID] = true
}

// due counts the permits owed.
func (b *budget) due() int { return b.owed }

// interval is the time between two permits while the budget paces.
func (b *budget) interval() time.Duration {
	return time.Duration(float64(time.Minute) * budgetMargin / b.rate)
}

// take picks who gets the next grant, taking turns between classes, and
// how many permits it gets: all of the request's without a limit; while
// the budget paces, one, or for a paced request while the other class
// waits for nothing, up to pacedSpan's worth.
func (b *budget) take() (*PermitRequest, int) {
	order := []string{ClassEvents, ClassBackfill}
	if b.st.Turn == ClassEvents {
		order = []string{ClassBackfill, ClassEvents}
	}
	for _, class := range order {
		reqs := b.st.Waiting[class]
		if len(reqs) == 0 {
			continue
		}
		b.st.Turn = class
		req := reqs[0]
		n := 1
		switch {
		case b.rate <= 0:
			n = req.N
		case req.Paced && len(b.st.Waiting[other(class)]) == 0:
			n = min(req.N, max(1, int(pacedSpan/b.interval())+1))
		}
		req.N -= n
		b.owed -= n
		if req.N == 0 {
			b.st.Waiting[class] = reqs[1:]
			delete(b.held, req.ID)
		}
		return req, n
	}
	return nil, 0
}

// other is the class the budget takes turns with.
func other(class string) string {
	if class == ClassEvents {
		return ClassBackfill
	}
	return ClassEvents
}

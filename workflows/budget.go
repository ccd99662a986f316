package workflows

import (
	"math"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/internal/window"
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
	// Next is the earliest time the next permit may go: the pace's
	// schedule, which falls behind the clock (up to catchUpSpan) when the
	// budget wakes late while permits are owed.
	Next time.Time `json:"next,omitzero"`
	// Recent holds the moments of the last permits granted, as many as the
	// budget's window allows (budget.window), oldest first: a permit may go
	// only once the window's worth before it are a window ago
	// (ChangeBudgetCatchesUp).
	Recent []time.Time `json:"recent,omitempty"`
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

// catchUpSpan bounds the time a budget that wakes late still grants
// permits for (ChangeBudgetCatchesUp): a server short of CPU fires the
// budget's timers seconds late (up to 11.6 s measured with 100 budgets on
// one 2-core dev server), and a budget that started its pace afresh from
// each late wake lost that time for good. The permits it grants to catch
// up go at once, and the window (BudgetState.Recent) then holds back as
// many a window later, so the bound is also the longest a window's pause
// for them lasts while the budget is busy: a webhook's permit waits that
// long at most, as for a late timer.
const catchUpSpan = 8 * time.Second

// grantAhead is how long before its first permit's moment a paced request
// is granted (ChangeBudgetCatchesUp): the grant's signal, the asker's
// workflow task and its activity's start take that long on a loaded server
// (p90 0.6 s, up to several seconds, measured with 100 integrations on two
// cores), and a read sent after its moment is time the key's budget loses.
const grantAhead = 2 * time.Second

// maxRecent bounds BudgetState.Recent (the moments a budget carries from
// one run to the next): a limit above it is kept as a proportionally
// shorter window (budget.window).
const maxRecent = 600

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
	if workflow.GetVersion(ctx, ChangeBudgetCatchesUp, workflow.DefaultVersion, 1) == 1 {
		b.catchUp = true
		b.adopt()
	}
	requests := workflow.GetSignalChannel(ctx, PermitSignal)
	granted := 0
	for {
		now := workflow.Now(ctx)
		idle := b.due() == 0
		b.receive(requests)
		grants, to := b.wake(now, idle)
		for _, g := range grants {
			granted += g.N
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
		} else if _, err := workflow.AwaitWithTimeout(ctx, b.dueAt().Sub(workflow.Now(ctx)), cond); err != nil {
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
	// catchUp: the run takes ChangeBudgetCatchesUp.
	catchUp bool
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

// window is the pace as a sliding window: at most the rate a minute's
// permits' moments in a minute and the margin (a limit above maxRecent as
// a proportionally shorter window, which allows no more).
func (b *budget) window() window.Window {
	limit := max(int(b.rate), 1)
	span := time.Duration(float64(time.Minute) * budgetMargin * float64(limit) / b.rate)
	if parts := (limit + maxRecent - 1) / maxRecent; parts > 1 {
		limit, span = limit/parts, span/time.Duration(parts)
	}
	return window.Window{Limit: limit, Span: span}
}

// adopt starts the window of a run that carries none (the first to take
// ChangeBudgetCatchesUp): as if the permits before Next had gone at the
// pace's interval, the densest the code before allowed.
func (b *budget) adopt() {
	if b.rate <= 0 || len(b.st.Recent) > 0 || b.st.Next.IsZero() {
		return
	}
	for i := b.window().Limit; i > 0; i-- {
		b.st.Recent = append(b.st.Recent, b.st.Next.Add(-time.Duration(i)*b.interval()))
	}
}

// nextAt is the earliest time the next permit may go: Next, and since
// ChangeBudgetCatchesUp no sooner than a window after the permit the
// window's worth before it.
func (b *budget) nextAt() time.Time {
	if !b.catchUp || b.rate <= 0 {
		return b.st.Next
	}
	return latest(b.st.Next, b.window().Free(b.st.Recent))
}

// dueAt is when the budget grants next: nextAt, or for a paced request
// whose first permit the window allows at Next, grantAhead before
// (ChangeBudgetCatchesUp).
func (b *budget) dueAt() time.Time {
	at := b.nextAt()
	if req := b.head(); req != nil && req.Paced && b.catchUp && b.rate > 0 && at.Equal(b.st.Next) {
		return at.Add(-grantAhead)
	}
	return at
}

// head is the request take grants next, nil when none waits.
func (b *budget) head() *PermitRequest {
	for _, class := range b.order() {
		if reqs := b.st.Waiting[class]; len(reqs) > 0 {
			return reqs[0]
		}
	}
	return nil
}

// order is the classes in the order the next grant looks at them: the
// one not served last first.
func (b *budget) order() [2]string {
	if b.st.Turn == ClassEvents {
		return [2]string{ClassBackfill, ClassEvents}
	}
	return [2]string{ClassEvents, ClassBackfill}
}

// wake grants, at now, every permit due, with the requests they go to;
// idle says the budget owed nothing before the requests it just received.
func (b *budget) wake(now time.Time, idle bool) (grants []PermitGrant, to []*PermitRequest) {
	if b.catchUp && idle && b.due() > 0 && b.st.Next.Before(now) {
		b.st.Next = now // nobody waited meanwhile: no time lost
	}
	for b.due() > 0 && !now.Before(b.dueAt()) {
		grant, req := b.grant(now)
		b.st.Granted += grant.N
		grants = append(grants, grant)
		to = append(to, req)
	}
	return grants, to
}

// grant takes the next grant at now, which is no sooner than dueAt: its
// request, and for a paced one the moments of its permits.
func (b *budget) grant(now time.Time) (PermitGrant, *PermitRequest) {
	if b.rate <= 0 {
		req, n := b.take(math.MaxInt)
		return PermitGrant{Request: req.ID, N: n}, req
	}
	interval := b.interval()
	switch {
	case b.catchUp:
		b.st.Next = latest(b.st.Next, now.Add(-catchUpSpan))
	case b.st.Next.Before(now.Add(-interval)):
		b.st.Next = now // idle for a while: no credit saved up
	}
	most := math.MaxInt
	if b.catchUp {
		// At least one: dueAt makes the first fit, and a grant of none
		// would leave the budget granting nothing for ever.
		most = max(1, b.fits(now))
	}
	req, n := b.take(most)
	grant := PermitGrant{Request: req.ID, N: n}
	if req.Paced {
		// Moments before now (a late budget catching up) go at once.
		grant.From, grant.Every = b.st.Next, interval
	}
	if b.catchUp {
		w := b.window()
		for i := range n {
			b.st.Recent = w.Keep(b.st.Recent, b.moment(now, i))
		}
	}
	b.st.Next = b.st.Next.Add(time.Duration(n) * interval)
	return grant, req
}

// moment is when the i-th of the next permits goes, granted at now: at its
// place in the pace, or now if that is past.
func (b *budget) moment(now time.Time, i int) time.Time {
	return latest(now, b.st.Next.Add(time.Duration(i)*b.interval()))
}

// fits counts how many of the next permits (up to a paced grant's most)
// may be granted at now without putting more than the window's limit in
// any window.
func (b *budget) fits(now time.Time) int {
	w := b.window()
	recent := slices.Clone(b.st.Recent)
	n := 0
	for ; n < b.pacedMost(); n++ {
		m := b.moment(now, n)
		if m.Before(w.Free(recent)) {
			break
		}
		recent = w.Keep(recent, m)
	}
	return n
}

// pacedMost is the most permits one grant to a paced request holds while
// the budget paces: pacedSpan's worth.
func (b *budget) pacedMost() int {
	return max(1, int(pacedSpan/b.interval())+1)
}

// latest is the later of a and b.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// take picks who gets the next grant, taking turns between classes, and
// how many permits it gets (at most most): all of the request's without a
// limit; while the budget paces, one, or for a paced request while the
// other class waits for nothing, up to pacedSpan's worth.
func (b *budget) take(most int) (*PermitRequest, int) {
	for _, class := range b.order() {
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
			n = min(req.N, b.pacedMost())
		}
		n = min(n, most)
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

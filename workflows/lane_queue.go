package workflows

// A lane holds a bounded number of people itself (LaneSettings.Hold).
// Beyond it, during a Salesforce outage, a spent allocation or a burst
// larger than the lane writes, people wait in the lane's queue: a chain of
// LaneQueue workflows (afsync-lane-<n>-queue-<seq>), each holding at most
// LaneSettings.QueueSegment people, first in, first out. The lane keeps
// only where the chain begins and ends (LaneQueueState); as it writes, it
// takes people back, a refill at a time. Whatever the backlog, the lane's
// continue-as-new input holds at most Hold people, and each queue
// workflow's history at most QueueSegment.
//
//	lane ── Enqueue (local activity: signal-with-start) ──► tail segment
//	lane ── Take (local activity: signal) ──► head segment
//	head segment ── RefillSignal (up to Refill people) ──► lane

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// Defaults of the queue's LaneSettings.
const (
	// DefaultLaneHold is how many people a lane holds itself: its batches
	// in flight (four of up to 400) and the next ones. What it carries
	// into its next run is bounded apart (laneInputBudget). It was 600,
	// which kept a draining lane's batches near 150 people (6,000 people
	// behind an outage: 41 batches and 86 Salesforce calls; 34 and 75
	// with 1,600, docs/benchmarks.md).
	DefaultLaneHold = 1600
	// DefaultQueueSegment is how many people one queue workflow holds.
	DefaultQueueSegment = 2000
	// DefaultRefill is how many people one refill (or one enqueue signal)
	// carries: about 120 KB.
	DefaultRefill = 300
)

// signalBudget bounds the people one queue signal (an enqueue or a
// refill) carries, JSON-encoded, under ChangeLaneBoundedInput: under
// Temporal's 256 KB payload warning whatever the profiles weigh.
// requestWeight is what a request adds besides its people, at most.
const (
	signalBudget  = 128 << 10
	requestWeight = 512
)

// fitting counts how many of items, from the first, fit in room bytes
// JSON-encoded with their requests, and what they weigh.
func fitting(items []*LaneItem, room int) (n, used int) {
	for i, it := range items {
		w := jsonSize(it) + 1
		if i == 0 || it.Request != items[i-1].Request {
			w += requestWeight
		}
		if used+w > room {
			break
		}
		used += w
		n++
	}
	return n, used
}

// Signals of the lanes' queues.
const (
	// QueueSignal carries a QueueBatch from a lane into a queue segment.
	QueueSignal = "queue"
	// TakeSignal carries a QueueTake from a lane to its head segment.
	TakeSignal = "take"
	// RefillSignal carries a QueueBatch from a queue segment to its lane.
	RefillSignal = "refill"
)

// LaneQueueWorkflowID names segment seq of the default integration's lane
// n's queue (Names.LaneQueue: another's).
func LaneQueueWorkflowID(n, seq int) string { return DefaultNames.LaneQueue(n, seq) }

// LaneQueueState is where a lane's queue stands (ChangeLaneQueue).
type LaneQueueState struct {
	// Head is the segment the lane takes people from, Tail the one it
	// hands people to; TailHeld counts the people handed to Tail.
	Head     int `json:"head"`
	Tail     int `json:"tail"`
	TailHeld int `json:"tail_held,omitempty"`
	// Queued counts the people in the queue.
	Queued int `json:"queued,omitempty"`
	// Asked is set while a refill asked of Head has not come.
	Asked bool `json:"asked,omitempty"`
	// OldestRead is the earliest a queued profile was read: the lane keeps
	// its memory of writes back to it, so that the queue's people are not
	// read again from Award Force for having waited.
	OldestRead time.Time `json:"oldest_read,omitzero"`
	// Batches numbers the batches the lane handed to its queue, for their
	// IDs.
	Batches int `json:"batches,omitempty"`
}

// mayHoldMore reports whether the queue may still hold people once the
// refill b is taken (Head moved on when b was its last): the head said it
// holds more, or a segment from Head on was handed people and b is not the
// last of the tail segment.
func (q *LaneQueueState) mayHoldMore(b QueueBatch) bool {
	switch {
	case b.Seq == q.Head && !b.Done:
		return true
	case b.Done && b.Seq == q.Tail:
		return false
	}
	return q.Head < q.Tail || q.TailHeld > 0
}

// QueuedRequest is a request's people waiting in a lane's queue, with
// what the lane needs to answer it.
type QueuedRequest struct {
	ID       string          `json:"id"`
	ReplyTo  string          `json:"reply_to"`
	ReplyRun string          `json:"reply_run"`
	Spec     string          `json:"spec"`
	Trigger  pairing.Trigger `json:"trigger"`
	Items    []*LaneItem     `json:"items"`
}

// QueueBatch is people going into a queue segment or back to their lane.
type QueueBatch struct {
	// ID makes a batch handed twice (a retried local activity) count once.
	ID  string `json:"id,omitempty"`
	Seq int    `json:"seq"`
	// Specs are the specs of the requests, by fingerprint.
	Specs    map[string]pairing.Spec `json:"specs"`
	Requests []QueuedRequest         `json:"requests"`
	// Done is set on a refill after which the segment is empty and ends.
	Done bool `json:"done,omitempty"`
	// More says another refill answering the same QueueTake follows: the
	// lane's ask is answered by the refill without it.
	More bool `json:"more,omitempty"`
}

// people counts the batch's people.
func (b *QueueBatch) people() int {
	n := 0
	for _, r := range b.Requests {
		n += len(r.Items)
	}
	return n
}

// QueueTake asks a queue segment for up to Max of its people. With Each
// set (ChangeQueueRefillsAhead) the segment answers in as many refills of
// at most Each people as it takes, one after the other, all but the last
// marked More; without it, in one refill.
type QueueTake struct {
	Max  int `json:"max"`
	Each int `json:"each,omitempty"`
}

// LaneQueueInput starts a segment of a lane's queue.
type LaneQueueInput struct {
	Lane int `json:"lane"`
	Seq  int `json:"seq"`
}

// LaneQueue is one segment of a lane's queue: it takes the people its lane
// hands it (QueueSignal), tells their requesters they are queued, and gives
// them back in arrival order when the lane asks (TakeSignal, answered by
// RefillSignal). It ends once it has given everyone back.
func LaneQueue(ctx workflow.Context, in LaneQueueInput) error {
	q := &segment{in: in, specs: map[string]pairing.Spec{}, seen: map[string]bool{}}
	q.byPerson = workflow.GetVersion(ctx, ChangeQueueHoldsPersonOnce, workflow.DefaultVersion, 1) >= 1
	q.bounded = workflow.GetVersion(ctx, ChangeLaneBoundedInput, workflow.DefaultVersion, 1) >= 1
	q.bulk = workflow.GetVersion(ctx, ChangeLaneAnswersInBulk, workflow.DefaultVersion, 1) >= 1
	queue := workflow.GetSignalChannel(ctx, QueueSignal)
	take := workflow.GetSignalChannel(ctx, TakeSignal)
	for {
		q.receive(ctx, queue)
		var t QueueTake
		if take.ReceiveAsync(&t) {
			if err := q.give(ctx, t, queue.Len() == 0); err != nil {
				return err
			}
			continue
		}
		if q.held == 0 && queue.Len() == 0 {
			return nil
		}
		if err := workflow.Await(ctx, func() bool { return queue.Len() > 0 || take.Len() > 0 }); err != nil {
			return err
		}
	}
}

// segment is a LaneQueue's state.
type segment struct {
	in       LaneQueueInput
	specs    map[string]pairing.Spec
	requests []QueuedRequest
	held     int
	// seen holds the batch IDs received or, with byPerson
	// (ChangeQueueHoldsPersonOnce), the people held (personKey): someone
	// given back and handed again later is held again.
	seen     map[string]bool
	byPerson bool
	// bounded: a refill weighs at most signalBudget
	// (ChangeLaneBoundedInput).
	bounded bool
	// bulk: requesters are told they wait with one local activity a few
	// hundred, not a signal command each (ChangeLaneAnswersInBulk).
	bulk bool
}

// personKey names a person of a request, as a queue holds them once.
func personKey(request string, it *LaneItem) string { return request + "\x00" + it.Profile.Slug }

// receive takes the batches handed so far and tells their requesters they
// wait in the queue.
func (q *segment) receive(ctx workflow.Context, ch workflow.ReceiveChannel) {
	var notify []QueuedRequest
	for {
		var b QueueBatch
		if !ch.ReceiveAsync(&b) {
			break
		}
		if q.byPerson {
			b.Requests = q.unseen(b.Requests)
		} else {
			if b.ID != "" && q.seen[b.ID] {
				continue
			}
			q.seen[b.ID] = true
		}
		for fp, s := range b.Specs {
			q.specs[fp] = s
		}
		q.requests = append(q.requests, b.Requests...)
		q.held += b.people()
		notify = append(notify, b.Requests...)
	}
	// A requester told so waits for its answer instead of handing its
	// people again after resubmitAfter; a few signals at a time.
	if q.bulk {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout:    30 * time.Second,
			ScheduleToCloseTimeout: 5 * time.Minute,
		})
		for start := 0; start < len(notify); start += 500 {
			var as []Answer
			for _, r := range notify[start:min(start+500, len(notify))] {
				as = append(as, Answer{To: r.ReplyTo, Run: r.ReplyRun, Reply: PairReply{Request: r.ID, Queued: true}})
			}
			// A requester not told hands its people again after
			// resubmitAfter: the segment holds them once all the same.
			_ = workflow.ExecuteLocalActivity(lctx, coord.Answer, as).Get(ctx, nil)
		}
		return
	}
	for start := 0; start < len(notify); start += 100 {
		var futures []workflow.Future
		for _, r := range notify[start:min(start+100, len(notify))] {
			futures = append(futures, workflow.SignalExternalWorkflow(ctx, r.ReplyTo, r.ReplyRun, PairedSignal, PairReply{Request: r.ID, Queued: true}))
		}
		for _, f := range futures {
			_ = f.Get(ctx, nil) // a requester that is gone is answered by nobody
		}
	}
}

// unseen keeps, of rs, the people the segment does not hold already (a
// batch handed again, or again with others, after a lane's refused task),
// and the requests left with someone.
func (q *segment) unseen(rs []QueuedRequest) []QueuedRequest {
	var out []QueuedRequest
	for _, r := range rs {
		var items []*LaneItem
		for _, it := range r.Items {
			if k := personKey(r.ID, it); !q.seen[k] {
				q.seen[k] = true
				items = append(items, it)
			}
		}
		if len(items) > 0 {
			r.Items = items
			out = append(out, r)
		}
	}
	return out
}

// give sends up to t.Max people, oldest first, back to the lane, in one
// refill or, with t.Each, in refills of at most t.Each, in order; last
// says no batch is pending, so that an empty segment can say it is done.
func (q *segment) give(ctx workflow.Context, t QueueTake, last bool) error {
	var outs []QueueBatch
	if t.Each <= 0 {
		outs = []QueueBatch{q.fill(t.Max)}
	} else {
		for n := 0; n < t.Max && len(q.requests) > 0; {
			b := q.fill(min(t.Each, t.Max-n))
			n += b.people()
			outs = append(outs, b)
		}
		if len(outs) == 0 {
			outs = []QueueBatch{q.fill(0)} // the ask is answered all the same
		}
	}
	for i := range outs {
		outs[i].More = i < len(outs)-1
	}
	outs[len(outs)-1].Done = q.held == 0 && last
	// One after the other, so that they arrive in order: sent together,
	// the last (its ask answered, Done) could come first, and the lane
	// would ask again, or take the segment for ended, while the others
	// were still on their way (seen in the million-user bench).
	for _, out := range outs {
		if err := workflow.SignalExternalWorkflow(ctx, namesOf(ctx).Lane(q.in.Lane), "", RefillSignal, out).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// fill takes up to max people, oldest first, into a refill (bounded, at
// most signalBudget of them, and at least one).
func (q *segment) fill(max int) QueueBatch {
	out := QueueBatch{Seq: q.in.Seq, Specs: map[string]pairing.Spec{}}
	n, room := 0, signalBudget
	for len(q.requests) > 0 && n < max {
		r := &q.requests[0]
		k := min(len(r.Items), max-n)
		full := false
		if q.bounded {
			fit, used := fitting(r.Items[:k], room)
			if fit == 0 && n == 0 {
				fit = 1 // someone heavier than the budget still goes
			}
			if fit == 0 {
				break
			}
			full, k = fit < k, fit
			room -= used
		}
		part := *r
		part.Items = r.Items[:k]
		out.Requests = append(out.Requests, part)
		out.Specs[r.Spec] = q.specs[r.Spec]
		n += k
		if q.byPerson {
			for _, it := range part.Items {
				delete(q.seen, personKey(r.ID, it))
			}
		}
		if r.Items = r.Items[k:]; len(r.Items) == 0 {
			q.requests = q.requests[1:]
		}
		if full {
			break
		}
	}
	q.held -= n
	return out
}

// Enqueue hands b to segment seq of lane n's queue, starting the segment if
// it does not run.
func (l *Coordinator) Enqueue(ctx context.Context, n, seq int, b QueueBatch) error {
	opts := l.Names.lanes().coordinatorOptions(l.Names.LaneQueue(n, seq), fmt.Sprintf("Pairing lane %d's queue, part %d: people waiting while the lane is full", n, seq))
	_, err := l.Client.SignalWithStartWorkflow(ctx, opts.ID, QueueSignal, b, opts, LaneQueue, LaneQueueInput{Lane: n, Seq: seq})
	return err
}

// Take asks segment seq of lane n's queue for people; false when the
// segment has ended.
func (l *Coordinator) Take(ctx context.Context, n, seq int, t QueueTake) (bool, error) {
	err := l.Client.SignalWorkflow(ctx, l.Names.LaneQueue(n, seq), "", TakeSignal, t)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return false, nil
	}
	return err == nil, err
}

// queueOptions bounds the lane's local activities on its queue.
func queueOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: time.Minute,
	})
}

// spill hands to the queue the people beyond what the lane holds: those
// that arrived since the queue began (first in, first out), or, when it
// is empty, those beyond Hold. fresh counts the people received last.
//
// The people handed are taken out of Items before the first local
// activity: while it runs, batches in flight settle and change Items.
func (l *lane) spill(ctx workflow.Context, fresh int) {
	q := l.st.Queue
	if q == nil {
		return
	}
	from := len(l.st.Items) - fresh
	if q.Queued == 0 {
		from = max(0, l.settings.Hold-len(l.flying))
	}
	l.spillFrom(ctx, from)
}

// spillFrom hands the waiting people from Items[from] on to the queue,
// taking them out of Items first.
func (l *lane) spillFrom(ctx workflow.Context, from int) {
	q := l.st.Queue
	if q == nil || from < 0 || from >= len(l.st.Items) {
		return
	}
	out := slices.Clone(l.st.Items[from:])
	l.st.Items = slices.Clip(l.st.Items[:from])
	l.hand(ctx, out)
}

// hand hands out, people in arrival order taken out of Items, to the
// queue; those it could not hand go back to Items.
func (l *lane) hand(ctx workflow.Context, out []*LaneItem) {
	q := l.st.Queue
	for len(out) > 0 {
		if q.TailHeld >= l.settings.QueueSegment {
			q.Tail, q.TailHeld = q.Tail+1, 0
		}
		k := min(len(out), l.settings.QueueSegment-q.TailHeld, l.settings.Refill)
		if l.bounded {
			k, _ = fitting(out[:k], signalBudget)
			k = max(k, 1) // someone heavier than the budget still goes
		}
		q.Batches++
		b := l.queueBatch(fmt.Sprintf("%s/%d", workflow.GetInfo(ctx).WorkflowExecution.RunID, q.Batches), out[:k])
		if err := workflow.ExecuteLocalActivity(queueOptions(ctx), coord.Enqueue, l.n, q.Tail, b).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("Could not hand people to the lane's queue; the lane holds them", "error", err)
			break
		}
		for _, it := range out[:k] {
			if r := l.st.Requests[it.Request]; r != nil {
				if r.Open--; r.Open <= 0 {
					delete(l.st.Requests, it.Request)
				}
			}
			if q.OldestRead.IsZero() || it.ReadAt.Before(q.OldestRead) {
				q.OldestRead = it.ReadAt
			}
		}
		q.TailHeld += k
		q.Queued += k
		l.handed = l.commitsHands
		out = out[k:]
	}
	if len(out) > 0 {
		l.st.Items = append(l.st.Items, out...)
		slices.SortStableFunc(l.st.Items, func(a, b *LaneItem) int { return a.Received.Compare(b.Received) })
	}
}

// holding lists the people the lane holds, waiting or in flight
// (personKey).
func (l *lane) holding() map[string]bool {
	out := make(map[string]bool, len(l.st.Items)+len(l.flying))
	for _, it := range l.st.Items {
		out[personKey(it.Request, it)] = true
	}
	for it := range l.flying {
		out[personKey(it.Request, it)] = true
	}
	return out
}

// overHold reports whether people must go to the queue: it has people
// already (first in, first out), or the lane holds more than Hold.
func (l *lane) overHold() bool {
	q := l.st.Queue
	return q != nil && (q.Queued > 0 || len(l.st.Items)+len(l.flying) > l.settings.Hold)
}

// queueBatch packs items, grouped by request in order, for the queue.
func (l *lane) queueBatch(id string, items []*LaneItem) QueueBatch {
	b := QueueBatch{ID: id, Seq: l.st.Queue.Tail, Specs: map[string]pairing.Spec{}}
	at := map[string]int{}
	for _, it := range items {
		i, ok := at[it.Request]
		if !ok {
			r := l.st.Requests[it.Request]
			i = len(b.Requests)
			at[it.Request] = i
			b.Requests = append(b.Requests, QueuedRequest{ID: it.Request, ReplyTo: r.ReplyTo, ReplyRun: r.ReplyRun, Spec: r.Spec, Trigger: r.Trigger})
			b.Specs[r.Spec] = l.st.Specs[r.Spec]
		}
		b.Requests[i].Items = append(b.Requests[i].Items, it)
	}
	return b
}

// askRefill asks the head segment for people once the lane has room.
func (l *lane) askRefill(ctx workflow.Context) {
	q := l.st.Queue
	if q == nil || q.Queued == 0 || q.Asked || l.closing || len(l.st.Items)+len(l.flying) > l.settings.Hold-l.settings.Refill || workflow.Now(ctx).Before(l.queueRetry) {
		return
	}
	var running bool
	take := QueueTake{Max: l.settings.Refill}
	if l.refillsAhead {
		// Room for several refills: asked at once, sent one after the other.
		take = QueueTake{Max: l.settings.Hold - len(l.st.Items) - len(l.flying), Each: l.settings.Refill}
	}
	err := workflow.ExecuteLocalActivity(queueOptions(ctx), coord.Take, l.n, q.Head, take).Get(ctx, &running)
	switch {
	case err != nil:
		workflow.GetLogger(ctx).Warn("Could not ask the lane's queue for people; asking again soon", "error", err)
		l.queueRetry = workflow.Now(ctx).Add(5 * time.Second)
	case running:
		q.Asked = true
		if l.closeAsked && q.Tail == q.Head {
			// It may give its last and end before people handed now
			// reach it: they go to the next segment.
			q.Tail, q.TailHeld = q.Tail+1, 0
		}
	case q.Head < q.Tail:
		q.Head++ // ended: it gave everyone back
	default:
		workflow.GetLogger(ctx).Error("The lane's queue has ended while the lane counted people in it", "queued", q.Queued)
		l.st.Queue = &LaneQueueState{Head: q.Tail + 1, Tail: q.Tail + 1, Batches: q.Batches}
	}
}

// refill takes back the people the queue sent.
func (l *lane) refill(ctx workflow.Context, ch workflow.ReceiveChannel) {
	q := l.st.Queue
	got := false
	var holds map[string]bool // with onceEach: the people the lane holds
	for {
		var b QueueBatch
		if !ch.ReceiveAsync(&b) {
			break
		}
		got = true
		for fp, s := range b.Specs {
			l.st.Specs[fp] = s
		}
		for _, r := range b.Requests {
			items := r.Items
			if l.onceEach {
				if holds == nil {
					holds = l.holding()
				}
				items = nil
				for _, it := range r.Items {
					if k := personKey(r.ID, it); !holds[k] {
						holds[k] = true
						items = append(items, it)
					}
				}
				if len(items) == 0 {
					continue // given back twice: the lane holds them already
				}
			}
			req := l.st.Requests[r.ID]
			if req == nil {
				req = &LaneRequest{ReplyTo: r.ReplyTo, ReplyRun: r.ReplyRun, Spec: r.Spec, Trigger: r.Trigger}
				l.st.Requests[r.ID] = req
			}
			req.Open += len(items)
			l.st.Items = append(l.st.Items, items...)
		}
		if q == nil {
			continue // a lane never asks without its queue; be safe
		}
		q.Queued -= b.people()
		keeps := b.Seq == q.Head && !b.Done // the head segment holds more
		if b.Seq == q.Head {
			q.Asked = q.Asked && b.More
			if b.Done && q.Head < q.Tail {
				q.Head++
			}
		}
		if q.Queued <= 0 && (l.trustTail && q.mayHoldMore(b) || !l.trustTail && keeps && l.trustSegments) {
			// The lane's count is short (a segment gave back people the
			// lane counted nowhere, or twice): ask the head until it says
			// it is done.
			q.Queued = 1
		}
		if q.Queued <= 0 {
			*q = LaneQueueState{Head: q.Tail, Tail: q.Tail, Batches: q.Batches}
		}
	}
	if got {
		slices.SortStableFunc(l.st.Items, func(a, b *LaneItem) int { return a.Received.Compare(b.Received) })
	}
}

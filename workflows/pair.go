package workflows

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// maxItemsPerRequest keeps one PairSignal's payload small.
const maxItemsPerRequest = 100

// resubmitAfter is how long a requester waits without hearing from a lane
// before handing its unanswered people again (a lane that was reset or
// terminated by hand forgets them; a running one ignores the duplicate).
const resubmitAfter = 30 * time.Minute

// requester is the asking side of the pairing lanes, inside a UserSync or
// a BackfillChunk. It keeps its run's request sequence so that request IDs
// stay unique.
type requester struct {
	seq int
	// Waiting is how many people are handed to lanes and not answered yet,
	// for progress queries.
	Waiting int
	// Calls is the share of lane batches' Salesforce calls for this
	// requester's people.
	Calls float64

	// What is handed and not yet collected: the requests, their people,
	// the lane of each identifier key (people sharing one go to one lane
	// across hands too), and whether requests are named by content.
	sent      []sentRequest
	handed    []PairItem
	laneOfKey map[string]int
	named     bool
}

// pair hands people to their lanes and waits until every one is answered.
// People sharing an identifier go to one lane together, the first one's,
// so that a lane sees them all and never creates two records for them.
func (q *requester) pair(ctx workflow.Context, spec pairing.Spec, trigger pairing.Trigger, items []PairItem) (map[string]UserSyncResult, error) {
	if err := q.hand(ctx, spec, trigger, items); err != nil {
		return nil, err
	}
	return q.collect(ctx)
}

// hand hands people to their lanes now, without waiting for their answers:
// collect takes the answers of everyone handed since the last collect. A
// backfill chunk hands its users as it reads them (ChangeChunkPairsAsRead).
func (q *requester) hand(ctx workflow.Context, spec pairing.Spec, trigger pairing.Trigger, items []PairItem) error {
	q.named = workflow.GetVersion(ctx, ChangeRequestsNamedByContent, workflow.DefaultVersion, 1) >= 1
	requests := q.requests(ctx, spec, trigger, items, q.named)
	if err := submit(ctx, requests); err != nil {
		return err
	}
	q.sent = append(q.sent, requests...)
	q.handed = append(q.handed, items...)
	return nil
}

// collect waits until everyone handed since the last collect is answered.
func (q *requester) collect(ctx workflow.Context) (map[string]UserSyncResult, error) {
	requests, items := q.sent, q.handed
	q.sent, q.handed, q.laneOfKey = nil, nil, nil
	return q.await(ctx, requests, items, q.named)
}

// sentRequest is a request and the lane it goes to.
type sentRequest struct {
	lane int
	req  PairRequest
}

// requests splits items into requests, by lane (people sharing an
// identifier in the first one's, since the last collect), at most maxItemsPerRequest each. Named
// (ChangeRequestsNamedByContent), each ID ends with the digest of what
// the request carries (requestDigest): the same ID is the same request.
func (q *requester) requests(ctx workflow.Context, spec pairing.Spec, trigger pairing.Trigger, items []PairItem, named bool) []sentRequest {
	info := workflow.GetInfo(ctx)
	byLane := map[int][]PairItem{}
	if q.laneOfKey == nil {
		q.laneOfKey = map[string]int{}
	}
	var lanesUsed []int
	for _, it := range items {
		n := LaneOf(it.Profile.Slug)
		if k := activities.IdentifierKey(it.Profile.Values[spec.UniqueIdentifier.AwardForce]); k != "" {
			if first, ok := q.laneOfKey[k]; ok {
				n = first
			} else {
				q.laneOfKey[k] = n
			}
		}
		if _, ok := byLane[n]; !ok {
			lanesUsed = append(lanesUsed, n)
		}
		byLane[n] = append(byLane[n], it)
	}
	var requests []sentRequest
	for _, n := range lanesUsed {
		group := byLane[n]
		for start := 0; start < len(group); start += maxItemsPerRequest {
			q.seq++
			req := PairRequest{
				ID:      fmt.Sprintf("%s/%s/%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, q.seq),
				ReplyTo: info.WorkflowExecution.ID, ReplyRun: info.WorkflowExecution.RunID,
				Spec: spec, Trigger: trigger,
				Items: group[start:min(start+maxItemsPerRequest, len(group))],
			}
			if named {
				req.ID += "-" + requestDigest(trigger, req.Items)
			}
			requests = append(requests, sentRequest{n, req})
		}
	}
	return requests
}

// requestDigest is a digest of what a request asks of a lane: its trigger
// and its people as handed (their profiles, versions and known records),
// not when they were read. A workflow task that fails after its Submit
// local activity ran is retried, perhaps with signals that came meanwhile
// (a second edit): what it hands then is a request of its own, not a
// duplicate of the one the lane may already hold.
func requestDigest(trigger pairing.Trigger, items []PairItem) string {
	h := fnv.New64a()
	h.Write([]byte(trigger))
	enc := json.NewEncoder(h)
	for _, it := range items {
		it.ReadAt = time.Time{}
		if err := enc.Encode(it); err != nil {
			h.Write([]byte(it.Profile.Slug)) // not reached: a PairItem always encodes
		}
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// requestTail is what tells a run's requests apart: their sequence number
// and digest. The workflow and run IDs before it are left out: a run reset
// from the UI replays, under a run ID of its own, the answers its history
// holds (the lane addresses each answer to the run that asked).
func requestTail(id string) string { return id[strings.LastIndex(id, "/")+1:] }

// submit hands the requests to their lanes, all at once.
func submit(ctx workflow.Context, rs []sentRequest) error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: 10 * time.Minute,
	})
	futures := make([]workflow.Future, len(rs))
	for i, r := range rs {
		o := workflow.GetLocalActivityOptions(lctx)
		o.Summary = fmt.Sprintf("Hand %s to pairing lane %d", people(len(r.req.Items)), r.lane)
		futures[i] = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(lctx, o), coord.Submit, r.lane, r.req)
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return fmt.Errorf("handing people to a pairing lane: %w", err)
		}
	}
	return nil
}

// await takes the lanes' answers until every one of items is answered,
// handing the unanswered again after resubmitAfter of silence. Named
// (ChangeRequestsNamedByContent), it takes only the answers to requests:
// one to a request this run handed in a workflow task that did not
// complete is about other values.
func (q *requester) await(ctx workflow.Context, requests []sentRequest, items []PairItem, named bool) (map[string]UserSyncResult, error) {
	ours := make(map[string]bool, len(requests))
	for _, r := range requests {
		ours[requestTail(r.req.ID)] = true
	}
	results := make(map[string]UserSyncResult, len(items))
	want := make(map[string]bool, len(items))
	for _, it := range items {
		want[it.Profile.Slug] = true
	}
	q.Waiting += len(want)
	defer func() { q.Waiting -= len(want) - len(results) }()
	replies := workflow.GetSignalChannel(ctx, PairedSignal)
	silence := resubmitAfter
	var quiet *silenceTimer
	if workflow.GetVersion(ctx, ChangeOneSilenceTimer, workflow.DefaultVersion, 1) >= 1 {
		quiet = &silenceTimer{last: workflow.Now(ctx)}
		defer quiet.stop()
	}
	for len(results) < len(want) {
		var rp PairReply
		var got bool
		var err error
		if quiet != nil {
			got, err = quiet.receive(ctx, replies, silence, &rp)
		} else {
			got, err = receiveWithin(ctx, replies, silence, &rp)
		}
		if err != nil {
			return nil, err
		}
		if got && named && !ours[requestTail(rp.Request)] {
			workflow.GetLogger(ctx).Info("An answer to a request this run no longer waits for; ignored", "request", rp.Request)
			continue
		}
		if !got {
			workflow.GetLogger(ctx).Warn("No answer from the pairing lanes; handing the unanswered people again", "people", len(want)-len(results))
			if err := submit(ctx, unanswered(requests, results)); err != nil {
				return nil, err
			}
			continue
		}
		if rp.Queued {
			// The lane's queue holds them (a queue outlives a lane reset):
			// they are answered as the lane works through it, however long.
			silence = maxWait
		}
		q.Calls += rp.Calls
		for _, res := range rp.Results {
			if _, done := results[res.Slug]; want[res.Slug] && !done {
				results[res.Slug] = res
				q.Waiting--
			}
		}
	}
	return results, nil
}

// unanswered is requests less the people results answers.
func unanswered(requests []sentRequest, results map[string]UserSyncResult) []sentRequest {
	var again []sentRequest
	for _, r := range requests {
		var open []PairItem
		for _, it := range r.req.Items {
			if _, done := results[it.Profile.Slug]; !done {
				open = append(open, it)
			}
		}
		if len(open) > 0 {
			r.req.Items = open
			again = append(again, r)
		}
	}
	return again
}

// silenceTimer waits for values on a channel until none has come for a
// while, with one timer for many values: it is set for the moment the
// silence would end, left running as values come (each moves that moment
// on), and set again for the rest only when it fires early. A timer a
// value (receiveWithin) cost two history events and a timer task on the
// server for every lane reply.
type silenceTimer struct {
	last   time.Time // the last value, or the start
	timer  workflow.Future
	cancel workflow.CancelFunc
}

// receive receives one value from ch into v, or reports false once
// silence has passed since the last value (or the start); the silence
// then starts again.
func (s *silenceTimer) receive(ctx workflow.Context, ch workflow.ReceiveChannel, silence time.Duration, v any) (bool, error) {
	for {
		if s.timer == nil {
			var tctx workflow.Context
			tctx, s.cancel = workflow.WithCancel(ctx)
			s.timer = workflow.NewTimer(tctx, max(s.last.Add(silence).Sub(workflow.Now(ctx)), time.Millisecond))
		}
		got := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, v)
			got = true
		})
		sel.AddFuture(s.timer, func(workflow.Future) {})
		sel.Select(ctx)
		if err := ctx.Err(); err != nil {
			return false, err
		}
		now := workflow.Now(ctx)
		if got {
			s.last = now
			return true, nil
		}
		// The timer fired: the silence ended, or a value since moved its end.
		s.timer = nil
		if !now.Before(s.last.Add(silence)) {
			s.last = now
			return false, nil
		}
	}
}

// stop cancels the timer, if one runs.
func (s *silenceTimer) stop() {
	if s.timer != nil {
		s.cancel()
	}
}

// receiveWithin receives one value from ch, or reports false after d.
func receiveWithin(ctx workflow.Context, ch workflow.ReceiveChannel, d time.Duration, v any) (bool, error) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	got := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, v)
		got = true
	})
	sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) {})
	sel.Select(ctx)
	return got, ctx.Err()
}

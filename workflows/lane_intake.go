package workflows

// Handing people to a lane from a worker process: every UserSync and
// BackfillChunk hands its people with a Submit local activity, and a burst
// of webhooks is a hundred of those a second, all into one lane. A signal
// each is a write to the lane's history each: one workflow takes a few
// dozen a second on a small server, the syncs' tasks waited on their
// Submit, timed out and handed their people again. So a process sends the
// requests handed while its previous signal to that lane was under way, or
// less than signalSpacing ago, in one PairBatchSignal (group commit): a
// lone sync is sent at once, a burst in at most 20 signals a second, and
// each Submit returns once the signal that carries its request is accepted
// (a lane holds it from then on).

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

// PairBatchSignal carries a PairBatch to a lane.
const PairBatchSignal = "pair-batch"

// PairBatch is several requests handed to one lane at about the same
// moment, in one signal; the lane takes each as if it came by PairSignal.
type PairBatch struct {
	Requests []PairRequest `json:"requests"`
}

// Bounds of one PairBatch: well under Temporal's 256 KB payload warning,
// whatever the profiles weigh (a request alone over it goes alone).
const (
	maxBatchRequests = 64
	maxBatchBytes    = 192 << 10
)

// submitTimeout bounds one signal to a lane (the Submit local activity's
// own start-to-close timeout).
const submitTimeout = 10 * time.Second

// signalSpacing is the least time between two signals of a process to one
// lane: at most 20 a second, each a workflow task of the lane's, however
// many syncs hand people (a lone one is sent at once; a lane gathers for
// DefaultGather anyway).
const signalSpacing = 50 * time.Millisecond

// intake holds, by lane, the requests waiting for a signal.
type intake struct {
	mu    sync.Mutex
	lanes map[int]*laneOutbox
	// gap overrides signalSpacing (tests).
	gap time.Duration
}

func (in *intake) spacing() time.Duration {
	if in.gap != 0 {
		return in.gap
	}
	return signalSpacing
}

// laneOutbox is one lane's requests not sent yet; sending is set while
// its sender runs; sent is when its last signal went.
type laneOutbox struct {
	waiting []*handing
	sending bool
	sent    time.Time
}

// handing is one Submit's request, its encoded size and where its
// outcome goes.
type handing struct {
	req  PairRequest
	size int
	done chan error
}

// hand queues req for lane n, starting the lane's sender unless it runs,
// and waits until req is signalled or ctx ends.
func (in *intake) hand(ctx context.Context, n int, req PairRequest, send func(context.Context, int, []PairRequest) error) error {
	size := 0
	if b, err := json.Marshal(req); err == nil {
		size = len(b)
	}
	h := &handing{req: req, size: size, done: make(chan error, 1)}
	in.mu.Lock()
	if in.lanes == nil {
		in.lanes = map[int]*laneOutbox{}
	}
	box := in.lanes[n]
	if box == nil {
		box = &laneOutbox{}
		in.lanes[n] = box
	}
	box.waiting = append(box.waiting, h)
	if !box.sending {
		box.sending = true
		go in.sendAll(n, box, send)
	}
	in.mu.Unlock()
	select {
	case err := <-h.done:
		return err
	case <-ctx.Done():
		// The request may still go: a lane ignores a request it holds.
		return ctx.Err()
	}
}

// sendAll sends box's requests, a batch at a time, until none waits.
func (in *intake) sendAll(n int, box *laneOutbox, send func(context.Context, int, []PairRequest) error) {
	for {
		in.mu.Lock()
		wait := time.Until(box.sent.Add(in.spacing()))
		in.mu.Unlock()
		if wait > 0 {
			time.Sleep(wait) // more gather meanwhile
		}
		in.mu.Lock()
		batch := nextHanding(box)
		if len(batch) == 0 {
			box.sending = false
			in.mu.Unlock()
			return
		}
		box.sent = time.Now()
		in.mu.Unlock()
		reqs := make([]PairRequest, len(batch))
		for i, h := range batch {
			reqs[i] = h.req
		}
		ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
		err := send(ctx, n, reqs)
		cancel()
		for _, h := range batch {
			h.done <- err
		}
	}
}

// nextHanding takes the oldest waiting requests that fit one PairBatch
// (at least one) off box.
func nextHanding(box *laneOutbox) []*handing {
	k, bytes := 0, 0
	for k < len(box.waiting) && k < maxBatchRequests {
		if k > 0 && bytes+box.waiting[k].size > maxBatchBytes {
			break
		}
		bytes += box.waiting[k].size
		k++
	}
	batch := box.waiting[:k:k]
	box.waiting = box.waiting[k:]
	return batch
}

// signalLane signals reqs to lane n, starting the lane if it does not
// run: one request as PairSignal (what every lane reads), several as one
// PairBatchSignal.
func (l *Coordinator) signalLane(ctx context.Context, n int, reqs []PairRequest) error {
	opts := l.laneOptions(n)
	var err error
	if len(reqs) == 1 {
		_, err = l.Client.SignalWithStartWorkflow(ctx, opts.ID, PairSignal, reqs[0], opts, PairingLane, LaneInput{Lane: n})
	} else {
		_, err = l.Client.SignalWithStartWorkflow(ctx, opts.ID, PairBatchSignal, PairBatch{Requests: reqs}, opts, PairingLane, LaneInput{Lane: n})
	}
	return err
}

// laneOptions starts lane n of the coordinator's org, or joins it.
func (l *Coordinator) laneOptions(n int) client.StartWorkflowOptions {
	return l.Names.lanes().coordinatorOptions(l.Names.Lane(n), fmt.Sprintf("Pairing lane %d: every Salesforce write for its people, one at a time per person", n))
}

// StartLanes starts the integration's pairing lanes unless they run. A lane
// runs for ever (it continues as new), and the first sync of one of its
// people starts it too (signal-with-start); a worker starts them as it
// starts polling, so that the first burst after an install, or after a
// lane was terminated by hand, does not create the lane as well. Measured
// with 100 integrations backfilling at once: creating 100 lanes at the
// moment their first people arrived overloaded the dev server's store,
// which then lost tasks it had counted started (docs/benchmarks.md). A
// dependent integration's lanes are its org's, started by the worker of
// the integration it depends on.
func (l *Coordinator) StartLanes(ctx context.Context) error {
	if l.Names.Dependent() {
		return nil
	}
	for n := range LaneCount {
		if _, err := l.Client.ExecuteWorkflow(ctx, l.laneOptions(n), PairingLane, LaneInput{Lane: n}); err != nil {
			return fmt.Errorf("starting pairing lane %d: %w", n, err)
		}
	}
	return nil
}

package workflows

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

func TestAFadedSummaryNeverForgetsAPersonItHolds(t *testing.T) {
	var f FadedWrites
	for i := range fadedPeople {
		f.add(fmt.Sprintf("held%04d", i), int64(1000+i))
	}
	require.Equal(t, int64(1000), f.From)
	require.Equal(t, int64(1000+fadedPeople-1), f.To)
	for i := range fadedPeople {
		require.True(t, f.mayHold(fmt.Sprintf("held%04d", i)), "a person added is always held")
	}
	const others = 100_000
	maybe := 0
	for i := range others {
		if f.mayHold(fmt.Sprintf("other%05d", i)) {
			maybe++
		}
	}
	rate := float64(maybe) / others
	t.Logf("a full summary says \"may\" of %.2f%% of people it does not hold", 100*rate)
	require.Less(t, rate, 0.02, "each false \"may\" costs an Award Force read")
	require.Less(t, jsonSize(f), 7000, "a summary's weight in the continue-as-new input")
}

// fadingLane is a lane that wrote person p%04d at second base+i, for i
// below n, each paired with a record, its memory beginning at base.
func fadingLane(base int64, n int) *lane {
	l := &lane{st: LaneState{MemorySince: time.Unix(base, 0).UTC()}}
	l.init()
	for i := range n {
		slug := fmt.Sprintf("p%04d", i)
		l.st.Written[slug] = Written{base + int64(i), base + int64(i), 1}
		l.st.Paired[slug] = fmt.Sprintf("003000000000%04dAAA", i)
	}
	return l
}

func readAt(slug string, unix int64) *LaneItem {
	return &LaneItem{Profile: pairing.Profile{Slug: slug}, ReadAt: time.Unix(unix, 0).UTC()}
}

func TestFadingKeepsTheLatestWritesExactlyAndTheRestInSummaries(t *testing.T) {
	const base = 1_000_000
	n := fadedPeople + 1000
	l := fadingLane(base, n)
	l.fade(100)

	require.Len(t, l.st.Written, 100, "the latest writes stay exact")
	require.Contains(t, l.st.Written, fmt.Sprintf("p%04d", n-1))
	require.Contains(t, l.st.Written, fmt.Sprintf("p%04d", n-100))
	require.NotContains(t, l.st.Written, fmt.Sprintf("p%04d", n-101))
	require.Len(t, l.st.Paired, 100, "a record paired is remembered with its exact write")
	require.Equal(t, time.Unix(base+int64(n-100), 0).UTC(), l.st.MemorySince, "every write since is exact")
	require.Equal(t, time.Unix(base, 0).UTC(), l.st.FadedSince, "every write since is exact or faded")
	require.Len(t, l.st.Faded, 2)
	require.Equal(t, fadedPeople, l.st.Faded[0].N)
	require.Equal(t, int64(base+fadedPeople-1), l.st.Faded[0].To)

	after := int64(base + fadedPeople + 100) // within the second summary
	require.False(t, l.st.unsure(readAt("p4200", int64(base+n))), "read after the exact memory begins")
	require.True(t, l.st.unsure(readAt("p4200", after)), "a summary since the read holds the person")
	require.False(t, l.st.unsure(readAt("p0400", after)), "written before the read: no summary since holds them")
	require.False(t, l.st.unsure(readAt("nobody00", after)), "never written")
	require.True(t, l.st.unsure(readAt("p0400", base+300)), "a summary's time is its span: p0400 may be after")
	require.True(t, l.st.unsure(readAt("nobody00", base-1)), "read before the memory reaches")

	// Forgetting by time drops the summaries wholly before, and says what
	// the others no longer cover.
	l.forgetFadedBefore(base + 300)
	require.Len(t, l.st.Faded, 2, "the first summary reaches past the second")
	require.Equal(t, time.Unix(base+300, 0).UTC(), l.st.FadedSince)
	require.True(t, l.st.unsure(readAt("nobody00", base+200)))
	l.forgetFadedBefore(base + fadedPeople)
	require.Len(t, l.st.Faded, 1)
	require.False(t, l.st.unsure(readAt("p0400", after)))
	l.forgetFadedBefore(base + int64(n))
	require.Empty(t, l.st.Faded)
	require.True(t, l.st.unsure(readAt("p0400", after)), "nothing left to tell")
}

func TestALaneKeepsAtMostMaxFadedSummaries(t *testing.T) {
	const base = 2_000_000
	n := (maxFaded + 2) * fadedPeople
	l := fadingLane(base, n)
	l.fade(0)
	require.Empty(t, l.st.Written)
	require.Len(t, l.st.Faded, maxFaded)
	require.Equal(t, time.Unix(base+int64(2*fadedPeople), 0).UTC(), l.st.FadedSince, "the two oldest summaries are forgotten")
	require.Equal(t, time.Unix(base+int64(n), 0).UTC(), l.st.MemorySince)
	require.True(t, l.st.unsure(readAt("p0001", base)), "read before the summaries reach")
	require.Less(t, jsonSize(&l.st), maxFaded*7000, "bounded whatever the lane wrote")
}

func TestALaneReadsAgainOnlyWhomItsFadedMemoryMayHold(t *testing.T) {
	start := laneStart.Add(-50 * time.Minute).Unix()
	l := fadingLane(start, 1000) // one write a second, the last 33 min 20 s ago
	l.st.Written["FadedAda"] = Written{start + 500, start + 500, 1}
	l.fade(10)
	require.NotContains(t, l.st.Written, "FadedAda")

	lt := newLaneTest(t, testLaneSettings())
	ada := person("FadedAda", "ada@example.org", "Ada", "Lovelace")
	ada.ReadAt = time.Unix(start+400, 0) // before the lane wrote her last
	bob := person("NeverBob", "bob@example.org", "Bob", "Byron")
	bob.ReadAt = time.Unix(start+400, 0) // the lane never wrote him
	lt.users["FadedAda"] = pairing.Profile{Slug: "FadedAda", Values: map[string]string{"email": "ada@example.org", "first_name": "Ada", "last_name": "Byron"}}
	lt.send(0, pairRequest("backfill", pairing.TriggerBackfill, ada, bob))
	lt.runUntil(LaneInput{State: &l.st}, time.Hour)

	lt.mu.Lock()
	defer lt.mu.Unlock()
	require.Equal(t, map[string]int{"FadedAda": 1}, lt.reads, "only the person a summary since her read may hold is read again")
	require.Equal(t, "Byron", lt.crm.holding("ada@example.org")[0].Values["LastName"], "written from the fresh read")
	require.Equal(t, OutcomeCreated, lt.answers.one(t, "NeverBob").Outcome)
}

// A lane at its memory cap, holding its Hold of people with long
// profiles, each their own request (webhooks): its continue-as-new input
// stays within laneInputBudget. The writes beyond carriedExact fade, the
// newest people go to the queue, the one in doubt stays, nobody is lost.
func TestALaneContinuesAsNewWithinItsPayloadBudget(t *testing.T) {
	s := testLaneSettings()
	s.BatchesPerRun = 1
	lt := newLaneTest(t, s)
	var mu sync.Mutex
	queued, heaviest := map[string]int{}, 0
	lt.env.OnActivity(coord.Enqueue, mock.Anything, 0, mock.Anything, mock.Anything).Return(func(_ context.Context, _, _ int, b QueueBatch) error {
		mu.Lock()
		defer mu.Unlock()
		heaviest = max(heaviest, jsonSize(b))
		for _, r := range b.Requests {
			for _, it := range r.Items {
				queued[it.Profile.Slug]++
			}
		}
		return nil
	})
	lt.env.OnActivity(coord.Take, mock.Anything, 0, mock.Anything, mock.Anything).Return(true, nil) // and gives nobody back

	st := &LaneState{Queue: &LaneQueueState{}, MemorySince: laneStart.Add(-30 * time.Minute)}
	st.Written, st.Paired = map[string]Written{}, map[string]string{}
	for i := range memoryCap {
		slug := fmt.Sprintf("w%07d", i)
		st.Written[slug] = Written{laneStart.Add(-time.Hour).Unix(), laneStart.Add(-20*time.Minute).Unix() + int64(i/20), 1}
		if i < pairedCap {
			st.Paired[slug] = fmt.Sprintf("003Dn0000%07dAAA", i)
		}
	}
	// Someone whose write had no known outcome, waiting for the horizon.
	doubted := person("InDoubt0", "doubt@example.org", "Don", "Doubt")
	st.Specs = map[string]pairing.Spec{"fp": *pairing.Default()}
	st.Requests = map[string]*LaneRequest{"doubt": {ReplyTo: "requester-doubt", ReplyRun: "run-doubt", Spec: "fp", Trigger: pairing.TriggerProfileUpdate, Open: 1}}
	st.Items = []*LaneItem{{Request: "doubt", Profile: doubted.Profile, ReadAt: laneStart, Received: laneStart, Doubted: true}}
	st.Doubt = map[string]time.Time{"InDoubt0": laneStart.Add(2 * time.Hour)}

	const people = DefaultLaneHold + 100
	var reqs []PairRequest
	for i := range people {
		p := person(fmt.Sprintf("h%07d", i), fmt.Sprintf("held.person.%d@example.org", i), "Heldperson", fmt.Sprintf("Waiting-%d", i))
		for f := range 8 {
			p.Profile.Values[fmt.Sprintf("profile_field_%d", f)] = strings.Repeat("v", 40)
		}
		r := pairRequest(fmt.Sprintf("afsync-user-h%07d/0195c3f2-1a2b-7c3d-8e4f-%012d/1", i, i), pairing.TriggerProfileUpdate, p)
		reqs = append(reqs, r)
	}
	for k, start := 0, 0; start < len(reqs); k, start = k+1, start+400 {
		// A few hundred requests a signal (PairBatchSignal, as Submit
		// hands several): the test environment queues at most 1,000
		// callbacks, a signal each, and its main loop blocks for good
		// posting one more. Six callbacks of 400 single signals hung a CI
		// run once: with activities running, their timers fire on the wall
		// clock, all at once, and the third one's 400 found no room.
		batch := PairBatch{Requests: reqs[start:min(start+400, len(reqs))]}
		lt.env.RegisterDelayedCallback(func() { lt.env.SignalWorkflow(PairBatchSignal, batch) }, time.Duration(k)*time.Millisecond)
	}
	steps := commitSteps(lt.env, "Enqueue", "hand") // the handings and the short timers, in order
	next := lt.runToBound(LaneInput{State: st})
	require.NotEmpty(t, *steps)
	require.Equal(t, "commit", (*steps)[len(*steps)-1], "the last handing is recorded by a task of its own before the run continues as new: %v", *steps)

	size := jsonSize(next)
	t.Logf("continue-as-new input: %d bytes; %d waiting, %d exact writes, %d summaries, %d people handed to the queue", size, len(next.State.Items), len(next.State.Written), len(next.State.Faded), len(queued))
	require.LessOrEqual(t, size, laneInputBudget+64)
	require.LessOrEqual(t, heaviest, signalBudget+4<<10, "each handing to the queue within its signal budget, specs aside")
	require.LessOrEqual(t, len(next.State.Written), carriedExact)
	require.NotEmpty(t, next.State.Faded, "older writes fade, not forgotten")
	require.False(t, next.State.unsure(&LaneItem{Profile: pairing.Profile{Slug: "nobody00"}, ReadAt: laneStart.Add(-10 * time.Minute)}), "the summaries still tell who was not written")

	waiting := map[string]bool{}
	for _, it := range next.State.Items {
		waiting[it.Profile.Slug] = true
	}
	require.True(t, waiting["InDoubt0"], "someone in doubt is never handed away")
	for i := range people {
		slug := fmt.Sprintf("h%07d", i)
		n := len(lt.answers.of(slug)) + queued[slug]
		if waiting[slug] {
			n++
		}
		require.Equal(t, 1, n, "%s is answered, waiting or queued, once", slug)
	}
}

// A queue segment holding heavy people (long profiles, each their own
// request) gives them back in refills within signalBudget, in arrival
// order, everyone once.
func TestALaneQueueRefillStaysWithinItsSignalBudget(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(LaneQueue)
	onAnswers(env, func(Answer) {})
	var order []string
	refills, heaviest := 0, 0
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		if args.String(3) != RefillSignal {
			return
		}
		b := args.Get(4).(QueueBatch)
		refills++
		heaviest = max(heaviest, jsonSize(b))
		for _, r := range b.Requests {
			for _, it := range r.Items {
				order = append(order, it.Profile.Slug)
			}
		}
	})
	const people = 400
	var want []string
	var reqs []QueuedRequest
	for i := range people {
		r := queued(fmt.Sprintf("afsync-user-h%07d/0195c3f2-1a2b-7c3d-8e4f-%012d/1", i, i), 1)
		r.Items[0].Profile.Values = map[string]string{"email": fmt.Sprintf("heavy.%d@example.org", i)}
		for f := range 8 {
			r.Items[0].Profile.Values[fmt.Sprintf("profile_field_%d", f)] = strings.Repeat("v", 60)
		}
		want = append(want, r.Items[0].Profile.Slug)
		reqs = append(reqs, r)
	}
	spec := map[string]pairing.Spec{"fp": *pairing.Default()}
	env.RegisterDelayedCallback(func() {
		for start := 0; start < people; start += 100 {
			env.SignalWorkflow(QueueSignal, QueueBatch{ID: fmt.Sprint(start), Specs: spec, Requests: reqs[start : start+100]})
		}
	}, 0)
	for i := range 10 {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(TakeSignal, QueueTake{Max: DefaultRefill}) }, time.Duration(i+1)*time.Minute)
	}
	env.ExecuteWorkflow(LaneQueue, LaneQueueInput{Lane: 0, Seq: 0})

	require.NoError(t, env.GetWorkflowError())
	t.Logf("%d refills, the heaviest %d bytes", refills, heaviest)
	require.LessOrEqual(t, heaviest, signalBudget+4<<10, "specs and the envelope aside")
	require.Greater(t, refills, 2, "a refill of %d would weigh more than the budget", DefaultRefill)
	require.Equal(t, want, order)
}

// Someone the lane wrote and no longer remembers exactly comes again (a
// retried signal, a second trigger): when their record holds what they
// bring, the lane answers without reading them from Award Force; an older
// version is read again before anything is written, and decided on what
// Award Force holds now. Lanes from before lane-reads-before-writing read
// both first.
func TestALaneReadsAFadedPersonAgainOnlyBeforeWritingThem(t *testing.T) {
	for _, late := range []bool{true, false} {
		t.Run(map[bool]string{true: "reads before writing", false: "before lane-reads-before-writing"}[late], func(t *testing.T) {
			start := laneStart.Add(-50 * time.Minute).Unix()
			l := fadingLane(start, 1000)
			l.st.Written["FadedAda"] = Written{start + 500, start + 500, 1}
			l.st.Written["FadedBob"] = Written{start + 500, start + 500, 1}
			l.fade(10)
			require.NotContains(t, l.st.Written, "FadedAda")

			lt := newLaneTest(t, testLaneSettings())
			if !late {
				lt.env.OnGetVersion(ChangeLaneReadsBeforeWriting, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			// What the lane wrote, and Award Force holds.
			lt.crm.add("003AdaRecord0001AAA", "ada@example.org", "Ada", "Lovelace")
			lt.crm.add("003BobRecord0001AAA", "bob@example.org", "Bob", "Newer")
			lt.users["FadedAda"] = pairing.Profile{Slug: "FadedAda", Updated: time.Unix(start+450, 0).UTC(), Values: map[string]string{"email": "ada@example.org", "first_name": "Ada", "last_name": "Lovelace"}}
			lt.users["FadedBob"] = pairing.Profile{Slug: "FadedBob", Updated: time.Unix(start+480, 0).UTC(), Values: map[string]string{"email": "bob@example.org", "first_name": "Bob", "last_name": "Newer"}}
			// Ada again, as written; Bob's older version, read before.
			ada := updated(person("FadedAda", "ada@example.org", "Ada", "Lovelace"), time.Unix(start+450, 0).UTC())
			ada.ReadAt = time.Unix(start+460, 0)
			bob := updated(person("FadedBob", "bob@example.org", "Bob", "Older"), time.Unix(start+300, 0).UTC())
			bob.ReadAt = time.Unix(start+400, 0)
			lt.send(0, pairRequest("again", pairing.TriggerProfileUpdate, ada), pairRequest("older", pairing.TriggerProfileUpdate, bob))
			lt.runUntil(LaneInput{State: &l.st}, time.Hour)

			lt.mu.Lock()
			defer lt.mu.Unlock()
			require.Equal(t, OutcomeUnchanged, lt.answers.one(t, "FadedAda").Outcome)
			require.Equal(t, OutcomeUnchanged, lt.answers.one(t, "FadedBob").Outcome, "decided on what Award Force holds now")
			require.Empty(t, lt.crm.writes(), "nothing written: the older version never")
			require.Equal(t, "Newer", lt.crm.holding("bob@example.org")[0].Values["LastName"])
			if late {
				require.Equal(t, map[string]int{"FadedBob": 1}, lt.reads, "only the person the lookup would write is read again")
			} else {
				require.Equal(t, map[string]int{"FadedAda": 1, "FadedBob": 1}, lt.reads)
			}
		})
	}
}

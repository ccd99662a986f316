package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/afsync/afsync/pairing"
)

// wakeLog records a lane test's wakes (coord.WakeAt), answering each with
// err. The test clock moves only with timers, so every wake comes back
// before its moment there, and the lane waits for that moment with a
// timer: what these tests see is what the lane asked for.
type wakeLog struct {
	mu  sync.Mutex
	at  []time.Time
	err error
}

func (w *wakeLog) on(lt *laneTest) *wakeLog {
	lt.env.OnActivity(coord.WakeAt, mock.Anything, mock.Anything).Return(func(_ context.Context, at time.Time) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.at = append(w.at, at)
		return w.err
	})
	return w
}

func (w *wakeLog) moments() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Time(nil), w.at...)
}

func promptLaneSettings() LaneSettings {
	s := testLaneSettings()
	s.PromptWakes = true
	return s
}

func TestALaneEndsAGatheringWithAWakeAtItsMoment(t *testing.T) {
	lt := newLaneTest(t, promptLaneSettings())
	wakes := (&wakeLog{}).on(lt)
	lt.send(0, pairRequest("signup", pairing.TriggerRegistration, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
	lt.send(time.Minute, pairRequest("edit", pairing.TriggerProfileUpdate, person("GraceHop", "grace@example.org", "Grace", "Hopper")))
	lt.runUntil(LaneInput{Lane: 1}, time.Hour)

	require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
	require.Equal(t, OutcomeCreated, lt.answers.one(t, "GraceHop").Outcome)
	// Each lone person waited Gather for company, with a wake due then.
	require.Equal(t, []time.Time{laneStart.Add(DefaultGather), laneStart.Add(time.Minute + DefaultGather)}, wakes.moments())
	lookups := lt.crm.lookups()
	require.Len(t, lookups, 2)
	require.False(t, lookups[0].at.Before(laneStart.Add(DefaultGather)), "the batch went before its gathering ended")
}

func TestALaneWhoseWakeFailsWaitsWithTimers(t *testing.T) {
	lt := newLaneTest(t, promptLaneSettings())
	wakes := (&wakeLog{err: errors.New("unable to find activityType=WakeAt")}).on(lt)
	lt.send(0, pairRequest("signup", pairing.TriggerRegistration, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
	lt.send(time.Minute, pairRequest("edit", pairing.TriggerProfileUpdate, person("GraceHop", "grace@example.org", "Grace", "Hopper")))
	lt.runUntil(LaneInput{Lane: 1}, time.Hour)

	require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
	require.Equal(t, OutcomeCreated, lt.answers.one(t, "GraceHop").Outcome)
	require.Len(t, wakes.moments(), 1, "a run whose wake failed (a worker without WakeAt) does not ask for another")
}

func TestALaneEndsItsLastTaskWithAWake(t *testing.T) {
	s := promptLaneSettings()
	s.BatchesPerRun = 1
	s.Gather = -1 // no gathering: the one wake is the way out
	lt := newLaneTest(t, s)
	wakes := (&wakeLog{}).on(lt)
	lt.send(0, pairRequest("signup", pairing.TriggerRegistration, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
	next := lt.runToBound(LaneInput{Lane: 1})

	require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
	require.NotNil(t, next.State)
	// The answer recorded by a task of its own before the run continued as
	// new, ended by a wake due at once instead of a timer.
	require.Len(t, wakes.moments(), 1)
	writes := lt.crm.writes()
	require.Len(t, writes, 1)
	require.False(t, wakes.moments()[0].Before(writes[0].end), "the way out's wake is due once the answers are made")
}

func TestALaneWithoutPromptWakesKeepsItsTimers(t *testing.T) {
	lt := newLaneTest(t, testLaneSettings())
	wakes := (&wakeLog{}).on(lt)
	lt.send(0, pairRequest("signup", pairing.TriggerRegistration, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
	lt.runUntil(LaneInput{Lane: 1}, time.Hour)

	require.Equal(t, OutcomeCreated, lt.answers.one(t, "AdaLovel").Outcome)
	require.Empty(t, wakes.moments(), "settings without PromptWakes (a run recorded before them) wait with timers")
}

func TestALaneWaitsForABackfillsTrickleWithATimer(t *testing.T) {
	lt := newLaneTest(t, promptLaneSettings())
	wakes := (&wakeLog{}).on(lt)
	// A few of a backfill's people at a time, nothing in flight: a second
	// late costs them nothing (Award Force paces them), a wake would cost
	// the server an activity.
	lt.send(0, pairRequest("chunk-1", pairing.TriggerBackfill,
		person("AdaLovel", "ada@example.org", "Ada", "Lovelace"), person("GraceHop", "grace@example.org", "Grace", "Hopper")))
	// A registration among them is worth one.
	lt.send(time.Minute, pairRequest("chunk-2", pairing.TriggerBackfill, person("AlanTuri", "alan@example.org", "Alan", "Turing")),
		pairRequest("signup", pairing.TriggerRegistration, person("KayMcNul", "kay@example.org", "Kay", "McNulty")))
	lt.runUntil(LaneInput{Lane: 1}, time.Hour)

	for _, slug := range []string{"AdaLovel", "GraceHop", "AlanTuri", "KayMcNul"} {
		require.Equal(t, OutcomeCreated, lt.answers.one(t, slug).Outcome, slug)
	}
	require.Equal(t, []time.Time{laneStart.Add(time.Minute + DefaultGather)}, wakes.moments())
	lookups := lt.crm.lookups()
	require.Len(t, lookups, 2)
	require.False(t, lookups[0].at.Before(laneStart.Add(DefaultGather)), "the trickle went before its gathering ended")
}

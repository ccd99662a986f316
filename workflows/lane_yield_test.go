package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// A lane due to continue as new whose history has grown long (webhooks
// arriving one signal each behind a Salesforce outage) does not wait for a
// lookup retrying through the outage: the lookup gives way, and its people
// wait in the next run's input with no fault counted. Lanes from before
// lane-yields-lookups wait until the lookup gives up (in the server, up to
// ten minutes; here, after the test environment's ten attempts).
func TestALaneGivesWayToContinueAsNewWhileALookupRetries(t *testing.T) {
	for _, yields := range []bool{true, false} {
		t.Run(map[bool]string{true: "yields", false: "before lane-yields-lookups"}[yields], func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			if !yields {
				lt.env.OnGetVersion(ChangeLaneYieldsLookups, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			lt.crm.lookupFault = func(int, time.Time) error {
				return temporal.NewApplicationError("503 SERVICE_UNAVAILABLE: Service Unavailable", activities.ErrTypeSalesforceUnavailable)
			}
			lt.send(0, pairRequest("webhook-1", pairing.TriggerProfileUpdate, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")))
			lt.env.RegisterDelayedCallback(func() {
				lt.env.SetCurrentHistoryLength(yieldLookupsAt + 1000)
				lt.env.SetContinueAsNewSuggested(true)
				lt.env.SignalWorkflow(PairSignal, pairRequest("webhook-2", pairing.TriggerRegistration, person("GraceHop", "grace@example.org", "Grace", "Hopper")))
			}, 30*time.Second)
			next := lt.runToBound(LaneInput{Lane: 1})
			ended := lt.env.Now().Sub(laneStart)

			require.Empty(t, lt.answers.got, "nobody is answered: both wait")
			waiting := map[string]*LaneItem{}
			for _, it := range next.State.Items {
				waiting[it.Profile.Slug] = it
			}
			require.Len(t, waiting, 2, "both wait in the next run's input")
			require.Contains(t, waiting, "GraceHop")
			ada := waiting["AdaLovel"]
			require.NotNil(t, ada)
			if yields {
				require.Less(t, ended, 40*time.Second, "the run continues as new soon after it is due (at 30 s)")
				require.Less(t, len(lt.crm.lookups()), 10, "the lookup was retried a few times, then cancelled")
				require.Zero(t, ada.Attempts, "giving way is no fault")
				require.True(t, ada.NotBefore.IsZero(), "and no backoff")
			} else {
				require.Greater(t, ended, time.Minute, "the run waits for the lookup to give up")
				require.Len(t, lt.crm.lookups(), 10)
				require.Equal(t, 1, ada.Attempts)
			}
		})
	}
}

// A lane answers a batch's requesters with one local activity; lanes from
// before lane-answers-in-bulk send a signal command each.
func TestALaneAnswersABatchsRequestersInBulk(t *testing.T) {
	for _, bulk := range []bool{true, false} {
		t.Run(map[bool]string{true: "in bulk", false: "before lane-answers-in-bulk"}[bulk], func(t *testing.T) {
			lt := newLaneTest(t, testLaneSettings())
			if !bulk {
				lt.env.OnGetVersion(ChangeLaneAnswersInBulk, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			calls := 0
			lt.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
				if info.ActivityType.Name == "Answer" {
					calls++
				}
			})
			lt.send(0,
				pairRequest("one", pairing.TriggerRegistration, person("AdaLovel", "ada@example.org", "Ada", "Lovelace")),
				pairRequest("two", pairing.TriggerRegistration, person("GraceHop", "grace@example.org", "Grace", "Hopper")),
				pairRequest("three", pairing.TriggerRegistration, person("AlanTuri", "alan@example.org", "Alan", "Turing")))
			lt.runUntil(LaneInput{}, time.Hour)

			for id, slug := range map[string]string{"one": "AdaLovel", "two": "GraceHop", "three": "AlanTuri"} {
				require.Equal(t, OutcomeCreated, lt.answers.forRequest(t, id, slug).Outcome)
			}
			require.Len(t, lt.answers.got, 3)
			if bulk {
				require.Equal(t, 1, calls, "one local activity for the batch's three requesters")
			} else {
				require.Zero(t, calls, "a signal command each")
			}
		})
	}
}

package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// newEnv is a UserSync test environment whose lanes answer every person
// created.
func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	return laneEnv(t, &fakeLanes{answer: answerAll(UserSyncResult{Outcome: OutcomeCreated, RecordID: "003000000000001AAA",
		Decision: pairing.Decision{Action: pairing.ActionCreate}})})
}

// answerAll answers every person of a request with res.
func answerAll(res UserSyncResult) func(PairRequest) []UserSyncResult {
	return func(req PairRequest) []UserSyncResult {
		var out []UserSyncResult
		for _, it := range req.Items {
			r := res
			r.Slug = it.Profile.Slug
			out = append(out, r)
		}
		return out
	}
}

func profile(slug, email, first, last string) pairing.Profile {
	return pairing.Profile{Slug: slug, Values: map[string]string{
		"email": email, "first_name": first, "last_name": last, "mobile": "",
	}}
}

func TestUserSyncSkipsAUserWithoutEmailWithoutAskingSalesforce(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(profile("AbCdEfGh", "", "Ada", "Lovelace"), nil)

	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerManual, Spec: *pairing.Default()})
	require.NoError(t, env.GetWorkflowError())
	var res UserSyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, OutcomeSkipped, res.Outcome)
	require.Contains(t, res.Decision.Reason, "email")
	env.AssertActivityNotCalled(t, "FindRecords", mock.Anything, mock.Anything)
}

func TestUserSyncCallsNoAPIWhenTheTriggersOptionsAreOff(t *testing.T) {
	var outcome string
	env := bareLaneEnv(&fakeLanes{answer: answerAll(UserSyncResult{Outcome: OutcomeCreated})})
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		outcome, _ = args.Get(0).(temporal.SearchAttributes).GetKeyword(OutcomeKey)
	})
	spec := pairing.Default()
	spec.Options.UpdateOnProfileChange = false
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerProfileUpdate, Spec: *spec})
	require.NoError(t, env.GetWorkflowError())
	var res UserSyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, OutcomeSkipped, res.Outcome)
	require.Equal(t, string(OutcomeSkipped), outcome)
	require.Contains(t, res.Decision.Reason, "update_on_profile_change")
	env.AssertActivityNotCalled(t, "GetUser", mock.Anything, mock.Anything)
	env.AssertActivityNotCalled(t, "FindRecords", mock.Anything, mock.Anything)
}

func TestUserSyncRefusesAnInvalidSpecWithoutCallingAnyAPI(t *testing.T) {
	env := newEnv(t)
	spec := pairing.Default()
	spec.UniqueIdentifier = pairing.Identifier{}
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerManual, Spec: *spec})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &appErr))
	var audit UserSyncResult
	require.NoError(t, appErr.Details(&audit))
	require.Equal(t, OutcomeFailed, audit.Outcome)
	require.Contains(t, audit.Error, "unique_identifier")
	env.AssertActivityNotCalled(t, "GetUser", mock.Anything, mock.Anything)
}

// resyncEnv is a UserSync of a new user whose profile read takes a minute
// of workflow time, with the create mocked.
func resyncEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	env := newEnv(t)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").After(time.Minute).Return(profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace"), nil)
	return env
}

// continuedAs returns the input the workflow continued as new with.
func continuedAs(t *testing.T, env *testsuite.TestWorkflowEnvironment) UserSyncInput {
	t.Helper()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "want continue-as-new, got %v", env.GetWorkflowError())
	var next UserSyncInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

func TestUserSyncRunsAgainWhenTheUserChangesMidSync(t *testing.T) {
	env := resyncEnv(t)
	// Signalled while the profile is being read: this pass may have missed it.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(ResyncSignal, Resync{Trigger: pairing.TriggerProfileUpdate})
	}, 30*time.Second)
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerRegistration, Spec: *pairing.Default()})

	next := continuedAs(t, env)
	require.Equal(t, "AbCdEfGh", next.Slug)
	require.Equal(t, pairing.TriggerProfileUpdate, next.Trigger, "the next pass is for the change")
	require.Equal(t, pairing.Default().Fingerprint(), next.Spec.Fingerprint())
}

func TestUserSyncDoesNotRunAgainForAChangeItAlreadyRead(t *testing.T) {
	env := resyncEnv(t)
	// Delivered with the start (SignalWithStart): before the profile read.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(ResyncSignal, Resync{Trigger: pairing.TriggerProfileUpdate})
	}, 0)
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerRegistration, Spec: *pairing.Default()})
	require.NoError(t, env.GetWorkflowError())
	var res UserSyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, OutcomeCreated, res.Outcome)
}

func TestAFailedRegistrationStaysARegistrationOnResync(t *testing.T) {
	env := laneEnv(t, &fakeLanes{answer: answerAll(UserSyncResult{Outcome: OutcomeFailed, ErrorType: activities.ErrTypeSalesforceRejected,
		Error: activities.ErrTypeSalesforceRejected + ": STRING_TOO_LONG: Last Name: data value too large"})})
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").After(time.Minute).Return(profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace"), nil)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(ResyncSignal, Resync{Trigger: pairing.TriggerProfileUpdate}) // the user fixes the name
	}, 30*time.Second)
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerRegistration, Spec: *pairing.Default()})

	next := continuedAs(t, env)
	require.Equal(t, pairing.TriggerRegistration, next.Trigger, "the record still has to be created")
}

func TestAWriteBackAnswerShowsAnEditMadeSinceTheRead(t *testing.T) {
	spec := pairing.Default()
	spec.RecordIDField = "SfRecord"
	read := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	wrote := []pairing.Change{{Field: "SfRecord", Source: pairing.SourceRecordID, After: "003000000000001AAA"}}
	after := func(edit func(v map[string]string)) pairing.Profile {
		p := profile("AbCdEfGh", "Ada@Example.org", "Ada", "Lovelace")
		p.Values["SfRecord"] = "003000000000001AAA"
		p.Values["Unrelated"] = "a field the spec does not read"
		edit(p.Values)
		return p
	}
	require.False(t, editedSince(spec, read, wrote, after(func(map[string]string) {})), "what was read plus what was written")
	require.True(t, editedSince(spec, read, wrote, after(func(v map[string]string) { v["last_name"] = "Byron" })), "a name fixed meanwhile")
	require.True(t, editedSince(spec, read, wrote, after(func(v map[string]string) { v["email"] = "countess@example.org" })), "an address changed meanwhile")
	require.False(t, editedSince(spec, read, wrote, after(func(v map[string]string) { v["Unrelated"] = "changed" })), "a field no pair reads")
}

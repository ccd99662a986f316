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

// newEnv is a test environment for the UserSync code before the pairing
// lanes (workflow.DefaultVersion of ChangePairThroughLanes), which syncs
// started by older workers still run: the tests that use it prove that
// branch still behaves.
func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.AwardForce{})
	env.RegisterActivity(&activities.Salesforce{})
	env.RegisterWorkflow(UserSync)
	pinLegacy(env)
	return env
}

func profile(slug, email, first, last string) pairing.Profile {
	return pairing.Profile{Slug: slug, Values: map[string]string{
		"email": email, "first_name": first, "last_name": last, "mobile": "",
	}}
}

func contact(id, email, first, last string) pairing.CRMRecord {
	return pairing.CRMRecord{ID: id, Values: map[string]string{"Email": email, "FirstName": first, "LastName": last, "Phone": ""}}
}

func found(email string, recs ...pairing.CRMRecord) activities.FindRecordsResult {
	return activities.FindRecordsResult{Matches: map[string][]pairing.CRMRecord{activities.IdentifierKey(email): recs}, Queries: 1}
}

func run(t *testing.T, env *testsuite.TestWorkflowEnvironment, spec *pairing.Spec) (*UserSyncResult, error) {
	t.Helper()
	var outcome string
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		outcome, _ = sa.GetKeyword(OutcomeKey)
	})
	env.ExecuteWorkflow(UserSync, UserSyncInput{Slug: "AbCdEfGh", Trigger: pairing.TriggerManual, Spec: *spec})
	require.True(t, env.IsWorkflowCompleted())
	if err := env.GetWorkflowError(); err != nil {
		return nil, err
	}
	var res UserSyncResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, string(res.Outcome), outcome, "the search attribute must carry the outcome")
	return &res, nil
}

func TestUserSyncCreatesAMissingRecord(t *testing.T) {
	env := newEnv(t)
	p := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(p, nil).Once()
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(found("ada@example.org"), nil).Once()
	env.OnActivity(sf.CreateRecord, mock.Anything, mock.MatchedBy(func(in activities.CreateRecordInput) bool {
		return in.Slug == "AbCdEfGh" && in.Identifier == "ada@example.org" && hasChange(in.Values, "LastName", "Lovelace") && hasChange(in.Values, "Email", "ada@example.org")
	})).Return(activities.CreateRecordResult{ID: "003000000000001AAA", Created: true}, nil).Once()

	res, err := run(t, env, pairing.Default())
	require.NoError(t, err)
	require.Equal(t, OutcomeCreated, res.Outcome)
	require.Equal(t, "003000000000001AAA", res.RecordID)
	env.AssertExpectations(t)
	env.AssertActivityNotCalled(t, "UpdateRecord", mock.Anything, mock.Anything)
}

func TestUserSyncUpdatesOnlyChangedFields(t *testing.T) {
	env := newEnv(t)
	p := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	stale := contact("003000000000002AAA", "ADA@EXAMPLE.ORG", "Ada", "Byron")
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(p, nil)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(found("ada@example.org", stale), nil)
	var written []pairing.Change
	env.OnActivity(sf.UpdateRecord, mock.Anything, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		in := args.Get(1).(activities.UpdateRecordInput)
		require.Equal(t, "003000000000002AAA", in.ID)
		written = in.Values
	}).Once()

	res, err := run(t, env, pairing.Default())
	require.NoError(t, err)
	require.Equal(t, OutcomeUpdated, res.Outcome)
	require.Len(t, written, 1, "only LastName differs; the email differs in case only")
	require.Equal(t, pairing.Change{Field: "LastName", Source: "last_name", Before: "Byron", After: "Lovelace"}, written[0])
	require.Equal(t, written, res.Decision.CRM)
}

func TestUserSyncMakesNoWriteWhenNothingChanged(t *testing.T) {
	env := newEnv(t)
	p := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(p, nil)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(found("ada@example.org", contact("003000000000003AAA", "ada@example.org", "Ada", "Lovelace")), nil)

	res, err := run(t, env, pairing.Default())
	require.NoError(t, err)
	require.Equal(t, OutcomeUnchanged, res.Outcome)
	require.Equal(t, "003000000000003AAA", res.RecordID)
	env.AssertActivityNotCalled(t, "UpdateRecord", mock.Anything, mock.Anything)
	env.AssertActivityNotCalled(t, "CreateRecord", mock.Anything, mock.Anything)
	env.AssertActivityNotCalled(t, "UpdateUser", mock.Anything, mock.Anything)
}

func TestUserSyncReportsAmbiguousMatchesAndWritesNothing(t *testing.T) {
	env := newEnv(t)
	p := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(p, nil)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(found("ada@example.org",
		contact("003000000000004AAA", "ada@example.org", "Ada", "Byron"),
		contact("003000000000005AAA", "Ada@example.org", "Ada", "Lovelace")), nil)

	res, err := run(t, env, pairing.Default())
	require.NoError(t, err)
	require.Equal(t, OutcomeAmbiguous, res.Outcome)
	require.ElementsMatch(t, []string{"003000000000004AAA", "003000000000005AAA"}, res.Decision.CandidateIDs)
	env.AssertActivityNotCalled(t, "UpdateRecord", mock.Anything, mock.Anything)
	env.AssertActivityNotCalled(t, "CreateRecord", mock.Anything, mock.Anything)
}

func TestUserSyncSkipsAUserWithoutEmailWithoutAskingSalesforce(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(profile("AbCdEfGh", "", "Ada", "Lovelace"), nil)

	res, err := run(t, env, pairing.Default())
	require.NoError(t, err)
	require.Equal(t, OutcomeSkipped, res.Outcome)
	require.Contains(t, res.Decision.Reason, "email")
	env.AssertActivityNotCalled(t, "FindRecords", mock.Anything, mock.Anything)
}

func TestUserSyncFailsWithSalesforcesMessageAndKeepsTheAudit(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(profile("AbCdEfGh", "ada@example.org", "Ada", ""), nil)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(found("ada@example.org"), nil)
	rejected := temporal.NewNonRetryableApplicationError("REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]", activities.ErrTypeSalesforceRejected, nil)
	env.OnActivity(sf.CreateRecord, mock.Anything, mock.Anything).Return(activities.CreateRecordResult{}, rejected).Once()

	_, err := run(t, env, pairing.Default())
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %v", err)
	require.Equal(t, ErrTypeSyncFailed, appErr.Type())
	var audit UserSyncResult
	require.NoError(t, appErr.Details(&audit))
	require.Equal(t, OutcomeFailed, audit.Outcome)
	require.Contains(t, audit.Error, "Required fields are missing: [LastName]")
	require.Equal(t, pairing.ActionCreate, audit.Decision.Action)
}

func TestUserSyncPullsCRMValuesIntoAwardForce(t *testing.T) {
	env := newEnv(t)
	spec := pairing.Default()
	spec.Options.GetDetailsFromCRM = true
	spec.Fields = append(spec.Fields, pairing.FieldPair{AwardForce: "jobTitle", CRM: "Title", Direction: pairing.DirectionFromCRM})
	p := profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace")
	rec := contact("003000000000006AAA", "ada@example.org", "Ada", "Lovelace")
	rec.Values["Title"] = "Analyst"
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").Return(p, nil)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(found("ada@example.org", rec), nil)
	env.OnActivity(af.UpdateUser, mock.Anything, activities.UpdateUserInput{
		Slug:    "AbCdEfGh",
		Changes: []pairing.Change{{Field: "jobTitle", Source: "Title", Before: "", After: "Analyst"}},
	}).Return(activities.UpdateUserResult{}, nil).Once()

	res, err := run(t, env, spec)
	require.NoError(t, err)
	require.Equal(t, OutcomeUpdated, res.Outcome, "a pull into Award Force is an update")
	env.AssertExpectations(t)
	env.AssertActivityNotCalled(t, "UpdateRecord", mock.Anything, mock.Anything)
}

func hasChange(cs []pairing.Change, field, after string) bool {
	for _, c := range cs {
		if c.Field == field && c.After == after {
			return true
		}
	}
	return false
}

func TestUserSyncCallsNoAPIWhenTheTriggersOptionsAreOff(t *testing.T) {
	env := newEnv(t)
	spec := pairing.Default()
	spec.Options.UpdateOnProfileChange = false
	var outcome string
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		outcome, _ = args.Get(0).(temporal.SearchAttributes).GetKeyword(OutcomeKey)
	})
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
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
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
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").After(time.Minute).Return(profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace"), nil)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(found("ada@example.org"), nil)
	env.OnActivity(sf.CreateRecord, mock.Anything, mock.Anything).Return(activities.CreateRecordResult{ID: "003000000000001AAA", Created: true}, nil)
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
	env := newEnv(t)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
	env.OnActivity(af.GetUser, mock.Anything, "AbCdEfGh").After(time.Minute).Return(profile("AbCdEfGh", "ada@example.org", "Ada", "Lovelace"), nil)
	env.OnActivity(sf.FindRecords, mock.Anything, mock.Anything).Return(found("ada@example.org"), nil)
	env.OnActivity(sf.CreateRecord, mock.Anything, mock.Anything).Return(activities.CreateRecordResult{},
		temporal.NewNonRetryableApplicationError("STRING_TOO_LONG: Last Name: data value too large", activities.ErrTypeSalesforceRejected, nil))
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

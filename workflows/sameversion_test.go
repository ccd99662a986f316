package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

var (
	pairedAt   = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	pairedAs   = pairing.Profile{Slug: "QuinnQck", Values: map[string]string{"email": "quinn@example.org", "first_name": "Quinn", "last_name": "Quik"}, Updated: pairedAt}
	editedSame = pairing.Profile{Slug: "QuinnQck", Values: map[string]string{"email": "quinn@example.org", "first_name": "Quinn", "last_name": "Quick"}, Updated: pairedAt}
)

// editedWithinCases asks editedWithin, inside a workflow, of a person
// last paired as pairedAs: the same second with other values, the same
// values, no digest known, a later version.
func editedWithinCases(ctx workflow.Context) ([]bool, error) {
	spec := pairing.Default()
	r := &laneRun{ctx: ctx, b: &batch{spec: *spec}}
	d := ProfileDigest(spec, pairedAs)
	later := editedSame
	later.Updated = pairedAt.Add(time.Second)
	return []bool{
		r.editedWithin(&LaneItem{Profile: editedSame}, pairedAt, d),
		r.editedWithin(&LaneItem{Profile: pairedAs}, pairedAt, d),
		r.editedWithin(&LaneItem{Profile: editedSame}, pairedAt, 0),
		r.editedWithin(&LaneItem{Profile: later}, pairedAt, d),
	}, nil
}

// An edit made within the second afsync last paired (the same `updated`,
// other values) is a change since the last sync for the baselines; the
// same values, an unknown digest or a later version are not this case.
func TestALaneTellsAnEditWithinTheSecondLastPaired(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(editedWithinCases)
	env.ExecuteWorkflow(editedWithinCases)
	require.NoError(t, env.GetWorkflowError())
	var got []bool
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, []bool{true, false, false, false}, got)
}

// The digest reads what the spec reads, as the lanes compare it: case in
// the address and spaces around a value are no edit; a field the spec
// does not read is none either.
func TestAProfileDigestIgnoresWhatTheLanesIgnore(t *testing.T) {
	spec := pairing.Default()
	same := pairing.Profile{Values: map[string]string{"email": " Quinn@Example.org", "first_name": "Quinn ", "last_name": "Quik", "Unmapped": "x"}}
	require.Equal(t, ProfileDigest(spec, pairedAs), ProfileDigest(spec, same))
	require.NotEqual(t, ProfileDigest(spec, pairedAs), ProfileDigest(spec, editedSame))
	require.NotZero(t, ProfileDigest(spec, pairing.Profile{}))
}

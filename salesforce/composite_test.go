package salesforce_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// Creates, upserts and updates go in one composite request, each answered
// on its own; one refused as a whole (an upsert on a field that is not an
// external id) leaves the others written.
func TestCollectionsSendsSeveralCallsAsOne(t *testing.T) {
	sim, c := newSim(t, sfsim.Options{})
	ctx := context.Background()
	id := sim.Insert("Contact", map[string]any{"LastName": "Old", "Email": "old@example.org"})
	contact := func(f map[string]any) salesforce.SObject { return salesforce.SObject{Type: "Contact", Fields: f} }
	answers, err := c.Collections(ctx, []salesforce.CollectionCall{
		{Kind: salesforce.CollectionCreate, Records: []salesforce.SObject{contact(map[string]any{"LastName": "New"}), contact(map[string]any{"FirstName": "No last name"})}},
		{Kind: salesforce.CollectionUpsert, Object: "Contact", ExtField: "Email", Records: []salesforce.SObject{contact(map[string]any{"LastName": "X", "Email": "x@example.org"})}},
		{Kind: salesforce.CollectionUpdate, Records: []salesforce.SObject{{Type: "Contact", ID: id, Fields: map[string]any{"LastName": "Updated"}}}},
	})
	require.NoError(t, err)
	require.Len(t, answers, 3)
	require.NoError(t, answers[0].Err)
	assert.True(t, answers[0].Results[0].Success)
	assert.False(t, answers[0].Results[1].Success, "a record refused alone")
	e := apiError(t, answers[1].Err)
	assert.Equal(t, 404, e.HTTPStatus)
	assert.Equal(t, "NOT_FOUND", e.ErrorCode)
	assert.True(t, e.Answered(), "Salesforce answered: the write did not happen")
	require.NoError(t, answers[2].Err)
	assert.True(t, answers[2].Results[0].Success)
	rec, _ := sim.Record("Contact", id)
	assert.Equal(t, "Updated", rec["LastName"])
	assert.Equal(t, 1, sim.Stats().APICalls, "one API call")
	assert.Len(t, sim.Records("Contact"), 2)

	_, err = c.Collections(ctx, make([]salesforce.CollectionCall, 6))
	require.Error(t, err, "more than five collection calls")
	_, err = c.Collections(ctx, []salesforce.CollectionCall{{Kind: salesforce.CollectionCreate}})
	require.Error(t, err, "an empty call")
}

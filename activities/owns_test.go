package activities

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
)

// The worker owns its spec: every Salesforce activity that reads or writes
// by a spec refuses another one, before any request, with a fatal error
// that says what to do; the worker's own spec passes.
func TestSalesforceActivitiesRefuseASpecNotTheWorkers(t *testing.T) {
	a, sim := newSalesforce(t)
	a.Spec = pairing.Default()
	other := *pairing.Default()
	other.Object = "Lead"
	ctx := context.Background()
	sim.ResetStats()

	calls := map[string]func(pairing.Spec) error{
		"FindRecords": func(s pairing.Spec) error {
			_, err := a.FindRecords(ctx, FindRecordsInput{Spec: s, Identifiers: []string{"ada@example.org"}})
			return err
		},
		"Write": func(s pairing.Spec) error { _, err := a.Write(ctx, WriteInput{Spec: s}); return err },
		"ChangedRecords": func(s pairing.Spec) error {
			_, err := a.ChangedRecords(ctx, ChangesInput{Spec: s})
			return err
		},
		"Accounts": func(s pairing.Spec) error {
			_, err := a.Accounts(ctx, AccountsInput{Spec: s, Organisations: []string{"Acme"}, Create: true})
			return err
		},
	}
	for name, call := range calls {
		err := call(other)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != ErrTypeInvalidSpec || !appErr.NonRetryable() ||
			!strings.Contains(appErr.Message(), "not the worker's") || !strings.Contains(appErr.Message(), "--config") {
			t.Errorf("%s with another spec: %v", name, err)
		}
	}
	if n := sim.Stats().APICalls; n != 0 {
		t.Errorf("%d Salesforce calls for refused specs, want none", n)
	}
	if _, err := a.FindRecords(ctx, FindRecordsInput{Spec: *pairing.Default(), Identifiers: []string{"ada@example.org"}}); err != nil {
		t.Errorf("the worker's own spec: %v", err)
	}
	// A dependent integration's spec is accepted too: its people are
	// paired in this worker's lanes.
	dependent := *pairing.Default()
	dependent.PhoneRegion = "GB"
	a.Dependents = []*pairing.Spec{&dependent}
	if _, err := a.FindRecords(ctx, FindRecordsInput{Spec: dependent, Identifiers: []string{"ada@example.org"}}); err != nil {
		t.Errorf("a dependent's spec: %v", err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/afsync/afsync/internal/afworker"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// sluggedSpec is the example spec's shape: the slug in an external id, the
// record id written back into Award Force.
const sluggedSpec = `object: Contact
unique_identifier: {awardforce: email, crm: Email}
external_id: {crm: AwardForce_Slug__c}
record_id_field: SfRecord
fields:
  - {awardforce: first_name, crm: FirstName}
  - {awardforce: last_name, crm: LastName}
`

// identityStack starts the stack with spec (the built-in default when
// empty), the sandbox's webhooks reaching the worker as in production.
func identityStack(t *testing.T, spec string, sb sandbox.Options) *devstack.Stack {
	t.Helper()
	stack, _ := identityStackAt(t, spec, sb)
	return stack
}

// identityStackAt is identityStack, with the worker's webhook address.
func identityStackAt(t *testing.T, spec string, sb sandbox.Options) (*devstack.Stack, string) {
	t.Helper()
	var stack *devstack.Stack
	if spec == "" {
		stack = startStack(t, sb)
	} else {
		path := filepath.Join(t.TempDir(), "spec.yaml")
		if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
			t.Fatal(err)
		}
		stack = startStackWithSpec(t, sb, path)
	}
	return stack, sandboxWebhooks(t, stack)
}

// contactByID is the sandbox org's Contact id, or nil.
func contactByID(stack *devstack.Stack, id string) map[string]any {
	for _, r := range stack.Sandbox.Salesforce.Records("Contact") {
		if r["Id"] == id {
			return r
		}
	}
	return nil
}

// registered registers u and waits until a Contact holds their address;
// it returns the user and that Contact's id.
func registered(t *testing.T, stack *devstack.Stack, u afsim.User) (afsim.User, string) {
	t.Helper()
	u = stack.Sandbox.AwardForce.Register(u)
	var id string
	waitForLong(t, func() bool {
		recs := contactsByEmail(stack.Sandbox.Salesforce.Records("Contact"))[strings.ToLower(u.Email)]
		if len(recs) == 1 && recs[0]["FirstName"] == u.FirstName {
			id, _ = recs[0]["Id"].(string)
		}
		return id != ""
	}, u.FirstName+"'s Contact", time.Minute)
	return u, id
}

// A person's email change reaches the record they are paired with, whatever
// the spec; the address they freed, registered by a newcomer, gets a record
// of its own and never the first person's.
func TestIntegrationAPersonKeepsTheirRecordThroughAnEmailChange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, spec string }{
		{"the built-in default spec", ""},
		{"the slug in an external id and record_id_field", sluggedSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack := identityStack(t, tc.spec, sandbox.Options{})
			af := stack.Sandbox.AwardForce
			ada, adaRec := registered(t, stack, afsim.User{Email: "ada@example.org", FirstName: "Ada", LastName: "Lovelace"})

			// Ada changes her address in Award Force (a signed webhook).
			af.Edit(ada.Slug, func(u *afsim.User) { u.Email = "countess@example.org" })
			waitForLong(t, func() bool {
				r := contactByID(stack, adaRec)
				return r != nil && r["Email"] == "countess@example.org"
			}, "Ada's new address on her record", time.Minute)

			// A newcomer registers with the address Ada gave up.
			ned, nedRec := registered(t, stack, afsim.User{Email: "ada@example.org", FirstName: "Ned", LastName: "Owner"})
			if nedRec == adaRec {
				t.Fatalf("the newcomer %s took Ada's record %s", ned.Slug, adaRec)
			}
			r := contactByID(stack, adaRec)
			if r["FirstName"] != "Ada" || r["Email"] != "countess@example.org" {
				t.Fatalf("Ada's record now holds %v", r)
			}
			if n := len(stack.Sandbox.Salesforce.Records("Contact")); n != 2 {
				t.Fatalf("%d Contacts, want one each: %v", n, stack.Sandbox.Salesforce.Records("Contact"))
			}
			if tc.spec != "" {
				if r["AwardForce_Slug__c"] != ada.Slug {
					t.Fatalf("Ada's record carries slug %v, want %s", r["AwardForce_Slug__c"], ada.Slug)
				}
				waitForLong(t, func() bool {
					a, _ := af.User(ada.Slug)
					n, _ := af.User(ned.Slug)
					return a.Fields["SfRecord"] == adaRec && n.Fields["SfRecord"] == nedRec
				}, "each record id written back to its own person", 30*time.Second)
			}
		})
	}
}

// A record made before afsync, found by its address, is adopted: it is
// given the person's slug, so that an email change made later still finds it.
func TestIntegrationARecordFoundByAddressIsAdopted(t *testing.T) {
	t.Parallel()
	stack := identityStack(t, sluggedSpec, sandbox.Options{})
	sf := stack.Sandbox.Salesforce
	pre := sf.Insert("Contact", map[string]any{"Email": "grace@example.org", "FirstName": "Grace", "LastName": "Hopper"})
	grace, rec := registered(t, stack, afsim.User{Email: "grace@example.org", FirstName: "Grace", LastName: "Hopper"})
	if rec != pre {
		t.Fatalf("paired with %s, want the existing %s", rec, pre)
	}
	waitForLong(t, func() bool { return contactByID(stack, pre)["AwardForce_Slug__c"] == grace.Slug }, "the slug stamped on the record", time.Minute)
	waitForLong(t, func() bool { g, _ := stack.Sandbox.AwardForce.User(grace.Slug); return g.Fields["SfRecord"] == pre }, "the record id written back", time.Minute)
	// The address changes and the record id is lost: the slug on the record
	// is what still finds it.
	stack.Sandbox.AwardForce.Edit(grace.Slug, func(u *afsim.User) { u.Email = "admiral@example.org"; u.Fields["SfRecord"] = "" })
	waitForLong(t, func() bool { return contactByID(stack, pre)["Email"] == "admiral@example.org" }, "the new address on the adopted record", time.Minute)
	if n := len(sf.Records("Contact")); n != 1 {
		t.Fatalf("%d Contacts, want 1", n)
	}
}

// With the built-in default spec, a record made before afsync and found by
// address is adopted into the identity ledger: the person's email change
// reaches it even after the lane and their last sync were forgotten.
func TestIntegrationARecordFoundByAddressIsAdoptedIntoTheLedger(t *testing.T) {
	t.Parallel()
	stack := identityStack(t, "", sandbox.Options{})
	sf := stack.Sandbox.Salesforce
	pre := sf.Insert("Contact", map[string]any{"Email": "grace@example.org", "FirstName": "Grace", "LastName": "Hopper"})
	grace, rec := registered(t, stack, afsim.User{Email: "grace@example.org", FirstName: "Grace", LastName: "Hopper"})
	if rec != pre {
		t.Fatalf("paired with %s, want the existing %s", rec, pre)
	}
	inLedger(t, stack, grace.Slug, pre)
	forget(t, stack, grace.Slug)
	stack.Sandbox.AwardForce.Edit(grace.Slug, func(u *afsim.User) { u.Email = "admiral@example.org" })
	waitForLong(t, func() bool { return contactByID(stack, pre)["Email"] == "admiral@example.org" }, "the new address on the adopted record", time.Minute)
	waitForLong(t, func() bool { return syncEnded(stack, grace.Slug) }, "Grace's sync to end", time.Minute)
	if n := len(sf.Records("Contact")); n != 1 {
		t.Fatalf("%d Contacts, want 1: %v", n, sf.Records("Contact"))
	}
}

// forget has everything but the identity ledger forget the person of
// slug: their last sync is deleted (as the namespace's retention would)
// and the lane is terminated (its memory gone).
func forget(t *testing.T, stack *devstack.Stack, slug string) {
	t.Helper()
	ctx := context.Background()
	waitForLong(t, func() bool { return syncEnded(stack, slug) }, "the sync to end", time.Minute)
	syncID := workflows.UserSyncWorkflowID(slug)
	if _, err := stack.Client.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
		Namespace: stack.Server.Namespace, WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: syncID}}); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, func() bool {
		_, err := stack.Client.DescribeWorkflowExecution(ctx, syncID, "")
		var notFound *serviceerror.NotFound
		return errors.As(err, &notFound)
	}, "the sync to be deleted", time.Minute)
	if err := stack.Client.TerminateWorkflow(ctx, workflows.LaneWorkflowID(0), "", "test: the lane forgets"); err != nil {
		t.Fatal(err)
	}
}

// Someone fixes a typo, or changes their address, while their
// registration's sync is writing back the record id: Award Force's answer
// to that write-back shows the edit, and the sync runs once more for it
// (before, the write-back's own version counted as paired and the edit's
// webhook was dropped as a duplicate). The record is the person's one
// record, holding the edit.
func TestIntegrationAnEditBetweenTheReadAndTheWriteBackIsNotLost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edit  func(*afsim.User)
		field string
		want  string
	}{
		{"a corrected name", func(u *afsim.User) { u.LastName = "Typo" }, "LastName", "Typo"},
		{"a new address", func(u *afsim.User) { u.Email = "tia.typo@example.org" }, "Email", "tia.typo@example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			editAtTheWriteBack(t, tc.edit, tc.field, tc.want)
		})
	}
}

// editAtTheWriteBack registers someone who makes edit at the very moment
// their sync's write-back (the new record's id) reaches Award Force, after
// the sync read them and before the write-back is applied, and waits for
// their one Contact to hold want in field.
func editAtTheWriteBack(t *testing.T, edit func(*afsim.User), field, want string) {
	stack := identityStack(t, sluggedSpec, sandbox.Options{})
	lateUpdates(t, stack)
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	var once sync.Once
	edited := make(chan string, 1)
	af.BeforeUpdate(func(slug string) {
		once.Do(func() {
			e, _ := af.Edit(slug, edit)
			// The write-back lands in a later second than the edit: the
			// edit's version is older than the one the write-back makes.
			for time.Now().Unix() <= e.Updated.Unix() {
				time.Sleep(10 * time.Millisecond)
			}
			edited <- slug
		})
	})
	u := af.Register(afsim.User{Email: "typo@example.org", FirstName: "Tia", LastName: "Tpyo"})
	select {
	case slug := <-edited:
		if slug != u.Slug {
			t.Fatalf("the write-back reached %s, not %s", slug, u.Slug)
		}
	case <-time.After(time.Minute):
		t.Fatal("no write-back reached Award Force within a minute")
	}
	waitForLong(t, func() bool {
		recs := sf.Records("Contact")
		return len(recs) == 1 && recs[0][field] == want
	}, "the edit in the person's one Contact", 2*time.Minute)
	got, _ := af.User(u.Slug)
	if rec := sf.Records("Contact")[0]; got.Fields["SfRecord"] != rec["Id"] || rec["AwardForce_Slug__c"] != u.Slug {
		t.Fatalf("Award Force holds record id %q, the Contact is %v with slug %v", got.Fields["SfRecord"], rec["Id"], rec["AwardForce_Slug__c"])
	}
}

// lateUpdates has the sandbox's webhooks received by the worker's
// receiver, a user_updated event once the user's sync has ended only:
// Award Force delivers webhooks when it can, and the edit that raced a
// sync may be announced after it. Such an edit reaches Salesforce only if
// the sync saw it.
func lateUpdates(t *testing.T, stack *devstack.Stack) {
	t.Helper()
	h, err := afworker.HTTPHandler(stack.Client, stack.Config, stack.Spec, nil, receiverLog(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct{ Event, Slug string }
		_ = json.Unmarshal(body, &ev)
		if ev.Event == afsim.EventUpdated {
			deadline := time.Now().Add(time.Minute)
			for !syncEnded(stack, ev.Slug) {
				if time.Now().After(deadline) {
					t.Errorf("the sync of %s did not end within a minute", ev.Slug)
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	stack.Sandbox.SetWebhookURL(srv.URL + "/webhooks/awardforce")
}

// syncEnded reports whether the latest sync of the user has completed.
func syncEnded(stack *devstack.Stack, slug string) bool {
	d, err := stack.Client.DescribeWorkflowExecution(context.Background(), workflows.UserSyncWorkflowID(slug), "")
	return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
}

// orderedSpec pulls the job title from the CRM at every sync; the watch is
// off, so that only the syncs the test starts pull.
const orderedSpec = `options: {get_details_from_crm: true}
object: Contact
unique_identifier: {awardforce: email, crm: Email}
crm_changes: {watch: false}
fields:
  - {awardforce: first_name, crm: FirstName}
  - {awardforce: last_name, crm: LastName}
  - {awardforce: JobTitle, crm: Title, direction: from_crm}
`

// A backfill chunk's write-back waits long for Award Force's budget (60
// requests a minute, backfills after events); a newer sync of one of its
// users pulls a newer CRM value meanwhile. The chunk's older value is never
// written over it.
func TestIntegrationAnOlderWriteBackNeverLandsOverANewerOne(t *testing.T) {
	t.Parallel()
	const users = 30
	path := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(path, []byte(orderedSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	stack := startStackWithSpec(t, sandbox.Options{AwardForceRateLimit: 60}, path)
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	var last afsim.User
	var lastRec string
	for i := range users {
		u := af.AddUser(afsim.User{Email: fmt.Sprintf("title%02d@example.org", i), FirstName: "T", LastName: fmt.Sprintf("Itle%02d", i),
			Fields: map[string]string{"JobTitle": "Intern"}})
		id := sf.Insert("Contact", map[string]any{"Email": u.Email, "FirstName": "T", "LastName": u.LastName, "Title": "Analyst"})
		last, lastRec = u, id
	}
	g := &globalOptions{temporal: configFor(stack), specPath: path}
	done := make(chan error, 1)
	go func() {
		done <- runBackfill(context.Background(), &backfillOptions{globalOptions: g, concurrency: 1, pagesPerChunk: 1,
			out: t.TempDir() + "/plan.csv", json: true, stdout: &syncBuffer{}})
	}()
	// The chunk has decided (its first write-backs land, a permit a second)
	// before the last user's write-back can: the CRM changes, and a newer
	// sync of that user pulls the new title.
	waitForLong(t, func() bool {
		n := 0
		for _, u := range af.Users() {
			if u.Fields["JobTitle"] == "Analyst" {
				n++
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the backfill ended before the test could act: %v", err)
		default:
		}
		return n >= 2
	}, "the chunk's first write-backs", 2*time.Minute)
	if got, _ := af.User(last.Slug); got.Fields["JobTitle"] != "Intern" {
		t.Fatalf("the last user's write-back landed already (%q): the test proves nothing; add users", got.Fields["JobTitle"])
	}
	if err := sf.EditAs("Contact", lastRec, map[string]any{"Title": "Director"}); err != nil {
		t.Fatal(err)
	}
	if res, err := syncJSONWith(t, stack, path, last.Slug); err != nil || !hasChangeTo(res, "JobTitle", "Director") {
		t.Fatalf("the newer sync: %v %+v", err, res)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := af.User(last.Slug); got.Fields["JobTitle"] != "Director" {
		t.Fatalf("the last user's job title is %q: the backfill's older pull landed over the newer sync's", got.Fields["JobTitle"])
	}
	// The chunk's write-backs came in paced grants (several permits, each
	// due at its moment): the order above held with paced permits.
	paced := 0
	for _, run := range listWorkflows(t, stack, "WorkflowId = '"+workflows.BudgetWorkflowID+"'") {
		eachEvent(t, stack.Client, workflows.BudgetWorkflowID, run.GetExecution().GetRunId(), func(e *historypb.HistoryEvent) {
			a := e.GetSignalExternalWorkflowExecutionInitiatedEventAttributes()
			if a == nil || a.GetSignalName() != workflows.PermitGrantSignal || !strings.Contains(a.GetWorkflowExecution().GetWorkflowId(), "/chunk-") {
				return
			}
			var g workflows.PermitGrant
			if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &g); err != nil {
				t.Fatal(err)
			}
			if g.Every > 0 && g.N > 1 {
				paced++
			}
		})
	}
	if paced == 0 {
		t.Fatal("no paced grant of several permits reached the chunk: the test did not run with paced permits")
	}
}

// hasChangeTo reports whether res pulled value into field.
func hasChangeTo(res workflows.UserSyncResult, field, value string) bool {
	for _, c := range res.Decision.AwardForce {
		if c.Field == field && c.After == value {
			return true
		}
	}
	return false
}

// An address edited in Salesforce by someone is put back by the next sync:
// Award Force's address is the person's own, and the record, found by what
// ties it to the person, stays theirs.
func TestIntegrationAnAddressEditedInSalesforceIsPutBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, spec string }{
		{"the built-in default spec", ""},
		{"the slug in an external id and record_id_field", sluggedSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack := identityStack(t, tc.spec, sandbox.Options{})
			ada, rec := registered(t, stack, afsim.User{Email: "ada@example.org", FirstName: "Ada", LastName: "Lovelace"})
			waitForLong(t, func() bool { _, err := syncResult(t, stack.Client, ada.Slug, 5*time.Second); return err == nil }, "the registration's sync to end", time.Minute)
			if err := stack.Sandbox.Salesforce.EditAs("Contact", rec, map[string]any{"Email": "typo@example.org"}); err != nil {
				t.Fatal(err)
			}
			if res, err := syncJSONWith(t, stack, stack.Config.SpecPath, ada.Slug); err != nil {
				t.Fatalf("%v: %+v", err, res)
			}
			r := contactByID(stack, rec)
			if r["Email"] != "ada@example.org" {
				t.Fatalf("the record holds %v after the sync, want Award Force's address back", r["Email"])
			}
			if n := len(stack.Sandbox.Salesforce.Records("Contact")); n != 1 {
				t.Fatalf("%d Contacts, want 1", n)
			}
		})
	}
}

// A record that carries the person's slug is theirs even when its address
// is an old one: it is updated, never upserted as a create, so its
// if_empty and static values hold.
func TestIntegrationARecordFoundBySlugIsNeverWrittenAsACreate(t *testing.T) {
	t.Parallel()
	stack := identityStack(t, sluggedSpec+"  - {crm: LeadSource, value: Award Force}\n", sandbox.Options{})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	u := af.AddUser(afsim.User{Email: "new.address@example.org", FirstName: "Ada", LastName: "Lovelace"})
	rec := sf.Insert("Contact", map[string]any{"Email": "old.address@example.org", "FirstName": "Ada", "LastName": "Lovelace",
		"LeadSource": "Web", "AwardForce_Slug__c": u.Slug})
	res, err := syncJSONWith(t, stack, stack.Config.SpecPath, u.Slug)
	if err != nil {
		t.Fatalf("%v: %+v", err, res)
	}
	// The sync's last pass: the update, or, when the webhook of its own
	// write-back (the record id into SfRecord) came before it ended, the
	// pass that edit made, which finds the record up to date. Either way
	// the record holds the new address and kept its LeadSource (below):
	// it was updated, not upserted as a create.
	if res.Outcome != workflows.OutcomeUpdated && res.Outcome != workflows.OutcomeUnchanged || res.RecordID != rec {
		t.Fatalf("outcome %s on %s, want an update of %s: %+v", res.Outcome, res.RecordID, rec, res.Decision)
	}
	r := contactByID(stack, rec)
	if r["Email"] != "new.address@example.org" || r["LeadSource"] != "Web" {
		t.Fatalf("the record holds %v / %v: want the new address, and LeadSource (static, if_empty) left as it was", r["Email"], r["LeadSource"])
	}
	if n := len(sf.Records("Contact")); n != 1 {
		t.Fatalf("%d Contacts, want 1", n)
	}
}

// Award Force's `updated` has a second's resolution: two edits within one
// second carry one version. The record ends with the later edit's values,
// and the earlier edit's webhook, delivered late, puts nothing back (it
// makes the sync read Award Force, which knows the later). Before, the
// second edit's webhook was taken for a replay of the first and dropped.
func TestIntegrationTwoEditsWithinOneSecondEndWithTheLater(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, spec string }{
		{"the built-in default spec", ""},
		{"the slug in an external id and record_id_field", sluggedSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stack, hook := identityStackAt(t, tc.spec, sandbox.Options{})
			af := stack.Sandbox.AwardForce
			u, rec := registered(t, stack, afsim.User{Email: "quinn@example.org", FirstName: "Quinn", LastName: "Qiuck"})
			waitForLong(t, func() bool { _, err := syncResult(t, stack.Client, u.Slug, 5*time.Second); return err == nil }, "the registration's sync to end", time.Minute)

			earlier := editTwiceWithinOneSecond(t, af, u.Slug, "Quik", "Quick")
			settled := func() bool {
				_, err := syncResult(t, stack.Client, u.Slug, 5*time.Second)
				r := contactByID(stack, rec)
				return err == nil && r != nil && r["LastName"] == "Quick"
			}
			waitForLong(t, settled, "the later edit on the record", time.Minute)

			if status, answer := deliver(t, hook, earlier); status != http.StatusAccepted {
				t.Fatalf("the earlier edit's webhook, delivered late: %d %s; want it accepted (one version, other values)", status, answer)
			}
			if res, err := syncResult(t, stack.Client, u.Slug, time.Minute); err != nil {
				t.Fatalf("the late webhook's sync: %v: %+v", err, res)
			}
			if r := contactByID(stack, rec); r["LastName"] != "Quick" {
				t.Fatalf("the record holds %v after the earlier edit's late webhook, want the later edit's Quick", r["LastName"])
			}
			if got, _ := af.User(u.Slug); got.LastName != "Quick" {
				t.Fatalf("Award Force holds %q, want Quick", got.LastName)
			}
			if n := len(stack.Sandbox.Salesforce.Records("Contact")); n != 1 {
				t.Fatalf("%d Contacts, want 1", n)
			}
		})
	}
}

// editTwiceWithinOneSecond sets the user's last name to first, then to
// second, within one second (both versions carry one `updated`), trying
// again from the start of the next second when the clock turned between
// them; it returns the webhook payload of the first edit's version.
func editTwiceWithinOneSecond(t *testing.T, af *afsim.Server, slug, first, second string) []byte {
	t.Helper()
	for range 5 {
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second))) // the start of a second
		a, _ := af.Edit(slug, func(u *afsim.User) { u.LastName = first })
		payload := af.Payload(afsim.EventUpdated, "ui", slug)
		b, _ := af.Edit(slug, func(u *afsim.User) { u.LastName = second })
		if a.Updated.Equal(b.Updated) {
			return payload
		}
	}
	t.Fatal("could not make two edits within one second in five tries")
	return nil
}

// With the built-in default spec nothing on either side says whose a record
// is; the identity ledger does, for life. Here everything else that knew is
// gone (the lane terminated, the person's last sync deleted as the
// namespace's retention would), and a newcomer registers the address the
// first person gave up before that person's change is synced. The newcomer
// gets a record of their own, and the change reaches the first person's
// record: no takeover, no second record.
func TestIntegrationTheIdentityLedgerOutlivesEveryOtherMemory(t *testing.T) {
	t.Parallel()
	stack, hooks := identityStackAt(t, "", sandbox.Options{})
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	ctx := context.Background()
	ada, adaRec := registered(t, stack, afsim.User{Email: "ada@example.org", FirstName: "Ada", LastName: "Lovelace"})
	inLedger(t, stack, ada.Slug, adaRec)

	// Everything but the ledger forgets Ada.
	forget(t, stack, ada.Slug)

	// Ada changes her address; its webhook is not delivered yet.
	stack.Sandbox.SetWebhookURL("")
	af.Edit(ada.Slug, func(u *afsim.User) { u.Email = "countess@example.org" })
	stack.Sandbox.SetWebhookURL(hooks)

	// A newcomer registers the address she gave up, which her record still holds.
	ned := af.Register(afsim.User{Email: "ada@example.org", FirstName: "Ned", LastName: "Owner"})
	var nedRec string
	waitForLong(t, func() bool {
		for _, r := range sf.Records("Contact") {
			if r["FirstName"] == "Ned" {
				nedRec, _ = r["Id"].(string)
			}
		}
		return nedRec != ""
	}, "Ned's Contact", time.Minute)
	if nedRec == adaRec {
		t.Fatalf("the newcomer %s took Ada's record %s", ned.Slug, adaRec)
	}

	// Ada's change is synced now.
	if _, err := workflows.StartUserSync(ctx, stack.Client, workflows.DefaultNames, pairing.Default(), workflows.SyncRequest{Slug: ada.Slug, Trigger: pairing.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	waitForLong(t, func() bool {
		r := contactByID(stack, adaRec)
		return r != nil && r["Email"] == "countess@example.org"
	}, "Ada's new address on her record", time.Minute)
	waitForLong(t, func() bool { return syncEnded(stack, ada.Slug) }, "Ada's sync to end", time.Minute)
	recs := sf.Records("Contact")
	if len(recs) != 2 {
		t.Fatalf("%d Contacts, want one each: %v", len(recs), recs)
	}
	for _, r := range recs {
		want := map[string]any{"Ada": "countess@example.org", "Ned": "ada@example.org"}[fmt.Sprint(r["FirstName"])]
		if r["Email"] != want {
			t.Fatalf("Contact %v holds %v, want %v", r["Id"], r["Email"], want)
		}
	}
	if got := contactByID(stack, nedRec); got["FirstName"] != "Ned" {
		t.Fatalf("Ned's record holds %v", got)
	}
	inLedger(t, stack, ned.Slug, nedRec)
	// find says what the ledger holds of Ada.
	var out bytes.Buffer
	fo := &findOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, user: ada.Slug, timeout: time.Minute, out: &out}
	if err := runFind(ctx, fo); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Identity ledger: %s is paired with Contact %s", ada.Slug, adaRec); !strings.Contains(out.String(), want) {
		t.Fatalf("find says:\n%s\nwant %q", out.String(), want)
	}
	// The lane's run since it forgot: reads and writes of the ledger.
	saveHistory(t, stack.Client, workflows.LaneWorkflowID(0), "lane-ledger.json")
}

// inLedger waits until the identity ledger pairs slug with record, as
// visibility lists it.
func inLedger(t *testing.T, stack *devstack.Stack, slug, record string) {
	t.Helper()
	k := workflows.LedgerKey.GetName()
	visible(t, stack, fmt.Sprintf("WorkflowType = 'LedgerPage' AND %s = 's:%s' AND %s = 'r:%s'", k, slug, k, record), 1)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// A dependent integration (grants, depends_on the default) reaches the
// default's org through its grant and pairs its people in the default's
// lane: two Award Force accounts holding the same slugs and addresses for
// different people give each person a record of their own, whatever runs
// at once (both backfills; both accounts' registrations of one address at
// the same moment), and each person's later edit lands on their own
// record only, and still does after the lane forgot them all (the org's
// identity ledger knows each account's people apart). One lane serves the
// org; the dependent's own org is never written. A third integration (fellows), with an org of its own, pairs
// the same people there meanwhile, and nothing of it reaches the shared
// org.
func TestIntegrationADependentIntegrationSharesItsOrgsLane(t *testing.T) {
	t.Parallel()
	stack := startStackOptions(t, devstack.Options{HTTPAddr: "127.0.0.1:0", Integrations: []string{"grants", "fellows"},
		DependsOn: map[string]string{"grants": workflows.DefaultIntegration}})
	grants, fellows := stack.Integrations[0], stack.Integrations[1]
	if !grants.Names.Dependent() || grants.Org != stack.Sandbox {
		t.Fatalf("grants is not dependent on the default's org: %+v", grants.Names)
	}
	org := stack.Sandbox.Salesforce
	accounts := []struct {
		names workflows.Names
		af    *afsim.Server
		key   string
		path  string
		tag   string
	}{
		{workflows.DefaultNames, stack.Sandbox.AwardForce, stack.Config.WebhookSigningKey, "/webhooks/awardforce", "Awards"},
		{grants.Names, grants.Sandbox.AwardForce, grants.Config.WebhookSigningKey, "/webhooks/awardforce/grants", "Grants"},
	}
	const people = 6
	slug := func(i int) string { return fmt.Sprintf("TwinAbc%c", 'A'+i) }
	email := func(i int) string { return fmt.Sprintf("twin%d@example.org", i) }
	for _, af := range []*afsim.Server{accounts[0].af, accounts[1].af, fellows.Sandbox.AwardForce} {
		tag := map[*afsim.Server]string{accounts[0].af: "Awards", accounts[1].af: "Grants", fellows.Sandbox.AwardForce: "Fellows"}[af]
		for i := range people {
			af.AddUser(afsim.User{Slug: slug(i), Email: email(i), FirstName: "Twin", LastName: fmt.Sprintf("%s-%d", tag, i)})
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	backfillEachCreates(ctx, t, stack, people, accounts[0].names, accounts[1].names, fellows.Names)

	// The org: a record per person of each account, each with its own
	// person's values.
	lastNames := func(i int) map[string]int {
		out := map[string]int{}
		for _, r := range contactsByEmail(org.Records("Contact"))[email(i)] {
			out[fmt.Sprint(r["LastName"])]++
		}
		return out
	}
	for i := range people {
		if got, want := lastNames(i), map[string]int{fmt.Sprintf("Awards-%d", i): 1, fmt.Sprintf("Grants-%d", i): 1}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: the org holds %v, want %v", email(i), got, want)
		}
	}
	if n := len(grants.Sandbox.Salesforce.Records("Contact")); n != 0 {
		t.Fatalf("grants' own sandbox org was written (%d Contacts): it depends on the default's", n)
	}
	for i := range people {
		recs := contactsByEmail(fellows.Sandbox.Salesforce.Records("Contact"))[email(i)]
		if len(recs) != 1 || recs[0]["LastName"] != fmt.Sprintf("Fellows-%d", i) {
			t.Fatalf("fellows' org holds %v for %s", recs, email(i))
		}
	}

	// One lane for the org: the default's, on its coordinators' queue.
	d, err := stack.Client.DescribeWorkflowExecution(ctx, grants.Names.Lane(0), "")
	if err != nil {
		t.Fatal(err)
	}
	if q := d.GetExecutionConfig().GetTaskQueue().GetName(); grants.Names.Lane(0) != workflows.DefaultNames.Lane(0) || q != workflows.DefaultNames.CoordinatorTaskQueue() {
		t.Fatalf("grants' lane is %s on %s, not the default's", grants.Names.Lane(0), q)
	}
	var notFound *serviceerror.NotFound
	if _, err := stack.Client.DescribeWorkflowExecution(ctx, workflows.NamesOf("grants").Lane(0), ""); !errors.As(err, &notFound) {
		t.Fatalf("a lane of grants' own runs beside the org's: %v", err)
	}

	// Both accounts register one address at the same moment: a record each.
	const both = "both@example.org"
	var wg sync.WaitGroup
	for _, a := range accounts {
		u := a.af.AddUser(afsim.User{Email: both, FirstName: "Bo", LastName: a.tag})
		wg.Go(func() {
			body := `{"event":"` + afsim.EventRegistered + `","user":{"slug":"` + u.Slug + `"}}`
			if code := webhookAnswer(t, "http://"+stack.Node.HTTPAddr+a.path, a.key, body); code != http.StatusAccepted {
				t.Errorf("%s's webhook answered %d", a.tag, code)
			}
			var res workflows.UserSyncResult
			if err := stack.Client.GetWorkflow(ctx, a.names.UserSync(u.Slug), "").Get(ctx, &res); err != nil {
				t.Errorf("%s's sync: %v", a.tag, err)
			} else if res.Outcome != workflows.OutcomeCreated {
				t.Errorf("%s's registration: %s (%s)", a.tag, res.Outcome, res.Decision.Reason)
			}
		})
	}
	wg.Wait()
	byName := map[string]int{}
	for _, r := range contactsByEmail(org.Records("Contact"))[both] {
		byName[fmt.Sprint(r["LastName"])]++
	}
	if byName["Awards"] != 1 || byName["Grants"] != 1 || len(byName) != 2 {
		t.Fatalf("%s registered in both accounts at once: the org holds %v", both, byName)
	}

	// Each one edits their profile: their own record changes, the other's
	// twin's does not.
	for k, a := range accounts {
		i := 2 + k
		a.af.AddUser(afsim.User{Slug: slug(i), Email: email(i), FirstName: "Twin", LastName: a.tag + "-edited"})
		body := `{"event":"` + afsim.EventUpdated + `","user":{"slug":"` + slug(i) + `"}}`
		if code := webhookAnswer(t, "http://"+stack.Node.HTTPAddr+a.path, a.key, body); code != http.StatusAccepted {
			t.Fatalf("%s's webhook answered %d", a.tag, code)
		}
		var res workflows.UserSyncResult
		if err := stack.Client.GetWorkflow(ctx, a.names.UserSync(slug(i)), "").Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeUpdated {
			t.Fatalf("%s's edit of %s: %s (%s)", a.tag, slug(i), res.Outcome, res.Decision.Reason)
		}
		other := accounts[1-k].tag
		want := map[string]int{a.tag + "-edited": 1, fmt.Sprintf("%s-%d", other, i): 1}
		if got := lastNames(i); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after %s's edit of %s the org holds %v, want %v", a.tag, email(i), got, want)
		}
	}
	if n := len(org.Records("Contact")); n != 2*people+2 {
		t.Fatalf("the org holds %d Contacts, want %d: one per person of each account", n, 2*people+2)
	}

	// The lane forgets everyone (terminated); grants' twin 4 changes their
	// address: the org's identity ledger, which knows them as grants/<slug>,
	// still finds their own record.
	var before string
	for _, r := range contactsByEmail(org.Records("Contact"))[email(4)] {
		if r["LastName"] == "Grants-4" {
			before, _ = r["Id"].(string)
		}
	}
	inLedger(t, stack, grants.Names.Person(slug(4)), before) // what the lane wrote down is visible
	if err := stack.Client.TerminateWorkflow(ctx, workflows.DefaultNames.Lane(0), "", "test: the lane forgets"); err != nil {
		t.Fatal(err)
	}
	grants.Sandbox.AwardForce.AddUser(afsim.User{Slug: slug(4), Email: "grants4@example.org", FirstName: "Twin", LastName: "Grants-4"})
	body := `{"event":"` + afsim.EventUpdated + `","user":{"slug":"` + slug(4) + `"}}`
	if code := webhookAnswer(t, "http://"+stack.Node.HTTPAddr+accounts[1].path, accounts[1].key, body); code != http.StatusAccepted {
		t.Fatalf("grants' webhook answered %d", code)
	}
	var res workflows.UserSyncResult
	if err := stack.Client.GetWorkflow(ctx, grants.Names.UserSync(slug(4)), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeUpdated || res.RecordID != before {
		t.Fatalf("grants' twin 4 after the lane forgot: %s on %s, want their record %s: %s", res.Outcome, res.RecordID, before, res.Decision.Reason)
	}
	if got := lastNames(4); fmt.Sprint(got) != fmt.Sprint(map[string]int{"Awards-4": 1}) {
		t.Fatalf("awards' twin 4's record: %v", got)
	}
	var out strings.Builder
	printLedger(ctx, &out, stack.Client, grants.Names, slug(4))
	if want := fmt.Sprintf("Identity ledger: %s is paired with Contact %s", slug(4), before); !strings.Contains(out.String(), want) {
		t.Fatalf("find's ledger line for grants' twin 4: %s", out.String())
	}
}

// backfillEachCreates runs the backfill of each integration at once and
// requires each to create created people and fail none.
func backfillEachCreates(ctx context.Context, t *testing.T, stack *devstack.Stack, created int, names ...workflows.Names) {
	t.Helper()
	spec := stack.Spec
	var runs []client.WorkflowRun
	for _, n := range names {
		run, err := stack.Client.ExecuteWorkflow(ctx, n.BackfillStartOptions(n.Backfill(spec, false), spec, false), workflows.Backfill, workflows.BackfillInput{Spec: *spec})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
	}
	for i, run := range runs {
		var p workflows.Progress
		if err := run.Get(ctx, &p); err != nil {
			t.Fatalf("%s's backfill: %v", names[i].Integration(), err)
		}
		if p.Counts.Created != created || p.Failed != 0 {
			t.Fatalf("%s's backfill: %+v; want %d created", names[i].Integration(), p.Counts, created)
		}
	}
}

// With across_integrations: one_record in the org's specs, the people of a
// dependent integration and of the one it depends on who hold one address
// are one person in two programmes: both backfills at once leave one
// record per address, paired with both (the identity ledger holds each);
// an edit in either programme lands on it; one who changes their address
// in one programme leaves it for a record of their own, and the shared one
// keeps the address the other programme holds, and follows that one alone
// from then on.
func TestIntegrationOnePersonInTwoProgrammesHasOneRecord(t *testing.T) {
	t.Parallel()
	stack := dependentStackWithSpec(t, `across_integrations: one_record
object: Contact
unique_identifier: {awardforce: email, crm: Email}
fields:
  - {awardforce: first_name, crm: FirstName}
  - {awardforce: last_name, crm: LastName}
`)
	if !stack.Spec.SharesAcrossIntegrations() {
		t.Fatal("the stack does not run the sharing spec")
	}
	grants := stack.Integrations[0]
	org := stack.Sandbox.Salesforce
	const people = 6
	email := func(i int) string { return fmt.Sprintf("both%d@example.org", i) }
	for _, a := range []struct {
		af  *afsim.Server
		tag string
	}{{stack.Sandbox.AwardForce, "Awards"}, {grants.Sandbox.AwardForce, "Grants"}} {
		for i := range people {
			a.af.AddUser(afsim.User{Slug: fmt.Sprintf("%sUsr%c", a.tag[:4], 'A'+i), Email: email(i), FirstName: "Both", LastName: fmt.Sprintf("%s-%d", a.tag, i)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var runs []client.WorkflowRun
	for _, n := range []workflows.Names{workflows.DefaultNames, grants.Names} {
		run, err := stack.Client.ExecuteWorkflow(ctx, n.BackfillStartOptions(n.Backfill(stack.Spec, false), stack.Spec, false), workflows.Backfill, workflows.BackfillInput{Spec: *stack.Spec})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
	}
	created := 0
	for _, run := range runs {
		var p workflows.Progress
		if err := run.Get(ctx, &p); err != nil {
			t.Fatal(err)
		}
		if p.Failed != 0 || p.Counts.Created+p.Counts.Updated != people {
			t.Fatalf("a backfill: %+v", p.Counts)
		}
		created += p.Counts.Created
	}
	if created != people || len(org.Records("Contact")) != people {
		t.Fatalf("%d created, %d Contacts; want one per person: %d", created, len(org.Records("Contact")), people)
	}

	sync := func(names workflows.Names, af *afsim.Server, path, key string, u afsim.User) workflows.UserSyncResult {
		t.Helper()
		af.AddUser(u)
		body := `{"event":"` + afsim.EventUpdated + `","user":{"slug":"` + u.Slug + `"}}`
		if code := webhookAnswer(t, "http://"+stack.Node.HTTPAddr+path, key, body); code != http.StatusAccepted {
			t.Fatalf("webhook answered %d", code)
		}
		var res workflows.UserSyncResult
		if err := stack.Client.GetWorkflow(ctx, names.UserSync(u.Slug), "").Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	byEmail := func(i int) []map[string]any { return contactsByEmail(org.Records("Contact"))[email(i)] }
	// An edit in grants lands on the shared record.
	shared := byEmail(2)[0]["Id"]
	res := sync(grants.Names, grants.Sandbox.AwardForce, "/webhooks/awardforce/grants", grants.Config.WebhookSigningKey,
		afsim.User{Slug: "GranUsrC", Email: email(2), FirstName: "Both", LastName: "Grants-edited"})
	if res.Outcome != workflows.OutcomeUpdated || res.RecordID != shared || len(byEmail(2)) != 1 || byEmail(2)[0]["LastName"] != "Grants-edited" {
		t.Fatalf("grants' edit: %s on %s (shared %s); the org holds %v", res.Outcome, res.RecordID, shared, byEmail(2))
	}
	// Awards' person 3 changes address: they leave the shared record.
	shared = byEmail(3)[0]["Id"]
	res = sync(workflows.DefaultNames, stack.Sandbox.AwardForce, "/webhooks/awardforce", stack.Config.WebhookSigningKey,
		afsim.User{Slug: "AwarUsrD", Email: "moved3@example.org", FirstName: "Both", LastName: "Awards-3"})
	if res.Outcome != workflows.OutcomeCreated || res.RecordID == shared {
		t.Fatalf("the move: %s on %s (shared %s): %s", res.Outcome, res.RecordID, shared, res.Decision.Reason)
	}
	if recs := byEmail(3); len(recs) != 1 || recs[0]["Id"] != shared {
		t.Fatalf("the shared record keeps grants' address: %v", recs)
	}
	inLedger(t, stack, "AwarUsrD", res.RecordID) // the move, as the ledger shows it
	if n := len(org.Records("Contact")); n != people+1 {
		t.Fatalf("the org holds %d Contacts, want %d", n, people+1)
	}
	// The record is grants' person 3's alone now (the ledger still names
	// awards' person 3 with it, on an older page): it follows them when
	// they change address too.
	res = sync(grants.Names, grants.Sandbox.AwardForce, "/webhooks/awardforce/grants", grants.Config.WebhookSigningKey,
		afsim.User{Slug: "GranUsrD", Email: "grants3@example.org", FirstName: "Both", LastName: "Grants-3"})
	if res.Outcome != workflows.OutcomeUpdated || res.RecordID != shared {
		t.Fatalf("grants' move: %s on %s, want the record it alone holds, %s: %s", res.Outcome, res.RecordID, shared, res.Decision.Reason)
	}
	if n := len(org.Records("Contact")); n != people+1 {
		t.Fatalf("the org holds %d Contacts, want %d", n, people+1)
	}
	// The org's lane: shared records held while they are written.
	saveHistory(t, stack.Client, workflows.LaneWorkflowID(0), "lane-shared.json")
}

// A dependent integration is added and removed without a restart: the
// reload adds it and restarts the integration it depends on (whose
// Salesforce activities must accept its spec, and whose lane pairs its
// people), which pairs on meanwhile; a registrant of the dependent is
// paired in the shared org, never in the dependent's own sandbox org; once
// removed, the integration it depended on still pairs its own.
func TestIntegrationADependentIsAddedAndRemovedWithoutARestart(t *testing.T) {
	t.Parallel()
	stack := startStackOptions(t, devstack.Options{HTTPAddr: "127.0.0.1:0",
		DependsOn: map[string]string{"grants": workflows.DefaultIntegration}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	serve := func(want string, ids ...string) {
		t.Helper()
		got, err := stack.Serve(ctx, ids)
		if err != nil || got.String() != want {
			t.Fatalf("serving %v: %s (%v), want %s", ids, got, err, want)
		}
	}
	paired := func(af *afsim.Server, name string) {
		t.Helper()
		u := af.Register(afsim.User{Email: strings.ToLower(name) + "@example.org", FirstName: "Reg", LastName: name})
		waitForLong(t, func() bool {
			recs := contactsByEmail(stack.Sandbox.Salesforce.Records("Contact"))[u.Email]
			return len(recs) == 1 && recs[0]["LastName"] == name
		}, name+" paired in the default's org", time.Minute)
	}

	serve("added grants; changed default", "grants")
	grants := stack.Integrations[0]
	if !grants.Names.Dependent() || grants.Org != stack.Sandbox {
		t.Fatalf("grants is served as %+v", grants.Names)
	}
	paired(grants.Sandbox.AwardForce, "Granted")
	paired(stack.Sandbox.AwardForce, "Awarded")
	if n := len(grants.Sandbox.Salesforce.Records("Contact")); n != 0 {
		t.Fatalf("grants' own sandbox org holds %d Contacts", n)
	}

	serve("removed grants; changed default")
	paired(stack.Sandbox.AwardForce, "Awardedagain")
}

// With across_integrations: one_record, an edit made in Salesforce to the
// record one person shares across two programmes reaches both profiles:
// each integration's CRM watch takes its own person from the org's ledger
// and pulls the value into its own Award Force account.
func TestIntegrationAnEditInSalesforceReachesEveryProgrammeOfASharedRecord(t *testing.T) {
	t.Parallel()
	stack := dependentStackWithSpec(t, fmt.Sprintf(watchSpec, "", "across_integrations: one_record\n"))
	grants := stack.Integrations[0]
	sf := stack.Sandbox.Salesforce
	programmes := []*afsim.Server{stack.Sandbox.AwardForce, grants.Sandbox.AwardForce}
	var slugs []string
	for _, af := range programmes {
		u := af.Register(afsim.User{Email: "ann.both@example.org", FirstName: "Ann", LastName: "Both"})
		slugs = append(slugs, u.Slug)
		waitForLong(t, func() bool {
			got, _ := af.User(u.Slug)
			return got.Fields["SfRecord"] != ""
		}, "the record id written back", time.Minute)
	}
	a, _ := programmes[0].User(slugs[0])
	g, _ := programmes[1].User(slugs[1])
	if a.Fields["SfRecord"] != g.Fields["SfRecord"] || len(liveContacts(sf, "ann.both@example.org")) != 1 {
		t.Fatalf("Ann's programmes hold records %s and %s; the org %v", a.Fields["SfRecord"], g.Fields["SfRecord"], liveContacts(sf, "ann.both@example.org"))
	}
	if err := sf.EditAs("Contact", a.Fields["SfRecord"], map[string]any{"Title": "Countess"}); err != nil {
		t.Fatal(err)
	}
	for i, af := range programmes {
		waitForLong(t, func() bool {
			got, _ := af.User(slugs[i])
			return got.Fields["JobTitle"] == "Countess"
		}, fmt.Sprintf("the Title in programme %d's profile", i), 90*time.Second)
	}
}

// dependentStackWithSpec starts the stack with grants dependent on the
// default integration, both running the pairing spec specYAML.
func dependentStackWithSpec(t *testing.T, specYAML string) *devstack.Stack {
	t.Helper()
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte(specYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return startStackOptions(t, devstack.Options{HTTPAddr: "127.0.0.1:0", Integrations: []string{"grants"},
		DependsOn: map[string]string{"grants": workflows.DefaultIntegration},
		Getenv: func(k string) string {
			if k == config.EnvConfig {
				return spec
			}
			return ""
		}})
}

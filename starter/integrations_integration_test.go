package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
	"github.com/afsync/afsync/workflows"
)

// Two integrations on one fleet (issue 16): the default one and "grants",
// each an Award Force account paired with a Salesforce org of its own, the
// same people (the same slugs, the same emails) in both accounts. One
// worker process serves both, on one Temporal namespace. Both backfills
// run at once; then a person edits their profile in the grants account and
// its webhook arrives. Each org ends with exactly one record per person of
// its own account, holding that account's values; neither integration's
// workflows, lanes or ledger are the other's; a webhook signed with the
// other integration's key is refused.
func TestIntegrationTwoIntegrationsOnOneFleetStayApart(t *testing.T) {
	t.Parallel()
	stack := startStackOptions(t, devstack.Options{HTTPAddr: "127.0.0.1:0", Integrations: []string{"grants"}})
	grants := stack.Integrations[0]
	accounts := []struct {
		names workflows.Names
		sb    *sandbox.Sandbox
		key   string
		tag   string
	}{
		{workflows.DefaultNames, stack.Sandbox, stack.Config.WebhookSigningKey, "Awards"},
		{grants.Names, grants.Sandbox, grants.Config.WebhookSigningKey, "Grants"},
	}
	if accounts[0].key == accounts[1].key {
		t.Fatal("both integrations sign webhooks with one key: the test proves nothing")
	}
	const people = 6
	slug := func(i int) string { return fmt.Sprintf("TwinAbc%c", 'A'+i) }
	for _, a := range accounts {
		for i := range people {
			a.sb.AwardForce.AddUser(afsim.User{Slug: slug(i), Email: fmt.Sprintf("twin%d@example.org", i), FirstName: "Twin", LastName: fmt.Sprintf("%s-%d", a.tag, i)})
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spec := stack.Spec
	backfillEachCreates(ctx, t, stack, people, accounts[0].names, accounts[1].names)

	// Each org: one record per person, with its own account's values.
	holds := func(a int, i int, lastName string) bool {
		recs := contactsByEmail(accounts[a].sb.Salesforce.Records("Contact"))[fmt.Sprintf("twin%d@example.org", i)]
		return len(recs) == 1 && recs[0]["LastName"] == lastName
	}
	for a, acc := range accounts {
		if n := len(acc.sb.Salesforce.Records("Contact")); n != people {
			t.Fatalf("%s's org holds %d Contacts, want %d", acc.names.Integration(), n, people)
		}
		for i := range people {
			if !holds(a, i, fmt.Sprintf("%s-%d", acc.tag, i)) {
				t.Fatalf("%s's org: %v", acc.names.Integration(), contactsByEmail(acc.sb.Salesforce.Records("Contact"))[fmt.Sprintf("twin%d@example.org", i)])
			}
		}
	}

	// Each integration's coordinating workflows are its own, on its own
	// task queues.
	for _, a := range accounts {
		for _, id := range []string{a.names.Lane(0), a.names.Backfill(spec, false)} {
			d, err := stack.Client.DescribeWorkflowExecution(ctx, id, "")
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if q := d.GetExecutionConfig().GetTaskQueue().GetName(); q != a.names.TaskQueue() && q != a.names.CoordinatorTaskQueue() {
				t.Errorf("%s runs on %s, not on %s's queues", id, q, a.names.Integration())
			}
		}
		resp, err := stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("TaskQueue = '%s' AND WorkflowType = 'BackfillChunk'", a.names.TaskQueue()),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetExecutions() {
			if !strings.HasPrefix(e.GetExecution().GetWorkflowId(), a.names.Backfill(spec, false)) {
				t.Errorf("%s's task queue ran %s", a.names.Integration(), e.GetExecution().GetWorkflowId())
			}
		}
		if len(resp.GetExecutions()) == 0 {
			t.Errorf("no chunk ran on %s", a.names.TaskQueue())
		}
	}

	// A person edits their grants profile: its webhook, signed with grants'
	// key at grants' address, changes grants' org only; the same payload
	// signed with the default integration's key is refused there.
	u := slug(2)
	edited := grants.Sandbox.AwardForce.AddUser(afsim.User{Slug: u, Email: "twin2@example.org", FirstName: "Twin", LastName: "Grants-edited"})
	body := `{"event":"user_updated","user":{"slug":"` + edited.Slug + `"}}`
	post := func(path, key string) int {
		t.Helper()
		return webhookAnswer(t, "http://"+stack.Node.HTTPAddr+path, key, body)
	}
	if code := post("/webhooks/awardforce/grants", accounts[0].key); code != http.StatusUnauthorized {
		t.Fatalf("a grants webhook signed with the default integration's key answered %d, want 401", code)
	}
	if code := post("/webhooks/awardforce/grants", accounts[1].key); code != http.StatusAccepted {
		t.Fatalf("grants' webhook answered %d, want 202", code)
	}
	var res workflows.UserSyncResult
	if err := stack.Client.GetWorkflow(ctx, grants.Names.UserSync(u), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeUpdated || !holds(1, 2, "Grants-edited") {
		t.Fatalf("grants' sync of %s: %s; its record: %v", u, res.Outcome, contactsByEmail(grants.Sandbox.Salesforce.Records("Contact"))["twin2@example.org"])
	}
	if !holds(0, 2, "Awards-2") || len(stack.Sandbox.Salesforce.Records("Contact")) != people {
		t.Fatalf("the default org changed: %v", contactsByEmail(stack.Sandbox.Salesforce.Records("Contact"))["twin2@example.org"])
	}
	if _, err := stack.Client.DescribeWorkflowExecution(ctx, workflows.UserSyncWorkflowID(u), ""); err == nil {
		t.Fatal("grants' webhook started a sync of the default integration")
	}

	// The starter's look-ups run in the integration's own account: an
	// address only grants holds is found there, and each account's count
	// is its own.
	only := grants.Sandbox.AwardForce.AddUser(afsim.User{Slug: "OnlyGrnt", Email: "only-grants@example.org", FirstName: "Only", LastName: "Grants"})
	if found, err := resolveSlug(ctx, stack.Client, grants.Names, "only-grants@example.org"); err != nil || found != only.Slug {
		t.Fatalf("looking up grants' address through grants: %q, %v; want %s", found, err, only.Slug)
	}
	for a, want := range []int{people, people + 1} {
		n, err := countUsers(ctx, stack.Client, accounts[a].names, workflows.UserFilter{})
		if err != nil || n.Users != want {
			t.Fatalf("%s's count: %+v, %v; want %d users", accounts[a].names.Integration(), n, err, want)
		}
	}

	// The UI and visibility tell the integrations apart: every workflow
	// an integration started carries its id (AfsyncIntegration and memo),
	// a non-default one's summary begins with it.
	for _, a := range accounts {
		id := a.names.Integration()
		wanted := []string{a.names.Backfill(spec, false), a.names.Lane(0)}
		if a.names == grants.Names {
			wanted = append(wanted, grants.Names.UserSync(u))
		}
		var listed []*workflowpb.WorkflowExecutionInfo
		waitForLong(t, func() bool {
			resp, err := stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Query: fmt.Sprintf("%s = '%s'", workflows.IntegrationKey.GetName(), id), PageSize: 1000,
			})
			if err != nil {
				t.Fatal(err)
			}
			listed = resp.GetExecutions()
			seen := map[string]bool{}
			for _, e := range listed {
				seen[e.GetExecution().GetWorkflowId()] = true
			}
			for _, w := range wanted {
				if !seen[w] {
					return false
				}
			}
			return true
		}, id+"'s workflows listed by AfsyncIntegration", time.Minute)
		chunks := 0
		for _, e := range listed {
			wid := e.GetExecution().GetWorkflowId()
			if a.names.IsDefault() == strings.HasPrefix(wid, "afsync-grants-") {
				t.Errorf("AfsyncIntegration = %q lists %s", id, wid)
			}
			var memo string
			if err := converter.GetDefaultDataConverter().FromPayload(e.GetMemo().GetFields()[workflows.MemoIntegration], &memo); err != nil || memo != id {
				t.Errorf("%s's memo names integration %q (%v), want %q", wid, memo, err, id)
			}
			if e.GetType().GetName() == "BackfillChunk" {
				chunks++
			}
		}
		if chunks == 0 {
			t.Errorf("AfsyncIntegration = %q lists none of its backfill's chunks", id)
		}
	}
	d, err := stack.Client.DescribeWorkflowExecution(ctx, grants.Names.Backfill(spec, false), "")
	if err != nil {
		t.Fatal(err)
	}
	var summary string
	if err := converter.GetDefaultDataConverter().FromPayload(d.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary); err != nil || !strings.HasPrefix(summary, "grants: Backfill") {
		t.Errorf("grants' backfill's summary is %q (%v), want it to begin %q", summary, err, "grants: Backfill")
	}

	// The worker's metrics tell the integrations apart.
	metrics := scrapeMetrics(t, stack)
	for _, a := range accounts {
		label := `integration="` + a.names.Integration() + `"`
		if n := metricSum(metrics, "afsync_user_syncs_total", label, `trigger="backfill"`, `outcome="created"`); n != people {
			t.Errorf("afsync_user_syncs_total{%s, backfill, created} = %v, want %d", label, n, people)
		}
	}
	for _, a := range accounts {
		// Each org's allocation, as its own Salesforce reported it.
		if n := metricSum(metrics, "afsync_salesforce_api_max", `integration="`+a.names.Integration()+`"`); n <= 0 {
			t.Errorf("afsync_salesforce_api_max{integration=%q} = %v: its org's allocation is not reported", a.names.Integration(), n)
		}
	}
	if n := metricSum(metrics, "afsync_user_syncs_total", `integration="grants"`, `trigger="profile_update"`); n != 1 {
		t.Errorf("grants' webhook syncs counted %v, want 1", n)
	}
	if n := metricSum(metrics, "afsync_webhook_requests_total", `integration="grants"`, `code="401"`); n != 1 {
		t.Errorf("grants' refused webhooks counted %v, want 1", n)
	}
}

// An outage in one integration holds no other (issue 16): grants'
// Salesforce refuses every call while a backlog of registrations waits for
// it, and meanwhile the default integration takes a burst of its own. The
// burst is paired in full while grants is still down, each person once;
// grants' webhooks are all answered 202 during its outage (received,
// waiting in its own lane); once grants' org answers again its backlog is
// paired, each person once, and nothing crosses between the orgs.
func TestIntegrationAnOutageInOneIntegrationHoldsNoOther(t *testing.T) {
	t.Parallel()
	stack := startStackOptions(t, devstack.Options{HTTPAddr: "127.0.0.1:0", Integrations: []string{"grants"}})
	grants := stack.Integrations[0]
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	const backlog, burst = 300, 100
	grants.Sandbox.Salesforce.SetChaos(sfsim.Chaos{Transient: 1})
	waiting := grants.Sandbox.Burst(ctx, sandbox.Burst{Registrations: backlog, Over: 3 * time.Second, Seed: 1})
	waitForLong(t, func() bool {
		return metricSum(scrapeMetrics(t, stack), "afsync_webhook_requests_total", `integration="grants"`, `code="202"`) == backlog
	}, "grants' backlog's webhooks answered 202", time.Minute)

	paired := stack.Sandbox.Burst(ctx, sandbox.Burst{Registrations: burst, Over: 2 * time.Second, Seed: 2})
	waitForLong(t, func() bool { return pairedOnce(stack.Sandbox, paired.Registered) }, "the default integration's burst paired", 2*time.Minute)
	if n := len(grants.Sandbox.Salesforce.Records("Contact")); n != 0 {
		t.Fatalf("grants' org holds %d Contacts during its outage", n)
	}
	// Its lane tries its org during the outage (the test proves nothing
	// otherwise); on a fast machine the burst is paired before that.
	waitForLong(t, func() bool {
		f := grants.Sandbox.Salesforce.Stats().Faults
		return f["transient"]+f["token_unavailable"] > 0
	}, "grants' org refusing a call during its outage", time.Minute)
	metrics := scrapeMetrics(t, stack)
	if n := metricSum(metrics, "afsync_user_syncs_total", `integration="grants"`); n != 0 {
		t.Fatalf("%v of grants' syncs finished during its outage, want none (they wait in its lane)", n)
	}
	if n := metricSum(metrics, "afsync_webhook_requests_total", `integration="grants"`) - backlog; n != 0 {
		t.Fatalf("grants' webhooks answered something else than 202 %v times during its outage", n)
	}

	grants.Sandbox.Salesforce.SetChaos(sfsim.Chaos{})
	waitForLong(t, func() bool { return pairedOnce(grants.Sandbox, waiting.Registered) }, "grants' backlog paired after its outage", 2*time.Minute)
	for _, sb := range []*sandbox.Sandbox{stack.Sandbox, grants.Sandbox} {
		if n := len(sb.Salesforce.Records("Contact")); n != map[bool]int{true: burst, false: backlog}[sb == stack.Sandbox] {
			t.Errorf("an org holds %d Contacts: someone crossed between integrations", n)
		}
	}
}

// pairedOnce says whether each of slugs' people in sb's account has exactly
// one Contact in sb's org, holding their name.
func pairedOnce(sb *sandbox.Sandbox, slugs []string) bool {
	byEmail := contactsByEmail(sb.Salesforce.Records("Contact"))
	for _, slug := range slugs {
		u, ok := sb.AwardForce.User(slug)
		recs := byEmail[strings.ToLower(u.Email)]
		if !ok || len(recs) != 1 || recs[0]["LastName"] != u.LastName {
			return false
		}
	}
	return true
}

// The dev stack's registry (`worker --dev --integrations grants` writes it)
// lets the starter address each integration: a sync by email through
// grants finds the user only grants' account holds and pairs them in
// grants' org, not the default's; with grants dependent on the default
// (--depends-on grants=default), the registry says so and the user is
// paired in the default's org, through its grant.
func TestIntegrationTheDevRegistryAddressesEachIntegration(t *testing.T) {
	for _, dependsOn := range []string{"", workflows.DefaultIntegration} {
		t.Run("depends_on "+cmp.Or(dependsOn, "none"), func(t *testing.T) {
			stack := startStackOptions(t, devstack.Options{HTTPAddr: "127.0.0.1:0", Integrations: []string{"grants"}, DependsOn: map[string]string{"grants": dependsOn}})
			grants := stack.Integrations[0]
			path, err := stack.WriteRegistry(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv(config.EnvIntegrations, path)
			t.Setenv(config.EnvIntegration, "")
			reg, err := config.LoadRegistry(nil)
			if err != nil {
				t.Fatal(err)
			}
			ins, err := reg.Servable()
			if err != nil || len(ins) != 2 || ins[0].ID != "default" || ins[1].ID != "grants" || ins[1].Config.AwardForce.BaseURL != grants.Sandbox.AwardForceURL ||
				ins[1].DependsOn != dependsOn || ins[1].Config.Salesforce.LoginURL != grants.Org.SalesforceURL {
				t.Fatalf("the dev registry: %+v, %v", ins, err)
			}
			u := grants.Sandbox.AwardForce.AddUser(afsim.User{Slug: "DevGrant", Email: "dev-grant@example.org", FirstName: "Dev", LastName: "Grant"})
			var out strings.Builder
			g := &globalOptions{temporal: configFor(stack), integration: "grants"}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := runSync(ctx, &syncOptions{globalOptions: g, user: u.Email, trigger: "manual", timeout: time.Minute, out: &out}); err != nil {
				t.Fatalf("starter sync %s --integration grants: %v\n%s", u.Email, err, out.String())
			}
			other := stack.Sandbox // the org grants must not write
			if dependsOn != "" {
				other = grants.Sandbox
			}
			recs := contactsByEmail(grants.Org.Salesforce.Records("Contact"))[u.Email]
			if len(recs) != 1 || recs[0]["LastName"] != u.LastName || len(contactsByEmail(other.Salesforce.Records("Contact"))[u.Email]) != 0 {
				t.Fatalf("after starter sync --integration grants: %v\n%s", recs, out.String())
			}
		})
	}
}

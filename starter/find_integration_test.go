package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// find on the real dev server: a person's manual syncs and the backfill
// chunk that held them, newest first, found by email (resolved through the
// worker) and by slug, each with a UI link that opens that very workflow on
// the dev server's UI; report --since writes the same syncs.
func TestIntegrationFindAndReportSince(t *testing.T) {
	t.Parallel()
	stack := startStackUI(t, devstack.Options{}, 0)
	if stack.Server.UIURL == "" {
		t.Fatal("the dev server runs no UI")
	}
	af := stack.Sandbox.AwardForce
	ada := af.AddUser(afsim.User{Slug: "AdaFindr", Email: "ada.find@example.org", FirstName: "Ada", LastName: "Lovelace"})
	af.AddUser(afsim.User{Slug: "GraceFnd", Email: "grace.find@example.org", FirstName: "Grace", LastName: "Hopper"})
	start := time.Now()

	if res, err := syncJSON(t, stack, ada.Slug); err != nil || res.Outcome != "created" {
		t.Fatalf("first sync: %+v, %v", res, err)
	}
	o := &backfillOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, out: t.TempDir() + "/plan.csv", json: true, stdout: &syncBuffer{}}
	if err := runBackfill(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, ok := af.Edit(ada.Slug, func(u *afsim.User) { u.LastName = "King" }); !ok {
		t.Fatal("no such user")
	}
	if res, err := syncJSON(t, stack, "ada.find@example.org"); err != nil || res.Outcome != "updated" {
		t.Fatalf("second sync: %+v, %v", res, err)
	}

	// find reads Temporal's visibility, which lists a run a moment after it
	// ends: wait for both syncs and the chunk.
	visible(t, stack, "WorkflowId = '"+workflows.UserSyncWorkflowID(ada.Slug)+"' AND ExecutionStatus = 'Completed'", 2)
	visible(t, stack, "WorkflowType = 'BackfillChunk' AND ExecutionStatus = 'Completed'", 1)
	var out bytes.Buffer
	fo := &findOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, user: "ada.find@example.org", json: true,
		uiURL: stack.Server.UIURL, timeout: time.Minute, out: &out}
	if err := runFind(context.Background(), fo); err != nil {
		t.Fatal(err)
	}
	var found []syncRecord
	for dec := json.NewDecoder(&out); dec.More(); {
		var s syncRecord
		if err := dec.Decode(&s); err != nil {
			t.Fatal(err)
		}
		found = append(found, s)
	}
	var got []string
	for _, s := range found {
		outcome := ""
		if s.Result != nil {
			outcome = string(s.Result.Outcome)
		}
		got = append(got, s.Trigger+"/"+outcome)
	}
	// Newest first: the update, the backfill (unchanged), the creation.
	if len(found) != 3 || got[0] != "manual/updated" || got[1] != "backfill/unchanged" || got[2] != "manual/created" {
		t.Fatalf("found %v, want manual/updated, backfill/unchanged, manual/created", got)
	}
	if c := found[0].changedFields(); strings.Join(c, " ") != "salesforce.LastName" {
		t.Errorf("the update changed %v, want salesforce.LastName", c)
	}
	for _, s := range found {
		if s.When.Before(start.Add(-time.Second)) {
			t.Errorf("%s: when %s is before the test began", s.WorkflowID, s.When)
		}
		assertUILinkOpens(t, stack.Server.UIURL, s)
	}

	// By slug, as a table, once visibility lists Ada's ledger page.
	visible(t, stack, fmt.Sprintf("WorkflowType = 'LedgerPage' AND %s = 's:%s'", workflows.LedgerKey.GetName(), ada.Slug), 1)
	out.Reset()
	fo.user, fo.json = ada.Slug, false
	if err := runFind(context.Background(), fo); err != nil {
		t.Fatal(err)
	}
	// A header, three syncs and the identity ledger's line.
	if text := out.String(); strings.Count(text, "\n") != 5 || !strings.Contains(text, "salesforce.LastName") || !strings.Contains(text, "/history") ||
		!strings.Contains(text, "Identity ledger: "+ada.Slug+" is paired with Contact") {
		t.Errorf("the table:\n%s", text)
	}

	// report --since: every sync of the window, Grace's backfill row too.
	path := filepath.Join(t.TempDir(), "since.csv")
	ro := &reportOptions{globalOptions: &globalOptions{temporal: configFor(stack)}, since: time.Hour, out: path,
		uiURL: stack.Server.UIURL, timeout: time.Minute, stdout: io.Discard}
	if err := runReport(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range rows[1:] {
		seen[r[0]+"/"+r[len(r)-2]+"/"+r[2]]++
	}
	for _, want := range []string{"AdaFindr/manual/updated", "AdaFindr/backfill/unchanged", "AdaFindr/manual/created", "GraceFnd/backfill/created"} {
		if seen[want] == 0 {
			t.Errorf("report --since lacks %s: %v", want, seen)
		}
	}
}

// assertUILinkOpens checks that s's link is a page of the UI and that the
// workflow run it names is the one the UI shows there: the UI's page loads
// the run through the UI server's API at the same id and run.
func assertUILinkOpens(t *testing.T, uiURL string, s syncRecord) {
	t.Helper()
	prefix := strings.TrimRight(uiURL, "/") + "/namespaces/default/workflows/"
	if !strings.HasPrefix(s.Link, prefix) || !strings.HasSuffix(s.Link, "/history") {
		t.Fatalf("link %q is not a UI workflow page", s.Link)
	}
	parts := strings.Split(strings.TrimSuffix(strings.TrimPrefix(s.Link, prefix), "/history"), "/")
	if len(parts) != 2 {
		t.Fatalf("link %q: want …/workflows/<id>/<run>/history", s.Link)
	}
	id, err := url.PathUnescape(parts[0])
	if err != nil || id != s.WorkflowID || parts[1] != s.RunID {
		t.Fatalf("link %q names %q run %q, want %q run %q", s.Link, id, parts[1], s.WorkflowID, s.RunID)
	}
	page := httpGet(t, s.Link)
	if !strings.Contains(strings.ToLower(page), "<html") {
		t.Errorf("%s is not the UI's page: %.200s", s.Link, page)
	}
	api := strings.TrimRight(uiURL, "/") + "/api/v1/namespaces/default/workflows/" + url.PathEscape(s.WorkflowID) + "?execution.runId=" + url.QueryEscape(s.RunID)
	var d struct {
		WorkflowExecutionInfo struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
				RunID      string `json:"runId"`
			} `json:"execution"`
		} `json:"workflowExecutionInfo"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, api)), &d); err != nil {
		t.Fatalf("%s: %v", api, err)
	}
	if e := d.WorkflowExecutionInfo.Execution; e.WorkflowID != s.WorkflowID || e.RunID != s.RunID {
		t.Errorf("the UI shows %+v at %s, want %s run %s", e, s.Link, s.WorkflowID, s.RunID)
	}
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %.300s", u, resp.Status, b)
	}
	return string(b)
}

// The worker owns its spec: a sync started with another (here, one that
// would write Leads) is refused at its first Salesforce step with what to
// do, and writes nothing.
func TestIntegrationTheWorkerRefusesAnotherSpec(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{})
	ada := stack.Sandbox.AwardForce.AddUser(afsim.User{Slug: "AdaOwner", Email: "ada.owner@example.org", FirstName: "Ada", LastName: "Lovelace"})
	path := filepath.Join(t.TempDir(), "leads.yaml")
	if err := os.WriteFile(path, []byte("object: Lead\nunique_identifier: {awardforce: email, crm: Email}\nfields:\n  - {awardforce: last_name, crm: LastName}\n  - {crm: Company, value: Award Force}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := &syncOptions{globalOptions: &globalOptions{temporal: configFor(stack), specPath: path}, user: ada.Slug, trigger: "manual", json: true, timeout: time.Minute, out: &out}
	err := runSync(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "not the worker's") {
		t.Fatalf("a sync with another spec: %v\n%s", err, out.String())
	}
	if n := len(stack.Sandbox.Salesforce.Records("Lead")) + len(stack.Sandbox.Salesforce.Records("Contact")); n != 0 {
		t.Errorf("%d records written", n)
	}
	// The worker's own spec works.
	if res, err := syncJSON(t, stack, ada.Slug); err != nil || res.Outcome != "created" {
		t.Fatalf("%+v %v", res, err)
	}
}

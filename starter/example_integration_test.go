package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// exampleSpecPath is the README's example spec, which runs as it is
// against the sandbox: profile fields, write-back, an external id.
var exampleSpecPath = filepath.Join("..", "pairing", "testdata", "example.yaml")

// startStackWithSpec is startStack with the worker running the pairing spec
// at path (AFSYNC_CONFIG).
func startStackWithSpec(t *testing.T, sb sandbox.Options, path string) *devstack.Stack {
	t.Helper()
	return startStackOptions(t, devstack.Options{Sandbox: sb, Getenv: func(k string) string {
		if k == "AFSYNC_CONFIG" {
			return path
		}
		return ""
	}})
}

// The example spec end to end: a backfill that reads profile fields, pulls
// CRM values and record ids back into Award Force, reports a refused record
// with Salesforce's message and continues as new; single syncs that write
// back and that are refused. Their histories feed the replay test.
func TestIntegrationExampleSpecEndToEnd(t *testing.T) {
	t.Parallel()
	stack := startStackWithSpec(t, sandbox.Options{Seed: sandbox.SeedOptions{Users: 150, Seed: 13}}, exampleSpecPath)
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	spec, err := pairing.Load(exampleSpecPath)
	if err != nil {
		t.Fatal(err)
	}

	// An existing contact whose title the CRM owns: the backfill pulls it.
	var titled afsim.User
	for _, u := range af.Users() {
		if recs := contactsByEmail(sf.Records("Contact"))[strings.ToLower(u.Email)]; u.Email != "" && len(recs) == 0 {
			titled = u
			sf.Insert("Contact", map[string]any{"Email": u.Email, "LastName": u.LastName, "Title": "Chief Archivist"})
			break
		}
	}
	if titled.Slug == "" {
		t.Fatal("the seed has no user without a contact")
	}
	// A surname longer than Contact.LastName's 80 characters: Salesforce
	// refuses the record, the rest of its chunk goes on.
	long := af.AddUser(afsim.User{Slug: "TooLongN", Email: "too.long@example.org", FirstName: "Tess", LastName: strings.Repeat("L", 81)})

	out := &syncBuffer{}
	o := &backfillOptions{
		globalOptions: &globalOptions{temporal: configFor(stack), specPath: exampleSpecPath},
		concurrency:   1, pagesPerChunk: 1, chunksPerRun: 1, json: true, stdout: out,
		pairEvery: 50, // the first chunk (100 users) hands half of them as it reads the rest
	}
	if err := runBackfill(context.Background(), o); err != nil && !strings.Contains(err.Error(), "failed") {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var p workflows.Progress
	if err := json.Unmarshal([]byte(out.String()), &p); err != nil {
		t.Fatalf("summary: %v\n%s", err, out.String())
	}
	if p.Seen != 151 || p.Failed != 1 || len(p.Failures) != 1 || p.Failures[0].Slug != long.Slug || !strings.Contains(p.Failures[0].Error, "STRING_TOO_LONG") {
		t.Fatalf("want 151 users seen and the long surname failed with Salesforce's STRING_TOO_LONG: %+v", p)
	}
	if got, _ := af.User(titled.Slug); got.Fields["JobTitle"] != "Chief Archivist" {
		t.Errorf("JobTitle of %s = %q, want the CRM's title pulled into Award Force", titled.Slug, got.Fields["JobTitle"])
	}
	paired := 0
	for _, u := range af.Users() {
		if id := u.Fields["SfRecord"]; id != "" {
			if rec, ok := sf.Record("Contact", id); !ok || !strings.EqualFold(rec["Email"].(string), u.Email) {
				t.Errorf("%s: SfRecord %s is not its contact (%v)", u.Slug, id, rec)
			}
			paired++
		}
	}
	if paired < 100 {
		t.Errorf("%d users hold their record id, want most of the 150", paired)
	}

	id := workflows.BackfillWorkflowID(spec, false)
	d, err := stack.Client.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	if first := d.GetWorkflowExecutionInfo().GetFirstRunId(); first == d.GetWorkflowExecutionInfo().GetExecution().GetRunId() {
		t.Fatal("two chunks at one chunk a run: the backfill must have continued as new")
	} else {
		saveRunHistory(t, stack.Client, id, first, "backfill-continue-as-new.json")
	}
	saveHistory(t, stack.Client, workflows.ChunkWorkflowID(id, 1), "backfill-chunk-profile-fields.json")
	saveHistory(t, stack.Client, workflows.ChunkWorkflowID(id, 2), "backfill-chunk-refused.json")

	t.Run("a drop-down mapped into a restricted picklist", func(t *testing.T) {
		sectorOf := map[string]string{"Film & TV": "Media", "Research": "Academia", "Design": "Creative industries", "Non-profit": "Charity", "Education": "Other"}
		checked := 0
		for _, u := range af.Users() {
			id, industry := u.Fields["SfRecord"], u.Fields["Industry"]
			if id == "" || industry == "" {
				continue
			}
			rec, _ := sf.Record("Contact", id)
			if got := rec["Sector__c"]; got != sectorOf[industry] {
				t.Errorf("%s: Industry %q became Sector__c %v, want %q", u.Slug, industry, got, sectorOf[industry])
			}
			checked++
		}
		if checked < 50 {
			t.Errorf("only %d paired users with an Industry", checked)
		}
	})

	t.Run("phones pulled as E.164, a long value cut, a refused value left out", func(t *testing.T) {
		// A CRM phone in national format fills an empty mobile, in E.164.
		local := af.AddUser(afsim.User{Slug: "LocalPhn", Email: "local.phone@example.org", FirstName: "Lo", LastName: "Cal",
			Fields: map[string]string{"Employer": strings.Repeat("E", 100)}})
		sf.Insert("Contact", map[string]any{"Email": local.Email, "LastName": "Cal", "Phone": "020 7946 0958"})
		// A CRM phone another user has as their mobile: that value alone is
		// left out, the CRM's title still comes in.
		taken := af.AddUser(afsim.User{Slug: "TakenPhn", Email: "taken.phone@example.org", FirstName: "Ta", LastName: "Ken"})
		sf.Insert("Contact", map[string]any{"Email": taken.Email, "LastName": "Ken", "Phone": "+44 20 7946 0958", "Title": "Curator"})
		// A CRM phone that is no phone number: left out with the reason.
		junk := af.AddUser(afsim.User{Slug: "JunkPhnA", Email: "junk.phone@example.org", FirstName: "Ju", LastName: "Nk"})
		sf.Insert("Contact", map[string]any{"Email": junk.Email, "LastName": "Nk", "Phone": "ask at reception", "Title": "Porter"})

		res, err := syncWith(stack, local.Slug)
		if err != nil || res.Outcome != workflows.OutcomeUpdated {
			t.Fatalf("%s: %+v %v", local.Slug, res, err)
		}
		if got, _ := af.User(local.Slug); got.Mobile != "+442079460958" {
			t.Errorf("mobile %q, want the CRM's 020 7946 0958 as +442079460958", got.Mobile)
		}
		if rec, _ := sf.Record("Contact", res.RecordID); rec["Department"] != strings.Repeat("E", 80) {
			t.Errorf("Department %v, want the 100-character employer cut to 80", rec["Department"])
		}
		for _, c := range res.Decision.CRM {
			if c.Field == "Department" && !strings.Contains(c.Note, "80") {
				t.Errorf("the cut is not noted in the audit: %+v", c)
			}
		}

		for _, tc := range []struct {
			u      afsim.User
			title  string
			reason string
		}{{taken, "Curator", "already been taken"}, {junk, "Porter", "phone"}} {
			res, err := syncWith(stack, tc.u.Slug)
			if err != nil || res.Outcome != workflows.OutcomeUpdated {
				t.Fatalf("%s: %+v %v", tc.u.Slug, res, err)
			}
			got, _ := af.User(tc.u.Slug)
			if got.Mobile != "" || got.Fields["JobTitle"] != tc.title {
				t.Errorf("%s: mobile %q title %q, want no mobile and the title %q", tc.u.Slug, got.Mobile, got.Fields["JobTitle"], tc.title)
			}
			skipped := false
			for _, sk := range res.Decision.SkippedFields {
				if sk.Field == "mobile" && strings.Contains(strings.ToLower(sk.Reason), tc.reason) {
					skipped = true
				}
			}
			if !skipped {
				t.Errorf("%s: mobile not left out with a reason naming %q: %+v", tc.u.Slug, tc.reason, res.Decision.SkippedFields)
			}
		}
	})

	t.Run("a single sync creates the record and writes its id back", func(t *testing.T) {
		u := af.AddUser(afsim.User{Slug: "WriteBck", Email: "write.back@example.org", FirstName: "Wren", LastName: "Back"})
		res, err := syncWith(stack, u.Slug)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := af.User(u.Slug)
		if res.Outcome != workflows.OutcomeCreated || got.Fields["SfRecord"] != res.RecordID {
			t.Fatalf("outcome %s record %s, Award Force holds %q", res.Outcome, res.RecordID, got.Fields["SfRecord"])
		}
		saveHistory(t, stack.Client, workflows.UserSyncWorkflowID(u.Slug), "usersync-write-back.json")
	})

	t.Run("a refused single sync fails with Salesforce's message", func(t *testing.T) {
		res, err := syncWith(stack, long.Slug)
		if err == nil || res.Outcome != workflows.OutcomeFailed || !strings.Contains(res.Error, "STRING_TOO_LONG") {
			t.Fatalf("want the sync failed with STRING_TOO_LONG, got %s %q (%v)", res.Outcome, res.Error, err)
		}
		saveHistory(t, stack.Client, workflows.UserSyncWorkflowID(long.Slug), "usersync-refused.json")
	})
	// The lane that wrote for that user: its batches, a refusal, answers.
	saveHistory(t, stack.Client, workflows.LaneWorkflowID(workflows.LaneOf(long.Slug)), "lane.json")
}

// syncWith runs `starter sync --json` for slug with the example spec.
func syncWith(stack *devstack.Stack, slug string) (workflows.UserSyncResult, error) {
	return syncWithSpec(stack, exampleSpecPath, slug)
}

// syncWithSpec runs `starter sync --json` for slug with the spec at path.
func syncWithSpec(stack *devstack.Stack, path, slug string) (workflows.UserSyncResult, error) {
	var out bytes.Buffer
	o := &syncOptions{
		globalOptions: &globalOptions{temporal: configFor(stack), specPath: path},
		user:          slug, trigger: string(pairing.TriggerRegistration), json: true,
		timeout: time.Minute, out: &out,
	}
	err := runSync(context.Background(), o)
	var res workflows.UserSyncResult
	_ = json.Unmarshal(out.Bytes(), &res)
	return res, err
}

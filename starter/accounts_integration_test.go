package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
	"github.com/afsync/afsync/workflows"
)

// accountSpecYAML is a Contact spec that links each Contact to the Account
// its Employer names; account is the account key's body.
func accountSpecYAML(t *testing.T, account string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "accounts.yaml")
	spec := `object: Contact
unique_identifier: {awardforce: email, crm: Email}
fields:
  - {awardforce: first_name, crm: FirstName}
  - {awardforce: last_name, crm: LastName}
account: ` + account + "\n"
	if err := os.WriteFile(path, []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// awaitSync waits for the sync of slug, which a webhook starts, to end.
func awaitSync(t *testing.T, c client.Client, slug string, within time.Duration) workflows.UserSyncResult {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		res, err := syncResult(t, c, slug, time.Until(deadline))
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			return res
		case errors.As(err, &notFound) && time.Now().Before(deadline):
			time.Sleep(200 * time.Millisecond) // its webhook has not arrived yet
		default:
			t.Fatalf("%s: %v", slug, err)
		}
	}
}

// accountsNamed lists the live Accounts named name, in any case.
func accountsNamed(sf *sfsim.Server, name string) []map[string]any {
	var out []map[string]any
	for _, r := range sf.Records("Account") {
		if n, _ := r["Name"].(string); strings.EqualFold(n, name) {
			out = append(out, r)
		}
	}
	return out
}

// contactOf is the one Contact holding email.
func contactOf(t *testing.T, sf *sfsim.Server, email string) map[string]any {
	t.Helper()
	recs := contactsByEmail(sf.Records("Contact"))[strings.ToLower(email)]
	if len(recs) != 1 {
		t.Fatalf("%d Contacts hold %s, want one", len(recs), email)
	}
	return recs[0]
}

// A whole organisation registering at the same moment, each announced by a
// signed webhook: one Account is made for it, and every Contact belongs to
// it. An organisation two Accounts share leaves its people ambiguous, with
// both as candidates.
func TestIntegrationAnOrganisationRegisteringAtOnceGetsOneAccount(t *testing.T) {
	t.Parallel()
	path := accountSpecYAML(t, "{awardforce: Employer, create: true}")
	// Every Salesforce call takes two seconds: a lane batch lasts about
	// eight (a lookup, an Accounts query and create, a write).
	stack := startStackWithSpec(t, sandbox.Options{Latency: 2 * time.Second}, path)
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	if stack.Spec.Account == nil {
		t.Fatal("the worker does not run the account spec")
	}
	sandboxWebhooks(t, stack)
	twin1 := sf.Insert("Account", map[string]any{"Name": "Twin Co"})
	twin2 := sf.Insert("Account", map[string]any{"Name": "TWIN CO"})
	sf.ResetStats()

	const people = 30
	slugs := make([]string, people)
	var wg sync.WaitGroup
	for i := range people {
		wg.Go(func() {
			u := af.Register(afsim.User{Email: fmt.Sprintf("initech.%02d@example.org", i), FirstName: "Pat", LastName: fmt.Sprintf("Lumbergh %d", i),
				Fields: map[string]string{"Employer": "Initech"}})
			slugs[i] = u.Slug
		})
	}
	wg.Wait()
	for _, slug := range slugs {
		if res := awaitSync(t, stack.Client, slug, 2*time.Minute); res.Outcome != workflows.OutcomeCreated {
			t.Errorf("%s: %s %s, want created", slug, res.Outcome, res.Error)
		}
	}
	initech := accountsNamed(sf, "Initech")
	if len(initech) != 1 {
		t.Fatalf("%d Accounts named Initech (%v), want exactly one", len(initech), initech)
	}
	for i := range people {
		if got := contactOf(t, sf, fmt.Sprintf("initech.%02d@example.org", i))["AccountId"]; got != initech[0]["Id"] {
			t.Errorf("Contact %d belongs to %v, want Initech's %v", i, got, initech[0]["Id"])
		}
	}
	st := sf.Stats()
	if q, b := st.QueriesFrom["Account"], laneBatches(t, stack.Client); q > b {
		t.Errorf("%d Account queries in %d lane batches, want at most one a batch", q, b)
	}
	t.Logf("%d registrations of one organisation: %d Salesforce calls, %d Account queries (%v)", people, st.APICalls, st.QueriesFrom["Account"], st.ByRoute)

	t.Run("an organisation's people arriving while its Account is made", func(t *testing.T) {
		// Each arrives after the lane's gathering pause (its timers fire
		// within a second on the dev server), in a batch of its own, while
		// the batch ahead of it has looked for the Account and not yet made
		// it: without the lane holding an organisation to one batch at a
		// time, each would make one (checked: two Accounts, and the people
		// ambiguous).
		const wave = 8
		before := laneBatches(t, stack.Client)
		hooli := make([]string, wave)
		for i := range wave {
			hooli[i] = af.Register(afsim.User{Email: fmt.Sprintf("hooli.%02d@example.org", i), FirstName: "Gav", LastName: fmt.Sprintf("Belson %d", i),
				Fields: map[string]string{"Employer": "Hooli"}}).Slug
			time.Sleep(1100 * time.Millisecond)
		}
		for _, slug := range hooli {
			if res := awaitSync(t, stack.Client, slug, 2*time.Minute); res.Outcome != workflows.OutcomeCreated {
				t.Errorf("%s: %s %s, want created", slug, res.Outcome, res.Error)
			}
		}
		batches := laneBatches(t, stack.Client) - before
		if batches < 2 {
			t.Errorf("the wave went in %d batch: the test proves nothing; space the arrivals out", batches)
		}
		accounts := accountsNamed(sf, "Hooli")
		if len(accounts) != 1 {
			t.Fatalf("%d Accounts named Hooli after %d batches, want exactly one", len(accounts), batches)
		}
		for i := range wave {
			if got := contactOf(t, sf, fmt.Sprintf("hooli.%02d@example.org", i))["AccountId"]; got != accounts[0]["Id"] {
				t.Errorf("Contact %d belongs to %v, want Hooli's %v", i, got, accounts[0]["Id"])
			}
		}
		t.Logf("%d people of one organisation, 1.1 s apart: %d batches, one Account", wave, batches)
	})

	t.Run("an organisation two Accounts share", func(t *testing.T) {
		var wg sync.WaitGroup
		twins := make([]string, 2)
		for i := range twins {
			wg.Go(func() {
				twins[i] = af.Register(afsim.User{Email: fmt.Sprintf("twin.%d@example.org", i), FirstName: "Tam", LastName: "Twin",
					Fields: map[string]string{"Employer": "twin co"}}).Slug
			})
		}
		wg.Wait()
		for _, slug := range twins {
			res := awaitSync(t, stack.Client, slug, time.Minute)
			slices.Sort(res.Decision.CandidateIDs)
			want := []string{twin1, twin2}
			slices.Sort(want)
			if res.Outcome != workflows.OutcomeAmbiguous || !slices.Equal(res.Decision.CandidateIDs, want) {
				t.Errorf("%s: %s with candidates %v, want ambiguous between %v", slug, res.Outcome, res.Decision.CandidateIDs, want)
			}
			if !strings.Contains(res.Decision.Reason, "2 Accounts match") {
				t.Errorf("reason %q", res.Decision.Reason)
			}
		}
		if n := len(contactsByEmail(sf.Records("Contact"))["twin.0@example.org"]); n != 0 {
			t.Errorf("%d Contacts for an ambiguous user, want none", n)
		}
		if n := len(accountsNamed(sf, "Twin Co")); n != 2 {
			t.Errorf("%d Twin Co Accounts, want the two there were", n)
		}
	})
}

// A backfill finds the Accounts of existing organisations with at most one
// query per lane batch, and creates none when the spec says not to: a
// Contact whose organisation has no Account is made without one. Its dry
// run plans the same links.
func TestIntegrationABackfillLinksExistingAccounts(t *testing.T) {
	t.Parallel()
	const users = 250
	path := accountSpecYAML(t, "{awardforce: Employer}")
	stack := startStackWithSpec(t, sandbox.Options{Seed: sandbox.SeedOptions{Users: users, Seed: 17, Duplicates: -1 /* none */}}, path)
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	accounts := map[string]string{} // organisation → Account id; Civic Lab has none
	for _, org := range []string{"Northwind Trust", "Blue Harbour Films", "Greenfield University", "Atelier Nord"} {
		accounts[org] = sf.Insert("Account", map[string]any{"Name": org})
	}
	sf.ResetStats()

	dir := t.TempDir()
	buf := &syncBuffer{}
	dry := &backfillOptions{globalOptions: &globalOptions{temporal: configFor(stack), specPath: path}, dryRun: true, out: dir + "/plan.jsonl", stdout: buf}
	if err := runBackfill(context.Background(), dry); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if want := fmt.Sprintf("A backfill of this spec: %s users: ", count(users)); !strings.Contains(buf.String(), want) {
		t.Errorf("the dry run does not tell how long a backfill takes (want %q):\n%s", want, buf.String())
	}
	if st := sf.Stats(); st.Writes != 0 {
		t.Fatalf("a dry run wrote %d records (%v)", st.Writes, st.ByRoute)
	}
	raw, err := os.ReadFile(dir + "/plan.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	planned := 0
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var u workflows.UserSyncResult
		if err := json.Unmarshal([]byte(line), &u); err != nil {
			t.Fatal(err)
		}
		for _, c := range u.Decision.CRM {
			if c.Field == "AccountId" {
				planned++
				if !slices.Contains(mapValues(accounts), c.After) {
					t.Errorf("%s: planned AccountId %q is none of the Accounts", u.Slug, c.After)
				}
			}
		}
	}
	if planned == 0 {
		t.Fatal("the plan links nobody to an Account")
	}

	sf.ResetStats()
	buf = &syncBuffer{}
	o := &backfillOptions{globalOptions: &globalOptions{temporal: configFor(stack), specPath: path}, concurrency: 1, pagesPerChunk: 1, json: true, stdout: buf}
	if err := runBackfill(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	linked, unlinked := 0, 0
	for _, u := range af.Users() {
		if u.Email == "" {
			continue
		}
		recs := contactsByEmail(sf.Records("Contact"))[strings.ToLower(u.Email)]
		if len(recs) != 1 {
			t.Errorf("%s: %d Contacts", u.Slug, len(recs))
			continue
		}
		want, got := accounts[u.Fields["Employer"]], recs[0]["AccountId"]
		switch {
		case want != "" && got != want:
			t.Errorf("%s of %q: AccountId %v, want %s", u.Slug, u.Fields["Employer"], got, want)
		case want == "" && got != nil:
			t.Errorf("%s of %q: AccountId %v, want none (no Account, none made)", u.Slug, u.Fields["Employer"], got)
		case want != "":
			linked++
		default:
			unlinked++
		}
	}
	if linked < users/2 || unlinked == 0 {
		t.Errorf("%d linked, %d without an Account: want most linked and Civic Lab's people without", linked, unlinked)
	}
	if n := len(sf.Records("Account")); n != len(accounts) {
		t.Errorf("%d Accounts, want the %d there were: create is off", n, len(accounts))
	}
	batches := laneBatches(t, stack.Client)
	chunks := (users + activities.PageSize - 1) / activities.PageSize
	st := sf.Stats()
	if q := st.QueriesFrom["Account"]; q == 0 || q > chunks {
		t.Errorf("%d Account queries for %d chunks of %d users (lane: %d batches), want at most one a chunk", q, chunks, activities.PageSize, batches)
	}
	t.Logf("backfill of %d users: %d Account queries, %d Contact queries, %d calls in all", users, st.QueriesFrom["Account"], st.QueriesFrom["Contact"], st.APICalls)
}

// laneBatches is how many batches the pairing lane has run.
func laneBatches(t *testing.T, c client.Client) int {
	t.Helper()
	var lane workflows.LaneStatus
	v, err := c.QueryWorkflow(context.Background(), workflows.LaneWorkflowID(0), "", workflows.LaneQuery)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&lane); err != nil {
		t.Fatal(err)
	}
	return lane.Counts.Batches
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

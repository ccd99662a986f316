package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// crmSpec pairs Contacts by email and lets the CRM own the first name: a
// change of FirstName in Salesforce must reach Award Force. %s is how
// often the watch asks.
const crmSpec = `object: Contact
unique_identifier: {awardforce: email, crm: Email}
crm_changes: {every: %s}
fields:
  - {awardforce: first_name, crm: FirstName, direction: from_crm}
  - {awardforce: last_name, crm: LastName}
`

// CRMResult is the CRM-change benchmark's JSON line.
type CRMResult struct {
	// Idle: the watch's Salesforce calls while nothing changes, per hour
	// (measured over IdleSeconds).
	IdleSeconds            float64 `json:"idle_seconds"`
	IdleSalesforceCalls    int     `json:"idle_salesforce_calls"`
	IdleSalesforceCallsPer float64 `json:"idle_salesforce_calls_per_hour"`
	// Changes made in Salesforce by another user, over OverSeconds.
	Changes     int     `json:"changes"`
	OverSeconds float64 `json:"over_seconds"`
	// Latency from the Salesforce edit to the value in Award Force.
	P50Seconds float64 `json:"p50_seconds"`
	P95Seconds float64 `json:"p95_seconds"`
	MaxSeconds float64 `json:"max_seconds"`
	// Calls while the changes flowed back (the watch's polls included),
	// and what afsync wrote: Award Force updates (one a change) and
	// Salesforce record writes (none: nothing bounces back).
	SalesforceCalls       int     `json:"salesforce_calls"`
	SalesforceCallsPer1k  float64 `json:"salesforce_calls_per_1000_changes"`
	AwardForceRequests    int     `json:"award_force_requests"`
	AwardForceUpdates     int     `json:"award_force_updates"`
	SalesforceWrites      int     `json:"salesforce_record_writes"`
	QuietSyncs            int     `json:"syncs_after_quiet"`
	Every                 string  `json:"every"`
	AwardForceLimitPerMin int     `json:"award_force_limit_per_minute"`
	CPUs                  int     `json:"cpus"`
}

// writeCRMSpec writes the benchmark's spec to a temporary file.
func writeCRMSpec(dir string, every time.Duration) (string, error) {
	path := filepath.Join(dir, "crm-spec.yaml")
	return path, os.WriteFile(path, []byte(fmt.Sprintf(crmSpec, every)), 0o600)
}

// runCRM pairs the seeded users (a backfill), measures the watch's calls
// on an idle org, then edits the first name of --crm-changes paired
// Contacts in Salesforce as another user, over --crm-over, and measures how
// soon each reaches Award Force and what it cost.
func runCRM(ctx context.Context, o *options, st *benchStack, out io.Writer) error {
	spec, err := pairing.Load(st.specPath)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "pairing the seeded users (a backfill)…")
	run, err := st.c.ExecuteWorkflow(ctx, workflows.BackfillStartOptions(workflows.BackfillWorkflowID(spec, false), spec, false),
		workflows.Backfill, workflows.BackfillInput{Spec: *spec, Concurrency: o.concurrency, PagesPerChunk: o.pagesPerChunk, PairEvery: o.pairEvery})
	if err != nil {
		return err
	}
	var p workflows.Progress
	if err := run.Get(ctx, &p); err != nil {
		return err
	}
	af, sf := st.sb.AwardForce, st.sb.Salesforce

	// Idle: the polls whose windows still hold the backfill's own writes
	// (echoes) come first; let two pass, then count.
	time.Sleep(2*o.crmEvery + 5*time.Second)
	sf.ResetStats()
	fmt.Fprintf(out, "idle for %s…\n", o.crmIdle)
	time.Sleep(o.crmIdle)
	idle := sf.Stats().APICalls

	// The people to change: paired ones, with an email.
	byEmail := map[string]string{} // lower email → slug
	for _, u := range af.Users() {
		if u.Email != "" && !u.Deleted {
			byEmail[strings.ToLower(u.Email)] = u.Slug
		}
	}
	type target struct{ id, slug, name string }
	var targets []target
	seen := map[string]int{}
	for _, rec := range sf.Records("Contact") {
		email, _ := rec["Email"].(string)
		seen[strings.ToLower(email)]++
	}
	for _, rec := range sf.Records("Contact") {
		email, _ := rec["Email"].(string)
		slug, ok := byEmail[strings.ToLower(email)]
		if !ok || seen[strings.ToLower(email)] != 1 {
			continue // not a user's, or ambiguous
		}
		targets = append(targets, target{id: rec["Id"].(string), slug: slug, name: fmt.Sprintf("Changed%d", len(targets))})
		if len(targets) == o.crmChanges {
			break
		}
	}
	if len(targets) < o.crmChanges {
		return fmt.Errorf("only %d paired users to change; seed more (--users)", len(targets))
	}

	af.ResetStats()
	sf.ResetStats()
	fmt.Fprintf(out, "%d changes in Salesforce over %s…\n", len(targets), o.crmOver)
	edited := make([]time.Time, len(targets))
	gap := o.crmOver / time.Duration(max(len(targets)-1, 1))
	go func() {
		for i, tg := range targets {
			edited[i] = time.Now()
			if err := sf.EditAs("Contact", tg.id, map[string]any{"FirstName": tg.name}); err != nil {
				fmt.Fprintln(out, "edit:", err)
			}
			time.Sleep(gap)
		}
	}()
	arrived := make([]time.Time, len(targets))
	deadline := time.Now().Add(o.crmOver + 30*time.Minute)
	for pending := len(targets); pending > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d changes never reached Award Force", pending)
		}
		for i, tg := range targets {
			if !arrived[i].IsZero() {
				continue
			}
			if u, _ := af.User(tg.slug); u.FirstName == tg.name {
				arrived[i], pending = time.Now(), pending-1
			}
		}
	}
	sfCalls, afStats, writes := sf.Stats().APICalls, af.Stats(), sf.Stats().Writes

	// Quiet again: nothing may bounce back. Two more polls.
	time.Sleep(2*o.crmEvery + 5*time.Second)
	quiet := sf.Stats().Writes - writes + af.Stats().ByRoute["PUT /user/{slug}"] - afStats.ByRoute["PUT /user/{slug}"]

	latencies := make([]float64, len(targets))
	for i := range targets {
		latencies[i] = arrived[i].Sub(edited[i]).Seconds()
	}
	slices.Sort(latencies)
	r := CRMResult{
		IdleSeconds: o.crmIdle.Seconds(), IdleSalesforceCalls: idle, IdleSalesforceCallsPer: round(float64(idle)*3600/o.crmIdle.Seconds(), 1),
		Changes: len(targets), OverSeconds: o.crmOver.Seconds(),
		P50Seconds: round(quantile(latencies, 0.5), 2), P95Seconds: round(quantile(latencies, 0.95), 2), MaxSeconds: round(latencies[len(latencies)-1], 2),
		SalesforceCalls: sfCalls, SalesforceCallsPer1k: round(float64(sfCalls)*1000/float64(len(targets)), 1),
		AwardForceRequests: afStats.Requests, AwardForceUpdates: afStats.ByRoute["PUT /user/{slug}"], SalesforceWrites: writes,
		QuietSyncs: quiet, Every: o.crmEvery.String(), AwardForceLimitPerMin: o.afLimit, CPUs: cpus(),
	}
	fmt.Fprintf(out, "\nidle: %d Salesforce calls in %s (%.0f an hour)\n", r.IdleSalesforceCalls, o.crmIdle, r.IdleSalesforceCallsPer)
	fmt.Fprintf(out, "%d Salesforce edits over %s reached Award Force: p50 %.2fs, p95 %.2fs, max %.2fs\n", r.Changes, o.crmOver, r.P50Seconds, r.P95Seconds, r.MaxSeconds)
	fmt.Fprintf(out, "Salesforce calls %d (%.1f per 1,000 changes), record writes %d; Award Force requests %d (updates %d); writes after quiet %d\n",
		r.SalesforceCalls, r.SalesforceCallsPer1k, r.SalesforceWrites, r.AwardForceRequests, r.AwardForceUpdates, r.QuietSyncs)
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(line))
	if r.QuietSyncs != 0 || r.AwardForceUpdates != r.Changes {
		return fmt.Errorf("want one Award Force update a change and nothing after: %d updates for %d changes, %d writes after quiet", r.AwardForceUpdates, r.Changes, r.QuietSyncs)
	}
	return nil
}

// Command chaos runs afsync's chaos drill (`make chaos`): the whole product
// on one machine under concurrent triggers, faults and worker kills, then a
// check of every promise. It exits 1 when a promise is broken. See
// docs/reliability.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"

	"github.com/afsync/afsync/internal/drill"
)

func main() {
	o := drill.DefaultOptions()
	flag.IntVar(&o.Users, "users", o.Users, "Award Force users seeded before the drill")
	flag.IntVar(&o.Registrations, "registrations", o.Registrations, "users registering during the backfill (a signed webhook each)")
	flag.IntVar(&o.Edits, "edits", o.Edits, "profile edits during the backfill (a signed webhook each, a tenth sent twice)")
	flag.IntVar(&o.ManualSyncs, "manual-syncs", o.ManualSyncs, "`starter sync`s during the backfill")
	flag.IntVar(&o.EmailChanges, "email-changes", o.EmailChanges, "paired users changing their address after the backfills (half the freed addresses registered again, as many registrations fixed seconds later)")
	flag.IntVar(&o.Kills, "kills", o.Kills, "times the worker is killed mid-run and restarted")
	flag.Float64Var(&o.Transient, "transient", o.Transient, "share of API calls answered by a transient error (and of records refused with UNABLE_TO_LOCK_ROW)")
	flag.Float64Var(&o.Lost, "lost", o.Lost, "share of Salesforce writes whose answer is lost (half commit late)")
	flag.DurationVar(&o.SessionTTL, "session-ttl", o.SessionTTL, "Salesforce session lifetime")
	flag.DurationVar(&o.CommitHorizon, "commit-horizon", o.CommitHorizon, "how long the simulated org may commit a write whose answer was lost")
	flag.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the data and the faults")
	asJSON := flag.Bool("json", false, "print the report as JSON")
	flag.Parse()
	o.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := drill.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(r)
	} else {
		printReport(r)
	}
	if !r.OK() {
		os.Exit(1)
	}
}

func printReport(r *drill.Report) {
	kinds := make([]string, 0, len(r.SalesforceFaults))
	total := 0
	for k, n := range r.SalesforceFaults {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		total += n
	}
	sort.Strings(kinds)
	fmt.Printf(`
Chaos drill: %s in %s
  users                      %d (%d seeded duplicates left ambiguous)
  records per user           %d with one, %d with none, %d with several
  stale fields               %d
  users reported failed      %d
  faults injected            Salesforce %d (%s), Award Force %d
  worker kills               %d
  registrations / edits      %d / %d (%d webhooks delivered, %d replayed)
  manual syncs               %d
  identity churn             %d address changes, %d freed addresses registered again, %d registrations fixed; %d freed addresses wrong
                             %d people edited twice within one second, %d addresses changed in Salesforce
  Salesforce API calls       %d
`, verdict(r), r.Elapsed, r.Users, r.Ambiguous, r.WithOne, r.WithoutRecord, r.WithSeveral, r.StaleFields, r.Failed,
		total, strings.Join(kinds, ", "), r.AwardForceFaults, r.Kills, r.Registrations, r.Edits, r.Webhooks, r.Replays, r.ManualSyncs,
		r.EmailChanges, r.Reused, r.Corrections, r.TakenOver, r.SameSecondEdits, r.CRMAddressEdits, r.SalesforceCalls)
	for _, p := range r.Problems {
		fmt.Println("  ✗", p)
	}
}

func verdict(r *drill.Report) string {
	if r.OK() {
		return "every promise held"
	}
	return fmt.Sprintf("%d promises broken", len(r.Problems))
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

type retryOptions struct {
	*globalOptions
	id          string
	since       time.Duration
	concurrency int
	json        bool
	timeout     time.Duration
	stdout      io.Writer
}

func newCmdRetry(g *globalOptions) *cobra.Command {
	o := &retryOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "retry",
		Short: "Sync again every user the last backfill, or any sync in a window, failed on",
		Long: `Find every user the last backfill of this spec (or --id) failed on, in
its chunks' audits, and sync each again with its own UserSync workflow (as
"starter sync" does), a few at a time; then print one line per user and a
summary. Fix the data first (the failure lines carry Salesforce's or Award
Force's own message), then retry.

With --since, every user whose latest sync in that window failed, whatever
started it (a webhook, a manual sync, a CRM change, a backfill), is synced
again instead.

Exits with status 2 if any user still fails. A chunk that failed as a whole
left no list of its users: run the backfill again for those (it only writes
what differs).`,
		Example: `  starter retry
  starter retry --id afsync-backfill-1a2b3c4d5e6f --json
  starter retry --since 24h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.stdout = cmd.OutOrStdout()
			return runRetry(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.id, "id", "", "the backfill's workflow id (default: the last backfill of this spec)")
	f.DurationVar(&o.since, "since", 0, "retry every user whose latest sync that ended this long ago or later failed, e.g. 24h (instead of a backfill's)")
	f.IntVar(&o.concurrency, "concurrency", 8, "user syncs run at once")
	f.BoolVar(&o.json, "json", false, "print every user's audit as one JSON array")
	f.DurationVar(&o.timeout, "timeout", 30*time.Minute, "how long to wait for all the syncs")
	return cmd
}

func runRetry(ctx context.Context, o *retryOptions) error {
	if o.concurrency < 1 {
		return fmt.Errorf("--concurrency %d: want at least 1", o.concurrency)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.since < 0 || o.since > 0 && o.id != "" {
		return fmt.Errorf("--since %s: want a positive duration, and not with --id", o.since)
	}
	spec, c, copts, err := o.session(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if o.since > 0 {
		failed, err := failedSince(ctx, newSyncReader(c, copts, o.names, ""), time.Now().Add(-o.since))
		if err != nil {
			return err
		}
		return o.retryUsers(ctx, c, spec, failed, fmt.Sprintf("the syncs of the last %s", o.since))
	}

	p, err := finishedBackfill(ctx, c, o.names, spec, o.id, false)
	if err != nil {
		return err
	}
	if p.DryRun {
		return fmt.Errorf("backfill %s is a dry run: it wrote nothing, so there is nothing to retry", p.BackfillID)
	}
	failed, err := failedSlugs(ctx, c, p)
	if err != nil {
		return err
	}
	id := p.BackfillID
	say := o.stdout
	if o.json {
		say = io.Discard
		if o.stderr != nil {
			say = o.stderr
		}
	}
	for _, ch := range p.FailedChunks {
		fmt.Fprintf(say, "chunk failed as a whole (run the backfill again for its users): %s\n", ch)
	}
	return o.retryUsers(ctx, c, spec, failed, "backfill "+id)
}

// failedSince lists the users whose latest sync that ended at or after from
// failed, newest failure first.
func failedSince(ctx context.Context, r *syncReader, from time.Time) ([]string, error) {
	found, err := syncsSince(ctx, r, from)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var failed []string
	for _, s := range found { // newest first: a user's first record is their latest sync
		slug := strings.TrimPrefix(s.WorkflowID, r.names.UserSync(""))
		if s.Result != nil && s.Result.Slug != "" {
			slug = s.Result.Slug
		}
		if slug == "" || seen[slug] || s.Status == "running" || s.Status == "continued" {
			continue
		}
		seen[slug] = true
		if s.Status == "failed" || s.Result != nil && s.Result.Outcome == workflows.OutcomeFailed {
			failed = append(failed, slug)
		}
	}
	return failed, nil
}

// retryUsers syncs failed again, from what (named in the messages), and
// reports as runRetry describes.
func (o *retryOptions) retryUsers(ctx context.Context, c client.Client, spec *pairing.Spec, failed []string, what string) error {
	say := o.stdout
	if o.json {
		say = io.Discard
		if o.stderr != nil {
			say = o.stderr
		}
	}
	if len(failed) == 0 {
		fmt.Fprintf(say, "No failed user to retry in %s.\n", what)
		if o.json {
			fmt.Fprintln(o.stdout, "[]")
		}
		return nil
	}
	fmt.Fprintf(say, "Retrying %d users that failed in %s…\n", len(failed), what)
	o.warnIfNoWorker(ctx, c)

	results := retryAll(ctx, c, o.names, spec, failed, o.concurrency)
	if o.json {
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	}
	var counts workflows.Counts
	tw := tabwriter.NewWriter(say, 0, 4, 2, ' ', 0)
	for _, r := range results {
		counts.Count(r.Outcome)
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Slug, r.Outcome, firstNonEmpty(r.Error, r.RecordID, r.Decision.Reason))
	}
	tw.Flush()
	fmt.Fprintf(say, "Retried %d: created %d · updated %d · unchanged %d · skipped %d · ambiguous %d · still failing %d\n",
		counts.Seen, counts.Created, counts.Updated, counts.Unchanged, counts.Skipped, counts.Ambiguous, counts.Failed)
	if counts.Failed > 0 {
		return &exitError{code: 2, err: fmt.Errorf("%d of %d users still fail", counts.Failed, counts.Seen)}
	}
	return nil
}

// failedSlugs lists the users a finished backfill failed on, in list order.
// The backfill's own result names them when there are at most
// MaxReportedFailures; beyond that, the chunks' audits are read.
func failedSlugs(ctx context.Context, c client.Client, p *workflows.Progress) ([]string, error) {
	var slugs []string
	if len(p.Failures) == p.Failed {
		for _, f := range p.Failures {
			slugs = append(slugs, f.Slug)
		}
		return slugs, nil
	}
	err := forEachUser(ctx, c, p, func(u workflows.UserSyncResult) error {
		if u.Outcome == workflows.OutcomeFailed {
			slugs = append(slugs, u.Slug)
		}
		return nil
	})
	return slugs, err
}

// retryAll syncs every slug again, n at a time, and returns the audits in
// the order of slugs. A sync that could not run at all (Temporal
// unreachable, the deadline) is reported as failed with that error.
func retryAll(ctx context.Context, c client.Client, names workflows.Names, spec *pairing.Spec, slugs []string, n int) []workflows.UserSyncResult {
	out := make([]workflows.UserSyncResult, len(slugs))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, slug := range slugs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, _, err := syncUser(ctx, c, names, spec, slug, pairing.TriggerManual)
			if err != nil {
				res = workflows.UserSyncResult{Slug: slug, Outcome: workflows.OutcomeFailed, Error: err.Error()}
			}
			out[i] = res
		}()
	}
	wg.Wait()
	return out
}

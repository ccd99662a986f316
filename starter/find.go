package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/workflows"
)

type findOptions struct {
	*globalOptions
	user    string
	since   time.Duration
	json    bool
	uiURL   string
	timeout time.Duration
	out     io.Writer
}

func newCmdFind(g *globalOptions) *cobra.Command {
	o := &findOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "find <email-or-slug>",
		Short: "List every sync of one person, newest first, with what it did and its UI link",
		Long: `List every sync that touched one Award Force user, newest first: single
syncs, webhook syncs, CRM-change syncs, retries (UserSync workflows) and the
backfill chunks that held them: when, the trigger, the outcome, the
Salesforce record, the fields changed and the Temporal UI link.

An email is first resolved to the user's slug through the worker (which
holds the Award Force key), as "starter sync" does: no email is ever put in a
workflow id or a search attribute, so Temporal's lists cannot be searched for
one. A person's syncs are found by their slug; the chunks that held them are
read one by one (one request each) from the backfills that ended within
--since, and what Temporal's retention has dropped is gone.

The table ends with the record the identity ledger pairs the user with
(specs without an external id keep who is paired with which record there,
for life; not in --json output).

The UI links use --ui-url (the dev server's UI by default; the compose
stack's is http://localhost:8080).`,
		Example: `  starter find ada.lovelace@example.org
  starter find AbCdEfGh --since 72h --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.user, o.out = args[0], cmd.OutOrStdout()
			return runFind(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.since, "since", 0, "only syncs that ended this long ago or later, e.g. 72h (default: everything Temporal still keeps)")
	f.BoolVar(&o.json, "json", false, "print JSON lines, one a sync")
	f.StringVar(&o.uiURL, "ui-url", defaultUIURL(), "the Temporal UI's address, for links (overrides "+config.EnvTemporalUIURL+")")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to spend looking")
	return cmd
}

// defaultUIURL is the UI's address from the environment, or the dev
// server's.
func defaultUIURL() string {
	if u := os.Getenv(config.EnvTemporalUIURL); u != "" {
		return u
	}
	return "http://localhost:8233"
}

func runFind(ctx context.Context, o *findOptions) error {
	if o.since < 0 {
		return fmt.Errorf("--since %s: want a duration of 0 (everything) or more", o.since)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, copts, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	slug, err := resolveSlug(ctx, c, o.names, o.user)
	if err != nil {
		return err
	}
	if slug != o.user && !o.json {
		fmt.Fprintf(o.out, "%s is Award Force user %s\n", o.user, slug)
	}
	var from time.Time
	if o.since > 0 {
		from = time.Now().Add(-o.since)
	}
	r := newSyncReader(c, copts, o.names, o.uiURL)
	found, err := findSyncs(ctx, r, slug, from)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(o.out)
		for _, s := range found {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
		return nil
	}
	printFound(o.out, slug, found)
	printLedger(ctx, o.out, c, o.names, slug)
	return nil
}

// printLedger says which record the identity ledger pairs the user with
// (specs without an external id); a ledger that cannot be read is said,
// not an error.
func printLedger(ctx context.Context, w io.Writer, c client.Client, names workflows.Names, slug string) {
	entries, err := workflows.LedgerEntries(ctx, c, names, slug)
	switch {
	case err != nil:
		fmt.Fprintf(w, "Identity ledger not read: %v\n", err)
	case len(entries) == 0:
		fmt.Fprintf(w, "Identity ledger: nothing for %s (specs with an external id keep the slug on the record instead).\n", slug)
	}
	for _, e := range entries {
		fmt.Fprintf(w, "Identity ledger: %s is paired with %s %s (since %s, %s).\n", slug, e.Object, e.RecordID, e.Since.Local().Format("2006-01-02 15:04:05"), e.Page)
	}
}

// findSyncs returns every sync of the user slug that ended at or after
// from (the zero time: any), newest first.
func findSyncs(ctx context.Context, r *syncReader, slug string, from time.Time) ([]syncRecord, error) {
	if !awardforce.IsSlug(slug) {
		return nil, fmt.Errorf("%q is not an Award Force slug (8 letters)", slug)
	}
	found, err := r.userSyncs(ctx, fmt.Sprintf("WorkflowType = 'UserSync' AND WorkflowId = '%s'%s", r.names.UserSync(slug), sinceClause(from)))
	if err != nil {
		return nil, err
	}
	err = r.chunks(ctx, "WorkflowType = 'BackfillChunk'"+sinceClause(from), func(info *workflowpb.WorkflowExecutionInfo, res *workflows.ChunkResult) {
		for _, u := range res.Users {
			if u.Slug == slug {
				found = append(found, r.chunkRecord(info, u))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	newestFirst(found)
	return found, nil
}

func printFound(w io.Writer, slug string, found []syncRecord) {
	if len(found) == 0 {
		fmt.Fprintf(w, "No sync of %s found (Temporal keeps closed workflows for its retention period only).\n", slug)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tTRIGGER\tOUTCOME\tRECORD\tCHANGED\tLINK")
	for _, s := range found {
		outcome, record := s.Status, ""
		if s.Result != nil {
			outcome, record = string(s.Result.Outcome), s.Result.RecordID
			if s.Result.Error != "" {
				outcome += ": " + clip(s.Result.Error, 60)
			}
		}
		link := s.Link
		if link == "" {
			link = s.WorkflowID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.When.Local().Format("2006-01-02 15:04:05"), s.Trigger, outcome,
			dash(record), dash(strings.Join(s.changedFields(), " ")), link)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"

	"github.com/afsync/afsync/workflows"
)

type watchOptions struct {
	*globalOptions
	json   bool
	stdout io.Writer
}

func newCmdWatch(g *globalOptions) *cobra.Command {
	o := &watchOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Show the CRM watch: how far it has covered Salesforce's changes, and what it did",
		Long: `Query the CRM watch (workflow ` + workflows.CRMWatchWorkflowID + `), which the worker starts
when the pairing spec watches Salesforce (crm_changes; on by default when a
pair reads from the CRM). Every crm_changes.every it asks Salesforce which
records someone else changed, deleted or merged since its high-water mark
("covered"), and starts a crm_change sync for each of their Award Force users.

"behind" is how far the high-water mark trails the clock: about one period
when all is well. A last error says why the last poll failed (the next one
asks again; nothing is skipped).`,
		Example: `  starter watch
  starter watch --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.stdout = cmd.OutOrStdout()
			return runWatch(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print the status as JSON")
	return cmd
}

func runWatch(ctx context.Context, o *watchOptions) error {
	c, _, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.QueryWorkflow(ctx, o.names.CRMWatch(), "", workflows.CRMWatchQuery)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return errors.New("no CRM watch runs: the worker starts one when its spec watches Salesforce (crm_changes.watch, or a from_crm or both pair)")
	}
	if err != nil {
		return fmt.Errorf("querying the CRM watch: %w", err)
	}
	var s workflows.CRMWatchStatus
	if err := v.Get(&s); err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format(time.RFC3339)
	}
	fmt.Fprintf(o.stdout, "Watching %s records every %s.\n", s.Object, s.Every)
	fmt.Fprintf(o.stdout, "Covered up to %s (%s behind); last poll %s, next %s.\n", at(s.Covered), s.Behind, at(s.LastPoll), at(s.NextPoll))
	n := s.Counts
	fmt.Fprintf(o.stdout, "%d polls: %d changes handed to syncs, %d of afsync's own writes ignored, %d records of no Award Force user; %d Salesforce and %d Award Force requests.\n",
		n.Polls, n.Changes, n.Echoes, n.Unmatched, n.SalesforceCalls, n.AwardForceCalls)
	if n.Gaps > 0 {
		fmt.Fprintf(o.stdout, "The watch was stopped longer than Salesforce keeps changes %d time(s): run a backfill to catch up.\n", n.Gaps)
	}
	if s.LastError != "" {
		fmt.Fprintf(o.stdout, "The last poll failed (the next one asks again): %s\n", s.LastError)
	}
	return nil
}

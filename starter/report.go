package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/workflows"
)

type reportOptions struct {
	*globalOptions
	id       string
	dryRun   bool
	out      string
	format   string
	outcomes []string
	json     bool
	since    time.Duration
	uiURL    string
	timeout  time.Duration
	stdout   io.Writer
}

// outcomeNames are the values --outcome accepts.
func outcomeNames() []string {
	names := make([]string, len(workflows.Outcomes))
	for i, o := range workflows.Outcomes {
		names[i] = string(o)
	}
	return names
}

func newCmdReport(g *globalOptions) *cobra.Command {
	o := &reportOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write what a backfill, or every sync of a window, did, user by user, as CSV or JSON lines",
		Long: `Read a finished backfill's audit (the last one of this spec by default, its
dry run with --dry-run, or --id) and write, per user, the outcome, the
decision, Salesforce's message when it failed, and every field's before →
after: the same format as a dry run's plan, for a real run. Then print the
backfill's summary.

With --since, report instead every sync that ended in the window, whatever
started it: single syncs, webhooks, CRM changes, retries and the users of
backfill chunks, one row set a sync, newest first, with three more columns
(when, trigger, workflow: its Temporal UI link).

--json prints the JSON lines on stdout instead (as find --json does; the
summary goes to stderr), as does --out - with --format jsonl.

CSV cells that a spreadsheet would run as a formula get a leading '; JSON
lines carry values untouched. The file holds people's emails and names:
treat it as personal data.`,
		Example: `  starter report --out report.csv
  starter report --outcome failed,ambiguous --out to-check.jsonl
  starter report --since 24h --outcome failed --out last-day.csv
  starter report --since 24h --json | jq .outcome`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.stdout = cmd.OutOrStdout()
			if o.stderr == nil {
				o.stderr = cmd.ErrOrStderr()
			}
			if o.json {
				if cmd.Flags().Changed("out") || cmd.Flags().Changed("format") {
					return errors.New("--json prints JSON lines on stdout: it takes neither --out nor --format")
				}
				o.out, o.format = StdoutPath, "jsonl"
			}
			return runReport(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.id, "id", "", "the backfill's workflow id (default: the last backfill of this spec)")
	f.BoolVar(&o.dryRun, "dry-run", false, "report this spec's last dry run instead")
	f.StringVar(&o.out, "out", "afsync-report.csv", "the report file (.csv, or .jsonl for JSON lines; - for stdout)")
	f.BoolVar(&o.json, "json", false, "print JSON lines, one a user (or a sync with --since), on stdout")
	f.StringVar(&o.format, "format", "", "csv or jsonl (default: from --out's extension)")
	f.StringSliceVar(&o.outcomes, "outcome", nil, "only users with these outcomes: "+strings.Join(outcomeNames(), ", "))
	f.DurationVar(&o.since, "since", 0, "report every sync that ended within this window instead, e.g. 24h")
	f.StringVar(&o.uiURL, "ui-url", defaultUIURL(), "with --since: the Temporal UI's address, for links (overrides "+config.EnvTemporalUIURL+")")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long to spend reading the audit")
	return cmd
}

func runReport(ctx context.Context, o *reportOptions) error {
	format, err := planFormat(o.format, o.out)
	if err != nil {
		return err
	}
	for _, oc := range o.outcomes {
		if !slices.Contains(workflows.Outcomes, workflows.Outcome(oc)) {
			return fmt.Errorf("--outcome %q: want one of %s", oc, strings.Join(outcomeNames(), ", "))
		}
	}
	if o.since < 0 {
		return fmt.Errorf("--since %s: want a window such as 24h", o.since)
	}
	if o.since > 0 && (o.id != "" || o.dryRun) {
		return errors.New("--since reports every sync of a window: it does not take --id or --dry-run")
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if o.since > 0 {
		return runReportSince(ctx, o, format)
	}
	spec, c, _, err := o.session(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := finishedBackfill(ctx, c, o.names, spec, o.id, o.dryRun)
	if err != nil {
		return err
	}
	n, err := writePlan(ctx, c, p, o.out, format, o.stdout, o.keep())
	if err != nil {
		return err
	}
	say := o.people()
	printSummary(say, *p)
	fmt.Fprintf(say, "\nReport: %d users written to %s\n", n, o.outName())
	return nil
}

// keep is the --outcome filter (nil: every user).
func (o *reportOptions) keep() func(workflows.UserSyncResult) bool {
	if len(o.outcomes) == 0 {
		return nil
	}
	return func(u workflows.UserSyncResult) bool { return slices.Contains(o.outcomes, string(u.Outcome)) }
}

// runReportSince writes every sync that ended within --since.
func runReportSince(ctx context.Context, o *reportOptions, format string) error {
	c, copts, err := o.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	r := newSyncReader(c, copts, o.names, o.uiURL)
	from := time.Now().Add(-o.since)
	syncs, err := syncsSince(ctx, r, from)
	if err != nil {
		return err
	}
	keep := o.keep()
	n, err := writeRecords(o.out, format, o.stdout, syncs, keep)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.people(), "Report: %d syncs since %s written to %s\n", n, from.Local().Format(time.RFC3339), o.outName())
	return nil
}

// people is where messages for people go: stdout, unless the report
// itself goes there (then stderr, or nowhere).
func (o *reportOptions) people() io.Writer {
	if o.out != StdoutPath {
		return o.stdout
	}
	if o.stderr != nil {
		return o.stderr
	}
	return io.Discard
}

// outName names where the report went.
func (o *reportOptions) outName() string {
	if o.out == StdoutPath {
		return "stdout"
	}
	return o.out
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/term"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/workflows"
)

type backfillOptions struct {
	*globalOptions
	filter        workflows.UserFilter
	limit         int
	dryRun        bool
	out           string
	format        string
	fresh         bool
	attach        bool
	id            string
	json          bool
	estimateOnly  bool
	concurrency   int
	pagesPerChunk int
	pairEvery     int
	chunksPerRun  int
	interval      time.Duration

	stdout   io.Writer
	terminal bool
	width    int
}

func newCmdBackfill(g *globalOptions) *cobra.Command {
	o := &backfillOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "Pair every existing Award Force user, with a live progress bar",
		Long: `Start a Backfill workflow over all Award Force users (or those --role,
--season and --limit select) and follow its progress until it ends, then print
a summary. It pages through Award Force within the fleet-wide rate limit, looks
users up in Salesforce in batches and writes with sObject Collections; users
that need no change cost no write.

Ctrl-C detaches: the backfill goes on in Temporal, and "starter backfill
--attach" (or "starter status") follows it again. There is one backfill at a
time per pairing spec: starting a second one attaches to the running one,
unless --new is given.

Without a terminal it prints a plain progress line every few seconds, waits for
the end, and exits with status 2 if any user failed.

--dry-run decides every user without writing anything and saves the plan, one
line per field change with its before → after, as CSV or JSON lines (--out).

Before it starts, it counts the users (one Award Force request) and tells
how long Award Force's budget makes the backfill (--estimate stops there): a
request per 100 users, one more a user when the spec maps profile fields,
and up to one a user written back. A backfill longer than half its 30-day
bound gets a bound that fits it.

--deleted sweeps the users deleted in Award Force instead: each one's record
(found by the spec's external id) gets the stamp of awardforce_deletions.
Nothing is ever deleted in Salesforce. A sync of one deleted user does the same.`,
		Example: `  starter backfill
  starter backfill --role Judge --limit 500
  starter backfill --dry-run --out plan.csv
  starter backfill --estimate
  starter backfill --deleted
  starter backfill --attach`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.runFrom(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&o.filter.Role, "role", "", "only users with this role: its name (e.g. Judge; looked up through the worker) or its 8-letter slug")
	f.StringVar(&o.filter.Season, "season", "", "only users who joined in this season (Award Force's season_joined filter)")
	f.BoolVar(&o.filter.Deleted, "deleted", false, "sweep the users deleted in Award Force instead: stamp their records as the spec's awardforce_deletions says")
	f.IntVar(&o.limit, "limit", 0, "stop after this many users (0 = all)")
	f.BoolVar(&o.dryRun, "dry-run", false, "decide every user but write nothing; save the plan to --out")
	f.StringVar(&o.out, "out", "afsync-plan.csv", "with --dry-run: the plan file (.csv, or .jsonl for JSON lines; - for stdout; CSV cells starting with = + - @ get a leading ' so spreadsheets show them as text)")
	f.StringVar(&o.format, "format", "", "with --dry-run: csv or jsonl (default: from --out's extension)")
	f.BoolVar(&o.fresh, "new", false, "start a new backfill even if one is running for this spec")
	f.BoolVar(&o.attach, "attach", false, "follow the running backfill of this spec instead of starting one")
	f.StringVar(&o.id, "id", "", "with --attach: the backfill's workflow id (default: this spec's)")
	f.BoolVar(&o.json, "json", false, "print the final summary as JSON")
	f.BoolVar(&o.estimateOnly, "estimate", false, "count the users and tell how long Award Force's budget makes the backfill, without starting it")
	f.IntVar(&o.concurrency, "concurrency", workflows.DefaultConcurrency, "chunks processed at once")
	f.IntVar(&o.pagesPerChunk, "pages-per-chunk", workflows.DefaultPagesPerChunk, "Award Force pages (100 users) per chunk; larger chunks spend fewer Salesforce calls")
	f.IntVar(&o.pairEvery, "pair-every", workflows.DefaultPairEvery, "when the spec maps profile fields (one Award Force read a user): users a chunk reads before it hands them to the pairing lanes; smaller shows records sooner for more Salesforce calls")
	f.DurationVar(&o.interval, "interval", 0, "how often to refresh progress (default 500ms on a terminal, 5s otherwise)")
	return cmd
}

func newCmdStatus(g *globalOptions) *cobra.Command {
	o := &backfillOptions{globalOptions: g, attach: true}
	cmd := &cobra.Command{
		Use:   "status [backfill-id]",
		Short: "Follow a running backfill (the one of this spec by default)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.id = args[0]
			}
			return o.runFrom(cmd)
		},
	}
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "follow this spec's dry run")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the final summary as JSON")
	cmd.Flags().StringVar(&o.out, "out", "afsync-plan.csv", "for a dry run: the plan file (- for stdout)")
	return cmd
}

// runFrom runs the command: a progress bar when stdout is a terminal, and
// Ctrl-C detaches rather than kills.
func (o *backfillOptions) runFrom(cmd *cobra.Command) error {
	o.stdout = cmd.OutOrStdout()
	if f, ok := o.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.terminal = true
		o.width, _, _ = term.GetSize(int(f.Fd()))
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runBackfill(ctx, o)
}

// say writes a message for people: to stdout, or to stderr with --json so
// that stdout holds the JSON summary alone.
func (o *backfillOptions) say(format string, args ...any) {
	w := o.stdout
	if o.json {
		w = o.stderr
		if w == nil {
			w = io.Discard
		}
	}
	fmt.Fprintf(w, format, args...)
}

func runBackfill(ctx context.Context, o *backfillOptions) error {
	if o.limit < 0 {
		return fmt.Errorf("--limit %d: want 0 (all users) or more", o.limit)
	}
	planOut := o.stdout
	if o.out == StdoutPath {
		// The plan holds stdout: messages and progress go to stderr.
		if o.json {
			return errors.New("--out - and --json both print on stdout: write the plan to a file, or leave out --json")
		}
		o.stdout, o.terminal = o.stderr, false
		if o.stdout == nil {
			o.stdout = io.Discard
		}
	}
	format, err := planFormat(o.format, o.out)
	if err != nil {
		return err
	}
	spec, c, _, err := o.session(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	if o.filter.Deleted && spec.AwardForceDeletions.Stamp == nil {
		return errors.New("--deleted: the spec sets no awardforce_deletions.stamp, so a deleted user's record is left as it is and there is nothing to sweep; add one, e.g. awardforce_deletions: {stamp: {crm: Description, value: Deleted in Award Force}}")
	}
	if o.filter.Deleted && o.dryRun {
		return errors.New("--deleted and --dry-run: a dry run of the sweep is not supported; run the sweep, it only writes the stamp")
	}
	if o.estimateOnly {
		if o.filter.Role != "" {
			if o.filter.Role, err = resolveRole(ctx, c, o.names, o.filter.Role, o.say); err != nil {
				return err
			}
		}
		if _, ok := o.estimate(ctx, c, spec); !ok {
			return errors.New("no estimate: the worker could not count the users")
		}
		return nil
	}
	id := o.id
	if id == "" {
		id = o.names.Backfill(spec, o.dryRun)
		if o.filter.Deleted {
			id += "-deleted"
		}
		if o.fresh {
			id += "-" + time.Now().UTC().Format("20060102T150405Z")
		}
	}
	running, err := isRunning(ctx, c, id)
	if err != nil {
		return err
	}
	if o.attach && !running && o.id == "" {
		// Started by a schedule or with --new: its id carries a suffix.
		other, otherRunning, err := latestBackfill(ctx, c, id)
		if err != nil {
			return err
		}
		if other != "" {
			id, running = other, otherRunning
		}
		if running {
			// Visibility lags: a backfill it lists as running may have
			// ended a moment ago. The execution itself says.
			if running, err = isRunning(ctx, c, id); err != nil {
				return err
			}
		}
	}
	finished := o.attach && !running
	switch {
	case finished:
		if _, err := c.DescribeWorkflowExecution(ctx, id, ""); err != nil {
			var notFound *serviceerror.NotFound
			if errors.As(err, &notFound) {
				o.say("No backfill of this spec is running, and none has run yet (start one with `starter backfill`).\n")
				return nil
			}
			return fmt.Errorf("no backfill %s to attach to: %w", id, err)
		}
		o.say("No backfill is running. The last one, %s, has finished; its result:\n", id)
	case running:
		o.say("Attached to the running backfill %s (start another with --new).\n", id)
	default:
		o.warnIfNoWorker(ctx, c)
		if o.filter.Role != "" {
			if o.filter.Role, err = resolveRole(ctx, c, o.names, o.filter.Role, o.say); err != nil {
				return err
			}
		}
		opts := o.names.BackfillStartOptions(id, spec, o.dryRun)
		if timeout, ok := o.estimate(ctx, c, spec); ok && timeout > opts.WorkflowExecutionTimeout {
			opts.WorkflowExecutionTimeout = timeout
			o.say("Its bound is raised from %s to %s to fit it.\n", humanDuration(workflows.BackfillTimeout), humanDuration(timeout))
		}
		_, err := c.ExecuteWorkflow(ctx, opts, workflows.Backfill, workflows.BackfillInput{
			Spec: *spec, Filter: o.filter, Limit: o.limit, DryRun: o.dryRun,
			Concurrency: o.concurrency, PagesPerChunk: o.pagesPerChunk, ChunksPerRun: o.chunksPerRun,
			PairEvery: o.pairEvery,
		})
		if err != nil {
			return fmt.Errorf("starting the backfill: %w", err)
		}
		o.say("Started backfill %s. Ctrl-C detaches; it goes on in Temporal.\n", id)
	}

	final, err := follow(ctx, c, id, o)
	if errors.Is(err, context.Canceled) {
		o.say("\nDetached: the backfill goes on. Follow it again with: starter status %s\n", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("backfill %s: %w", id, err)
	}
	if final.DryRun {
		n, err := writePlan(ctx, c, final, o.out, format, planOut, nil)
		if err != nil {
			return err
		}
		o.say("\nPlan: %d users written to %s\n", n, o.out)
	}
	if o.json {
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(final); err != nil {
			return err
		}
	} else {
		printSummary(o.stdout, *final)
	}
	if !finished && (final.Failed > 0 || len(final.FailedChunks) > 0) {
		// A backfill this command followed to its end failed users; status
		// of one that had already finished reports them and exits 0.
		return &exitError{code: 2, err: fmt.Errorf("%d users failed, %d chunks failed", final.Failed, len(final.FailedChunks))}
	}
	return nil
}

// latestBackfill finds the backfill of the id prefix (a spec's, possibly
// started by a schedule or with --new) that is running, or else the one
// started last.
func latestBackfill(ctx context.Context, c client.Client, prefix string) (id string, running bool, err error) {
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowType = 'Backfill'"})
	if err != nil {
		return "", false, fmt.Errorf("looking for a backfill: %w", err)
	}
	var started time.Time
	for _, e := range resp.GetExecutions() {
		wid := e.GetExecution().GetWorkflowId()
		// Schedules and --new suffix the id with a time ("-2026…"); a dry
		// run's "-dry-run" is another backfill.
		if wid != prefix && !strings.HasPrefix(wid, prefix+"-20") {
			continue
		}
		r := e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
		t := e.GetStartTime().AsTime()
		if id == "" || (r && !running) || (r == running && t.After(started)) {
			id, running, started = wid, r, t
		}
	}
	return id, running, nil
}

func isRunning(ctx context.Context, c client.Client, id string) (bool, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// follow shows progress until the backfill (and every run it continues as)
// ends, and returns the final progress.
func follow(ctx context.Context, c client.Client, id string, o *backfillOptions) (*workflows.Progress, error) {
	type outcome struct {
		p   workflows.Progress
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		var p workflows.Progress
		err := c.GetWorkflow(ctx, id, "").Get(ctx, &p)
		done <- outcome{p, err}
	}()
	interval := o.interval
	if interval == 0 {
		interval = 5 * time.Second
		if o.terminal {
			interval = 500 * time.Millisecond
		}
	}
	view := &progressView{w: o.stdout, terminal: o.terminal, width: o.width, every: interval}
	if o.json {
		view.w = io.Discard // keep stdout machine-readable
	}
	tick := time.NewTicker(min(interval, time.Second))
	defer tick.Stop()
	listed := map[string]int{} // what each running chunk said it read last
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return nil, r.err
			}
			view.update(r.p, 0, time.Now())
			return &r.p, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case now := <-tick.C:
			v, err := c.QueryWorkflow(ctx, id, "", workflows.ProgressQuery)
			if err != nil {
				continue // between runs of continue-as-new, or the worker is restarting
			}
			var p workflows.Progress
			if v.Get(&p) == nil {
				view.update(p, listedInFlight(ctx, c, p.Running, listed), now)
			}
		}
	}
}

// listedInFlight asks the running chunks, at once, how many users each has
// read so far. A chunk that cannot answer within a second (not started yet,
// its worker busy or restarting) counts what it said last (last, updated
// here; zero if it never answered): progress is a view, never a reason to
// wait or fail, and it does not go back while the server is slow.
func listedInFlight(ctx context.Context, c client.Client, chunks []string, last map[string]int) int {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	listed := make([]int, len(chunks))
	var wg sync.WaitGroup
	for i, id := range chunks {
		listed[i] = last[id]
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.QueryWorkflow(ctx, id, "", workflows.ChunkProgressQuery)
			var cp workflows.ChunkProgress
			if err == nil && v.Get(&cp) == nil {
				listed[i] = cp.Listed
			}
		}()
	}
	wg.Wait()
	n := 0
	running := map[string]bool{}
	for i, l := range listed {
		last[chunks[i]] = l
		running[chunks[i]] = true
		n += l
	}
	for id := range last {
		if !running[id] {
			delete(last, id) // finished: its users are counted as seen
		}
	}
	return n
}

// resolveRole replaces --role's value, a role's name or slug, with the slug
// Award Force's role filter takes, before the backfill starts (its input
// holds the slug), and says which role it used. The look-up runs on the
// worker (ResolveRole), which holds the Award Force key and keeps to the
// fleet's rate limit.
func resolveRole(ctx context.Context, c client.Client, names workflows.Names, value string, say func(string, ...any)) (string, error) {
	given := strings.TrimSpace(value)
	if !awardforce.IsSlug(given) {
		say("Looking role %q up in Award Force (a request per 100 users)…\n", given)
	}
	run, err := c.ExecuteWorkflow(ctx, names.StartOptions(names.ResolveRole(), workflows.ResolveRoleTimeout), workflows.ResolveRole, given)
	if err != nil {
		return "", fmt.Errorf("--role %q: looking it up: %w", given, err)
	}
	var m workflows.RoleMatch
	if err := run.Get(ctx, &m); err != nil {
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && (appErr.Type() == workflows.ErrTypeRoleUnknown || appErr.Type() == workflows.ErrTypeRoleAmbiguous) {
			return "", fmt.Errorf("--role %q: %s", given, appErr.Message())
		}
		return "", fmt.Errorf("--role %q: looking it up in Award Force: %w", given, err)
	}
	if m.Slug == given {
		say("role %s is %q\n", m.Slug, m.Name)
	} else {
		say("role %q is slug %s\n", m.Name, m.Slug)
	}
	return m.Slug, nil
}

func firstNonEmpty(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}

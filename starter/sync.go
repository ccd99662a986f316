package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

type syncOptions struct {
	*globalOptions
	user    string
	trigger string
	json    bool
	timeout time.Duration
	out     io.Writer
}

func newCmdSync(g *globalOptions) *cobra.Command {
	o := &syncOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "sync <slug-or-email>",
		Short: "Sync one Award Force user now and show what changed",
		Long: `Run the UserSync workflow for one Award Force user, wait for it, and print
the decision, every field's before → after and the Salesforce record id.

The workflow id is afsync-user-<slug>; a sync already running for that user
is joined rather than started twice, and told to sync once more if it read
the profile before this request. Given an email, the worker resolves it to
the slug first.`,
		Example: `  starter sync AbCdEfGh
  starter sync jane.doe@example.org --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.user = args[0]
			o.out = cmd.OutOrStdout()
			return runSync(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.trigger, "trigger", string(pairing.TriggerManual),
		"why the sync runs: manual or registration (options 1–3 of the spec), profile_update (option 4)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the audit record as JSON")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long to wait for the result")
	return cmd
}

// session loads the pairing spec and connects to Temporal: what every
// command that starts workflows needs first. The caller closes the client.
func (g *globalOptions) session(ctx context.Context) (*pairing.Spec, client.Client, client.Options, error) {
	spec, err := g.spec()
	if err != nil {
		return nil, nil, client.Options{}, err
	}
	c, copts, err := g.dial(ctx)
	if err != nil {
		return nil, nil, copts, err
	}
	return spec, c, copts, nil
}

// spec loads the pairing spec of the integration the command acts on (see
// pick) from --config, or its registry entry, or AFSYNC_CONFIG.
func (g *globalOptions) spec() (*pairing.Spec, error) {
	in, err := g.pick()
	if err != nil {
		return nil, err
	}
	cfg := in.Config
	if g.specPath != "" {
		cfg.SpecPath = g.specPath
	}
	return cfg.Spec()
}

// pick resolves the integration the command acts on: --integration, or
// AFSYNC_INTEGRATION, or the registry's only one; it sets g.names. The
// registry is read once a command (spec and dial both ask).
func (g *globalOptions) pick() (*config.Integration, error) {
	if g.picked != nil {
		return g.picked, nil
	}
	reg, err := config.LoadRegistry(nil)
	if err != nil {
		return nil, err
	}
	in, err := reg.Pick(cmp.Or(g.integration, os.Getenv(config.EnvIntegration)))
	if err != nil {
		return nil, err
	}
	g.names, g.picked = workflows.NamesFor(in.ID, in.DependsOn), in
	return in, nil
}

func runSync(ctx context.Context, o *syncOptions) error {
	trigger := pairing.Trigger(o.trigger)
	switch trigger {
	case pairing.TriggerManual, pairing.TriggerRegistration, pairing.TriggerProfileUpdate:
	default:
		return fmt.Errorf("--trigger %q: want manual, registration or profile_update", o.trigger)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	spec, c, copts, err := o.session(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	o.warnIfNoWorker(ctx, c)
	slug, err := resolveSlug(ctx, c, o.names, o.user)
	if err != nil {
		return err
	}
	res, run, err := syncUser(ctx, c, o.names, spec, slug, trigger)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printResult(o.out, &res, copts.Namespace, run)
	}
	if res.Outcome == workflows.OutcomeFailed {
		return &exitError{code: 2, err: fmt.Errorf("sync of %s failed: %s", slug, res.Error)}
	}
	return nil
}

// syncUser runs the UserSync workflow of one user and waits for its audit.
// A sync that ran and failed (Salesforce refused the record, say) is not an
// error here: its audit says so, with the API's own message.
func syncUser(ctx context.Context, c client.Client, names workflows.Names, spec *pairing.Spec, slug string, trigger pairing.Trigger) (workflows.UserSyncResult, client.WorkflowRun, error) {
	var res workflows.UserSyncResult
	run, err := workflows.StartUserSync(ctx, c, names, spec, workflows.SyncRequest{Slug: slug, Trigger: trigger})
	if err != nil {
		return res, nil, fmt.Errorf("starting the sync of %s: %w", slug, err)
	}
	err = run.Get(ctx, &res)
	var appErr *temporal.ApplicationError
	if err != nil && errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeSyncFailed && appErr.HasDetails() {
		if derr := appErr.Details(&res); derr != nil {
			return res, run, err
		}
	} else if err != nil {
		return res, run, fmt.Errorf("sync of %s (workflow %s): %w", slug, run.GetID(), err)
	}
	return res, run, nil
}

// resolveSlug returns the slug of the user named by a slug or an email,
// asking the worker (which holds the Award Force key) for emails.
func resolveSlug(ctx context.Context, c client.Client, names workflows.Names, user string) (string, error) {
	if awardforce.IsSlug(user) {
		return user, nil
	}
	if !strings.Contains(user, "@") {
		return "", fmt.Errorf("%q is neither an Award Force slug (8 letters) nor an email", user)
	}
	run, err := c.ExecuteWorkflow(ctx, names.StartOptions(names.ResolveUser(), workflows.ResolveUserTimeout), workflows.ResolveUser, user)
	if err != nil {
		return "", fmt.Errorf("looking the email up: %w", err)
	}
	var slug string
	if err := run.Get(ctx, &slug); err != nil {
		return "", fmt.Errorf("looking the email up in Award Force: %w", err)
	}
	return slug, nil
}

func printResult(w io.Writer, r *workflows.UserSyncResult, namespace string, run client.WorkflowRun) {
	d := r.Decision
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "User\t%s\n", r.Slug)
	fmt.Fprintf(tw, "Outcome\t%s\n", r.Outcome)
	fmt.Fprintf(tw, "Decision\t%s", d.Action)
	if d.Reason != "" {
		fmt.Fprintf(tw, " (%s)", d.Reason)
	}
	fmt.Fprintln(tw)
	if r.RecordID != "" {
		fmt.Fprintf(tw, "Salesforce record\t%s\n", r.RecordID)
	}
	if len(d.CandidateIDs) > 0 {
		fmt.Fprintf(tw, "Matching records\t%s\n", strings.Join(d.CandidateIDs, ", "))
	}
	if r.Error != "" {
		fmt.Fprintf(tw, "Error\t%s\n", r.Error)
	}
	fmt.Fprintf(tw, "Workflow\t%s (run %s, namespace %s)\n", run.GetID(), run.GetRunID(), namespace)
	tw.Flush()
	printChanges(w, "Salesforce changes", d.CRM)
	printChanges(w, "Award Force changes", d.AwardForce)
}

func printChanges(w io.Writer, title string, changes []pairing.Change) {
	if len(changes) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range changes {
		fmt.Fprintf(tw, "  %s\t%q\t→ %q\t(from %s)\n", c.Field, c.Before, c.After, c.Source)
	}
	tw.Flush()
}

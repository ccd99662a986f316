package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

type scheduleOptions struct {
	*globalOptions
	every  time.Duration
	filter workflows.UserFilter
	delete bool
	out    io.Writer
}

func newCmdSchedule(g *globalOptions) *cobra.Command {
	o := &scheduleOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Run a reconciling backfill on a schedule (catches webhooks that never arrived)",
		Long: `Create, or update, a Temporal Schedule that starts a backfill of this spec
every --every. A backfill writes only what differs, so a scheduled one costs
little and repairs whatever a lost webhook or an edit made straight in Salesforce
left unpaired. A run still going when the next is due makes that one skip.

The schedule is afsync-backfill-<spec>-schedule; see it, pause it or trigger it
in the Temporal UI (Schedules), or remove it with --delete.`,
		Example: `  starter schedule --every 24h
  starter schedule --every 6h --role Judge
  starter schedule --delete`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out = cmd.OutOrStdout()
			return runSchedule(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.every, "every", 24*time.Hour, "how often a backfill starts")
	f.StringVar(&o.filter.Role, "role", "", "only users with this role: its name (looked up through the worker, once, now) or its 8-letter slug")
	f.StringVar(&o.filter.Season, "season", "", "only users who joined in this season")
	f.BoolVar(&o.delete, "delete", false, "remove the schedule")
	return cmd
}

func runSchedule(ctx context.Context, o *scheduleOptions) error {
	if !o.delete && o.every < time.Minute {
		return fmt.Errorf("--every %s: want a minute or more", o.every)
	}
	spec, c, _, err := o.session(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	id := o.names.BackfillSchedule(spec)
	sc := c.ScheduleClient()
	if o.delete {
		if err := sc.GetHandle(ctx, id).Delete(ctx); err != nil {
			return fmt.Errorf("deleting schedule %s: %w", id, err)
		}
		fmt.Fprintf(o.out, "Deleted schedule %s.\n", id)
		return nil
	}
	o.warnIfNoWorker(ctx, c)
	if o.filter.Role != "" {
		say := func(format string, args ...any) { fmt.Fprintf(o.out, format, args...) }
		if o.filter.Role, err = resolveRole(ctx, c, o.names, o.filter.Role, say); err != nil {
			return err
		}
	}
	created, err := scheduleBackfills(ctx, c, o.names, spec, o.filter, o.every)
	switch {
	case err != nil:
		return err
	case created:
		fmt.Fprintf(o.out, "Created schedule %s: a backfill every %s.\n", id, o.every)
	default:
		fmt.Fprintf(o.out, "Updated schedule %s: a backfill every %s.\n", id, o.every)
	}
	return nil
}

// scheduleBackfills creates the integration's schedule of spec's
// backfills (names.BackfillSchedule), one every every, or updates it;
// created says which. The schedule and its backfills carry the
// integration's search attribute and memo, so that a worker that stops
// serving the integration pauses it.
func scheduleBackfills(ctx context.Context, c client.Client, names workflows.Names, spec *pairing.Spec, filter workflows.UserFilter, every time.Duration) (created bool, err error) {
	id := names.BackfillSchedule(spec)
	sc := c.ScheduleClient()
	action := &client.ScheduleWorkflowAction{
		// Each run's workflow id gets the scheduled time appended.
		ID:                       names.Backfill(spec, false),
		Workflow:                 workflows.Backfill,
		Args:                     []any{workflows.BackfillInput{Spec: *spec, Filter: filter}},
		TaskQueue:                names.TaskQueue(),
		WorkflowExecutionTimeout: workflows.BackfillTimeout,
		TypedSearchAttributes:    names.SearchAttributes(),
		Memo:                     names.Memo(nil),
	}
	schedSpec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	_, err = sc.Create(ctx, client.ScheduleOptions{
		ID:                    id,
		Spec:                  schedSpec,
		Action:                action,
		Overlap:               enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:                  "afsync: reconciling backfill; created by `starter schedule`",
		TypedSearchAttributes: names.SearchAttributes(),
		Memo:                  names.Memo(nil),
	})
	switch {
	case errors.Is(err, temporal.ErrScheduleAlreadyRunning):
		err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec = &schedSpec
				s.Action = action
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
		if err != nil {
			return false, fmt.Errorf("updating schedule %s: %w", id, err)
		}
		return false, nil
	case err != nil:
		return false, fmt.Errorf("creating schedule %s: %w", id, err)
	}
	return true, nil
}

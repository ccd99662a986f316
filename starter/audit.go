package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// finishedBackfill returns the result of the backfill id, or, when id is
// empty, of this spec's latest backfill (its dry run's with dryRun). A
// backfill still running is an error: its audit is not complete.
func finishedBackfill(ctx context.Context, c client.Client, names workflows.Names, spec *pairing.Spec, id string, dryRun bool) (*workflows.Progress, error) {
	if id == "" {
		var err error
		if id, _, err = latestBackfill(ctx, c, names.Backfill(spec, dryRun)); err != nil {
			return nil, err
		}
		if id == "" {
			what := "backfill"
			if dryRun {
				what = "dry run"
			}
			return nil, fmt.Errorf("no %s of this spec was found: start one with `starter backfill`", what)
		}
	}
	if running, err := isRunning(ctx, c, id); err != nil {
		return nil, err
	} else if running {
		return nil, fmt.Errorf("backfill %s is still running: wait for it to end (`starter status %s` follows it)", id, id)
	}
	var p workflows.Progress
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &p); err != nil {
		return nil, fmt.Errorf("reading backfill %s: %w", id, err)
	}
	return &p, nil
}

// forEachUser calls fn with every user's audit in a finished backfill's
// chunks, in list order. A chunk that failed as a whole (listed in
// p.FailedChunks) left no audit and is passed over.
func forEachUser(ctx context.Context, c client.Client, p *workflows.Progress, fn func(workflows.UserSyncResult) error) error {
	for _, id := range workflows.ChunkIDs(p) {
		var res workflows.ChunkResult
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			if slices.ContainsFunc(p.FailedChunks, func(f string) bool { return strings.HasPrefix(f, id+": ") }) {
				continue
			}
			return fmt.Errorf("reading chunk %s: %w", id, err)
		}
		for _, u := range res.Users {
			if err := fn(u); err != nil {
				return err
			}
		}
	}
	return nil
}

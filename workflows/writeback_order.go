package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// Award Force write-backs run outside the lanes, after the lanes' answers,
// each waiting its turn at the budget: two decisions of one person (two
// backfills' chunks, a single sync and a chunk) may write back in either
// order. The lane decided them in order, so a write-back asks it, once it
// holds its permit, whether a newer decision came (ChangeWriteBacksFollowTheLane).

// laneDecidedSince asks the person's lane whether it decided slug after
// the second at. When the answer cannot be had, the write-back goes ahead,
// as before.
func laneDecidedSince(ctx workflow.Context, slug string, at int64) bool {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, ScheduleToCloseTimeout: time.Minute,
		Summary: "Ask whether the lane decided " + slug + " again since",
	})
	var newer bool
	if err := workflow.ExecuteLocalActivity(lctx, coord.DecidedSince, slug, at).Get(lctx, &newer); err != nil {
		workflow.GetLogger(ctx).Warn("Could not tell whether the lane decided the user again; writing back", "slug", slug, "error", err)
		return false
	}
	return newer
}

// followsTheLane reports whether a write-back of res is to ask the lane
// first: it was decided by a lane, under ChangeWriteBacksFollowTheLane.
func followsTheLane(ctx workflow.Context, res *UserSyncResult) bool {
	return res.DecidedAt > 0 && workflow.GetVersion(ctx, ChangeWriteBacksFollowTheLane, workflow.DefaultVersion, 1) >= 1
}

package workflows

import (
	"crypto/rand"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
)

// CountUsersWorkflowID names a count of users (random: two counts are two
// workflows).
func CountUsersWorkflowID() string { return DefaultNames.CountUsers() }

// CountUsers names a count of the users of the integration's account.
func (n Names) CountUsers() string {
	return n.prefix() + "-count-users-" + strings.ToLower(rand.Text())
}

// CountUsersTimeout bounds a count: one request, which may wait behind
// others for Award Force's budget.
const CountUsersTimeout = time.Hour

// UserCount is what CountUsers learnt: how many users a filter selects, and
// the fleet's Award Force budget that paces every request about them.
type UserCount struct {
	// Users is the user list's total for the filter.
	Users int `json:"users"`
	// RatePerMinute is the fleet-wide Award Force budget (0: no limit).
	RatePerMinute float64 `json:"rate_per_minute"`
}

// CountUsers reads how many Award Force users filter selects (one request
// of one user, within the budget, whose total is the list's) and the
// budget's rate, so that the starter can tell how long a backfill takes
// before it starts one. It runs on the worker, which holds the Award Force
// key and the budget's setting: the starter needs Temporal access only.
func CountUsers(ctx workflow.Context, filter UserFilter) (UserCount, error) {
	var n UserCount
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var budget BudgetSettings
	if err := workflow.ExecuteLocalActivity(lctx, coord.CurrentBudget).Get(lctx, &budget); err != nil {
		return n, err
	}
	n.RatePerMinute = budget.withDefaults().RatePerMinute
	actx := workflow.WithActivityOptions(ctx, awardForceOptions(ctx))
	gate := newAFGate(actx, ClassEvents)
	var page activities.ListUsersResult
	in := activities.ListUsersInput{Page: 1, PerPage: 1, Filter: filter}
	if err := gate.call(summarized(actx, "Count the Award Force users"), af.ListUsers, in).Get(ctx, &page); err != nil {
		return n, err
	}
	n.Users = page.Total
	return n, nil
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// backfillEstimate is what a backfill costs Award Force, and how long its
// budget makes it: Award Force's 60 requests a minute, not Salesforce,
// bound a backfill.
type backfillEstimate struct {
	// Users the backfill will see (the list's total, capped by --limit).
	Users int
	// Pages are the list's requests, 100 users each.
	Pages int
	// Profiles are the single-user reads: one a user when the spec maps
	// profile fields, which the list does not carry.
	Profiles int
	// WriteBacks is the most the backfill writes to Award Force: one a
	// user when the spec keeps the record id or pulls CRM values.
	WriteBacks int
	// RatePerMinute is the fleet's Award Force budget (0: no limit).
	RatePerMinute float64
}

// estimateBackfill counts the Award Force requests of a backfill of users
// (at most limit, when set) with spec; a dry run and a sweep of deleted
// users write nothing back, and a sweep reads no profiles.
func estimateBackfill(spec *pairing.Spec, filter workflows.UserFilter, dryRun bool, users, limit int, rate float64) backfillEstimate {
	if limit > 0 {
		users = min(users, limit)
	}
	e := backfillEstimate{Users: users, RatePerMinute: rate}
	e.Pages = max(1, (users+activities.PageSize-1)/activities.PageSize)
	if len(spec.ProfileFieldSlugs()) > 0 && !filter.Deleted {
		e.Profiles = users
	}
	if !dryRun && !filter.Deleted && writesBack(spec) {
		e.WriteBacks = users
	}
	return e
}

// writesBack reports whether a sync with spec may write to Award Force:
// the record id, or values pulled from the CRM.
func writesBack(spec *pairing.Spec) bool {
	if spec.RecordIDField != "" || spec.Options.GetDetailsFromCRM {
		return true
	}
	for _, f := range spec.Fields {
		if d := f.EffectiveDirection(); d == pairing.DirectionFromCRM || d == pairing.DirectionBoth {
			return true
		}
	}
	return false
}

// Reads is how long reading every user takes at the budget's rate (0
// without a limit).
func (e backfillEstimate) Reads() time.Duration { return e.at(e.Pages + e.Profiles) }

// Most is how long the backfill takes at the budget's rate if every user
// is also written back (0 without a limit).
func (e backfillEstimate) Most() time.Duration { return e.at(e.Pages + e.Profiles + e.WriteBacks) }

func (e backfillEstimate) at(requests int) time.Duration {
	if e.RatePerMinute <= 0 {
		return 0
	}
	return time.Duration(float64(requests) / e.RatePerMinute * float64(time.Minute))
}

// String tells it to people, in a sentence or three.
func (e backfillEstimate) String() string {
	var b strings.Builder
	reads := e.Pages + e.Profiles
	fmt.Fprintf(&b, "%s: %s to read them (%s of the list", plural(e.Users, "user"), plural(reads, "Award Force request"), plural(e.Pages, "page"))
	if e.Profiles > 0 {
		fmt.Fprintf(&b, ", and one a user for the profile fields the spec maps, which the list does not carry")
	}
	b.WriteString(")")
	if e.RatePerMinute <= 0 {
		fmt.Fprintf(&b, "; no Award Force rate limit is set (%s=0), so Award Force's and Salesforce's answers pace it", config.EnvAwardForceRateLimit)
		if e.WriteBacks > 0 {
			fmt.Fprintf(&b, "; write-backs add up to %s", count(e.WriteBacks))
		}
		b.WriteString(".")
		return b.String()
	}
	fmt.Fprintf(&b, ": about %s at %s requests a minute", humanDuration(e.Reads()), strconv.FormatFloat(e.RatePerMinute, 'f', -1, 64))
	if e.WriteBacks > 0 {
		fmt.Fprintf(&b, "; writing back record ids and CRM values adds up to %s more requests: up to %s in all",
			count(e.WriteBacks), humanDuration(e.Most()))
	}
	b.WriteString(". Webhooks and single syncs go first at the budget: it takes longer while they run.")
	return b.String()
}

// backfillTimeout is the bound of a backfill that e describes: the usual
// one, or twice the estimate's longest when that passes it (the budget is
// shared), in whole days.
func backfillTimeout(e backfillEstimate) time.Duration {
	need := 2 * e.Most()
	if need <= workflows.BackfillTimeout {
		return workflows.BackfillTimeout
	}
	const day = 24 * time.Hour
	return (need + day - 1) / day * day
}

// countUsers asks the worker how many users filter selects, and its Award
// Force budget.
func countUsers(ctx context.Context, c client.Client, names workflows.Names, filter workflows.UserFilter) (workflows.UserCount, error) {
	var n workflows.UserCount
	run, err := c.ExecuteWorkflow(ctx, names.StartOptions(names.CountUsers(), workflows.CountUsersTimeout), workflows.CountUsers, filter)
	if err != nil {
		return n, err
	}
	err = run.Get(ctx, &n)
	return n, err
}

// humanDuration writes d the way people say it: "40 s", "12 min",
// "2 h 47 min", "3 days 4 h".
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	d = d.Round(time.Hour)
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%d days", days)
	}
	return fmt.Sprintf("%d days %d h", days, h)
}

// count writes n with thousands separated: 12,345.
func count(n int) string {
	if n < 0 {
		return "-" + count(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// plural is n thing, or n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return count(n) + " " + thing + "s"
}

// estimate tells how long the backfill about to start takes, and returns
// the bound it needs; ok is false when the count failed (the backfill
// starts anyway, with the usual bound).
func (o *backfillOptions) estimate(ctx context.Context, c client.Client, spec *pairing.Spec) (timeout time.Duration, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := countUsers(ctx, c, o.names, o.filter)
	if err != nil {
		o.say("Could not count the users to estimate the backfill's length (%v).\n", err)
		return 0, false
	}
	real := estimateBackfill(spec, o.filter, false, n.Users, o.limit, n.RatePerMinute)
	if o.dryRun {
		dry := estimateBackfill(spec, o.filter, true, n.Users, o.limit, n.RatePerMinute)
		o.say("A backfill of this spec: %s\n", real)
		if dry.RatePerMinute > 0 {
			o.say("This dry run reads as much and writes nothing: about %s.\n", humanDuration(dry.Reads()))
		}
		return backfillTimeout(dry), true
	}
	o.say("Estimate: %s\n", real)
	return backfillTimeout(real), true
}

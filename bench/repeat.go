package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
)

// repeatTarget is the ratio to the plain loop issue 14 asks of a
// 10,000-user backfill.
const repeatTarget = 1.2

// RepeatSummary is the JSON line --repeat prints last.
type RepeatSummary struct {
	Runs                 int       `json:"runs"`
	UsersPerSecond       []float64 `json:"users_per_second"`
	UsersPerSecondMedian float64   `json:"users_per_second_median"`
	// Ratios are afsync's rate over the loop's of the same run (--versus),
	// in the order of the runs.
	Ratios      []float64 `json:"ratios_to_loop,omitempty"`
	RatioMedian float64   `json:"ratio_to_loop_median,omitempty"`
	// AtTarget is how many runs reach repeatTarget.
	AtTarget int `json:"runs_at_1_2x,omitempty"`
}

// repeats makes the backfill o.repeat times, each on a fresh dev server and
// sandbox, then prints every run's rate (and ratio to the loop), their
// medians, and how many runs reach repeatTarget.
func repeats(ctx context.Context, o *options, out io.Writer) error {
	if o.integrations > 0 || o.baseline > 0 || o.burst > 0 || o.crmChanges > 0 || o.keep {
		return errors.New("--repeat repeats a backfill: leave out --integrations, --baseline, --burst, --crm-changes and --keep")
	}
	for i := range o.repeat {
		fmt.Fprintf(out, "\n=== run %d of %d\n", i+1, o.repeat)
		if err := run(ctx, o, out); err != nil {
			return err
		}
	}
	s := summarize(o.results)
	fmt.Fprintf(out, "\n%d runs: users/s %v, median %.1f\n", s.Runs, s.UsersPerSecond, s.UsersPerSecondMedian)
	if len(s.Ratios) > 0 {
		fmt.Fprintf(out, "ratios to the plain loop of the same run %v: median %.2f×, %d of %d at %.1f× or more\n",
			s.Ratios, s.RatioMedian, s.AtTarget, s.Runs, repeatTarget)
	}
	return printJSON(out, s)
}

// summarize sums results up.
func summarize(results []Result) RepeatSummary {
	s := RepeatSummary{Runs: len(results)}
	for _, r := range results {
		s.UsersPerSecond = append(s.UsersPerSecond, r.UsersPerSecond)
		if r.RatioToLoop > 0 {
			s.Ratios = append(s.Ratios, r.RatioToLoop)
			if r.RatioToLoop >= repeatTarget {
				s.AtTarget++
			}
		}
	}
	s.UsersPerSecondMedian = round(median(s.UsersPerSecond), 1)
	s.RatioMedian = round(median(s.Ratios), 2)
	return s
}

// median is the middle of xs (the mean of the two middle ones when their
// number is even); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

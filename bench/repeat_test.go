package main

import (
	"reflect"
	"testing"
)

// Repeated runs are summed up by their medians, and the runs that reach
// issue 14's 1.2x are counted.
func TestSummarizeGivesMediansAndRunsAtTheTarget(t *testing.T) {
	got := summarize([]Result{
		{UsersPerSecond: 1100, RatioToLoop: 1.1},
		{UsersPerSecond: 1500, RatioToLoop: 1.26},
		{UsersPerSecond: 1300, RatioToLoop: 1.2},
		{UsersPerSecond: 1200, RatioToLoop: 1.16},
	})
	want := RepeatSummary{
		Runs: 4, UsersPerSecond: []float64{1100, 1500, 1300, 1200}, UsersPerSecondMedian: 1250,
		Ratios: []float64{1.1, 1.26, 1.2, 1.16}, RatioMedian: 1.18, AtTarget: 2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if s := summarize([]Result{{UsersPerSecond: 900}}); s.Ratios != nil || s.RatioMedian != 0 || s.UsersPerSecondMedian != 900 {
		t.Errorf("without --versus: %+v", s)
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median of 3, 1, 2 = %v", m)
	}
}

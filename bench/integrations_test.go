package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

// An integration's time splits into its lead (its backfill's start to its
// first Award Force request), its pace (its requests from the first to the
// last over its key's limit) and its tail (its last request to its end).
func TestSplitTimeGivesLeadPaceAndTail(t *testing.T) {
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	m := &fleetMember{names: workflows.NamesOf("i007"), started: start, elapsed: 65 * time.Second}
	// 61 requests a second apart from 2 s in: the key's 60 a minute exactly.
	af := afsim.Stats{Requests: 61, First: start.Add(2 * time.Second), Last: start.Add(62 * time.Second)}
	got := splitTime(m, af, 60, 0.9)
	want := &TimeSplit{Integration: "i007", Ratio: 0.9, LeadSeconds: 2, PaceRatio: 1, TailSeconds: 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("splitTime = %+v, want %+v", got, want)
	}
	// Half the pace: 31 requests over the same minute.
	af.Requests = 31
	if got := splitTime(m, af, 60, 0.9); got.PaceRatio != 0.5 {
		t.Errorf("31 requests in a minute at 60 a minute: pace %v, want 0.5", got.PaceRatio)
	}
	// One request has no pace.
	if got := splitTime(m, afsim.Stats{Requests: 1, First: af.First, Last: af.First}, 60, 0.9); got.PaceRatio != 0 {
		t.Errorf("one request: pace %v, want 0", got.PaceRatio)
	}
}

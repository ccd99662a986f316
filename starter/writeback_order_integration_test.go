package main

import (
	"context"
	"testing"
	"time"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/workflows"
)

// A write-back asks the person's lane, on the dev server, whether it
// decided them after the decision it writes back
// (write-backs-follow-the-lane): the lane's answer carries the second of
// its decision, and the lane tells a later one from it.
func TestIntegrationTheLaneTellsAWriteBackWhetherItDecidedAgain(t *testing.T) {
	stack := startStack(t, sandbox.Options{Seed: sandbox.SeedOptions{Users: 3, Seed: 5}})
	slug := stack.Sandbox.AwardForce.Users()[0].Slug
	ctx := context.Background()
	if _, err := workflows.StartUserSync(ctx, stack.Client, pairing.Default(), workflows.SyncRequest{Slug: slug, Trigger: pairing.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	res, err := syncResult(t, stack.Client, slug, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.DecidedAt == 0 || res.RecordID == "" {
		t.Fatalf("the sync's audit: %+v; want the person paired and the second the lane decided them", res)
	}
	coord := &workflows.Coordinator{Client: stack.Client}
	for _, tc := range []struct {
		at   int64
		want bool
	}{{res.DecidedAt, false}, {res.DecidedAt - 1, true}} {
		newer, err := coord.DecidedSince(ctx, slug, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if newer != tc.want {
			t.Errorf("decided since %d (the decision at %d): %v, want %v", tc.at, res.DecidedAt, newer, tc.want)
		}
	}
	if newer, err := coord.DecidedSince(ctx, "NoSuchOne", 0); err != nil || newer {
		t.Errorf("someone the lane never decided: %v, %v", newer, err)
	}
}

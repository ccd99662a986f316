package main

import (
	"context"
	"errors"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/workflows"
)

// A write-back asks the person's lane, on the dev server, whether it
// decided them after the decision it writes back
// (write-backs-follow-the-lane): the lane's answer carries the second of
// its decision, and the lane tells a later one from it.
func TestIntegrationTheLaneTellsAWriteBackWhetherItDecidedAgain(t *testing.T) {
	t.Parallel()
	stack := startStack(t, sandbox.Options{Seed: sandbox.SeedOptions{Users: 3, Seed: 5}})
	slug := stack.Sandbox.AwardForce.Users()[0].Slug
	ctx := context.Background()
	if _, err := workflows.StartUserSync(ctx, stack.Client, workflows.DefaultNames, pairing.Default(), workflows.SyncRequest{Slug: slug, Trigger: pairing.TriggerManual}); err != nil {
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

// lateDescribe answers the first DescribeWorkflow that finds a sync running
// only once that sync has ended: the window in which a webhook echoing the
// sync's own write-back used to start a second sync.
type lateDescribe struct {
	client.Client
	t          *testing.T
	sawRunning bool
}

func (l *lateDescribe) DescribeWorkflow(ctx context.Context, id, run string) (*client.WorkflowExecutionDescription, error) {
	d, err := l.Client.DescribeWorkflow(ctx, id, run)
	if err != nil || l.sawRunning || d.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return d, err
	}
	l.sawRunning = true
	waitForLong(l.t, func() bool {
		now, err := l.Client.DescribeWorkflow(ctx, id, "")
		return err == nil && now.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	}, "the sync to end", time.Minute)
	return d, nil
}

// A request that finds a sync running, and reaches it once it has ended,
// is judged by what that sync recorded: an older version starts nothing.
func TestIntegrationARequestThatMissesTheRunningSyncStartsNoSecond(t *testing.T) {
	t.Parallel()
	// Every request takes a second: the first sync runs for seconds.
	stack := startStack(t, sandbox.Options{Seed: sandbox.SeedOptions{Users: 1, Seed: 9}, Latency: time.Second})
	u := stack.Sandbox.AwardForce.Users()[0]
	ctx := context.Background()
	first, err := workflows.StartUserSync(ctx, stack.Client, workflows.DefaultNames, pairing.Default(), workflows.SyncRequest{Slug: u.Slug, Trigger: pairing.TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	// A webhook of a version before the one the sync reads (its payload
	// alone: the version is what counts).
	older := pairing.Profile{Slug: u.Slug, Updated: u.Updated.Add(-time.Minute), Values: map[string]string{"email": u.Email}}
	late := &lateDescribe{Client: stack.Client, t: t}
	_, err = workflows.StartUserSync(ctx, late, workflows.DefaultNames, pairing.Default(), workflows.SyncRequest{Slug: u.Slug, Trigger: pairing.TriggerProfileUpdate, Profile: &older})
	if !late.sawRunning {
		t.Fatal("the first sync had ended before the request: nothing was tried")
	}
	if !errors.Is(err, workflows.ErrAlreadySynced) {
		t.Errorf("the request after the sync ended: %v, want ErrAlreadySynced", err)
	}
	if d, err := stack.Client.DescribeWorkflow(ctx, workflows.UserSyncWorkflowID(u.Slug), ""); err != nil || d.WorkflowExecution.RunID != first.GetRunID() {
		t.Errorf("the user's latest sync is not the first one (%v): a second started", err)
	}
}

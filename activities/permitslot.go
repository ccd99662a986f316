package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// A paced grant (PermitGrant.Every) hands a workflow several permits at
// once, each due at its own moment. The workflow schedules each call's
// activity when it gets the permit, with the permit's moment in the
// activity's header; the activity waits for that moment on the worker
// (AwaitPermitSlot) before it calls Award Force. The pace is the budget's
// as before, for a wake-up, a signal and a workflow task per grant instead
// of per request.

// permitSlotHeader names the header holding a call's permit moment.
const permitSlotHeader = "afsync-permit-slot"

// permitSlotKey holds a call's permit moment in a workflow or activity
// context.
type permitSlotKey struct{}

// maxPermitSlotWait bounds an activity's wait for a moment, far above any
// grant's reach (pacedSpan): a moment further ahead is not waited for.
const maxPermitSlotWait = time.Minute

// PermitSlotPropagator carries a call's permit moment from the workflow
// that schedules its activity to the activity (workflow.ContextPropagator).
// Every worker client must have it: a worker without it runs a paced call
// at once, which Award Force may answer 429 (retried with a new permit).
type PermitSlotPropagator struct{}

var _ workflow.ContextPropagator = PermitSlotPropagator{}

// Inject writes nothing: only workflows set a moment.
func (PermitSlotPropagator) Inject(context.Context, workflow.HeaderWriter) error { return nil }

// Extract puts the header's moment, if any, into an activity's context.
func (PermitSlotPropagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	p, ok := r.Get(permitSlotHeader)
	if !ok {
		return ctx, nil
	}
	var slot time.Time
	if err := converter.GetDefaultDataConverter().FromPayload(p, &slot); err != nil {
		return ctx, nil // unreadable: the call goes at once
	}
	return context.WithValue(ctx, permitSlotKey{}, slot), nil
}

// InjectFromWorkflow writes the moment of the call being scheduled.
func (PermitSlotPropagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	slot, ok := ctx.Value(permitSlotKey{}).(time.Time)
	if !ok || slot.IsZero() {
		return nil
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(slot)
	if err != nil {
		return err
	}
	w.Set(permitSlotHeader, p)
	return nil
}

// ExtractToWorkflow leaves a workflow's context as it is: a moment is a
// call's, never a workflow's.
func (PermitSlotPropagator) ExtractToWorkflow(ctx workflow.Context, _ workflow.HeaderReader) (workflow.Context, error) {
	return ctx, nil
}

// AwaitPermitSlot waits, in an activity, until the moment its permit
// allows (none: it returns at once), or ctx ends. Both the moment and the
// activity's start are the server's times, so the worker's clock does not
// matter.
func AwaitPermitSlot(ctx context.Context) error {
	slot, ok := PermitSlot(ctx)
	if !ok {
		return nil
	}
	return AwaitMoment(ctx, slot)
}

// AwaitMoment waits, in an activity, until the server's moment at (at
// most a minute from the activity's start), or until ctx ends: measured
// from the activity's StartedTime, so the worker's clock does not matter.
// Call it as the activity starts: the time the activity ran before the
// call is counted as none (the wait ends that much late).
func AwaitMoment(ctx context.Context, at time.Time) error {
	return awaitMoment(ctx, at, activity.GetInfo(ctx).StartedTime, time.Now())
}

// PermitSlot is the moment of an activity's permit, if its call had one.
func PermitSlot(ctx context.Context) (time.Time, bool) {
	slot, ok := ctx.Value(permitSlotKey{}).(time.Time)
	return slot, ok
}

// WithPermitSlot is ctx for scheduling an Award Force call whose permit
// allows it at slot: the activity waits for it (AwaitPermitSlot).
func WithPermitSlot(ctx workflow.Context, slot time.Time) workflow.Context {
	return workflow.WithValue(ctx, permitSlotKey{}, slot)
}

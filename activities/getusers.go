package activities

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/internal/sleep"
	"github.com/afsync/afsync/pairing"
)

// GetUsersInput asks for several users' profiles, each read at its own
// moment: the permits of one grant of the Award Force budget.
type GetUsersInput struct {
	// Slugs are the users to read.
	Slugs []string `json:"slugs"`
	// At is, for each slug, the moment its permit allows its read, on the
	// server's clock; empty (or a zero moment) reads at once.
	At []time.Time `json:"at,omitempty"`
}

// UserRead is one read of GetUsers: the profile, or why it failed.
type UserRead struct {
	Profile pairing.Profile `json:"profile,omitzero"`
	Failure *ReadFailure    `json:"failure,omitempty"`
}

// ReadFailure is a failed read, classified as a GetUser activity's error
// would be (see classify): the workflow handles it as that error (Err).
type ReadFailure struct {
	Type         string        `json:"type"`
	Message      string        `json:"message"`
	NonRetryable bool          `json:"non_retryable,omitempty"`
	RetryAfter   time.Duration `json:"retry_after,omitempty"`
}

// Err is the error a GetUser activity would have failed with.
func (f *ReadFailure) Err() error {
	return temporal.NewApplicationErrorWithOptions(f.Message, f.Type, temporal.ApplicationErrorOptions{
		NonRetryable: f.NonRetryable, NextRetryDelay: f.RetryAfter,
	})
}

// GetUsers reads each slug's profile as GetUser does, each at its moment
// (measured from the activity's start on the server's clock, so that the
// worker's clock does not matter), at once when they have none. One read
// failing does not fail the others: each has its outcome, in order. The
// activity fails only when ctx ends.
func (a *AwardForce) GetUsers(ctx context.Context, in GetUsersInput) ([]UserRead, error) {
	return ReadEach(ctx, in, a.GetUser)
}

// ReadEach makes GetUsers's reads with get (GetUser, or a test's), in an
// activity's ctx.
func ReadEach(ctx context.Context, in GetUsersInput, get func(context.Context, string) (pairing.Profile, error)) ([]UserRead, error) {
	started, local := activity.GetInfo(ctx).StartedTime, time.Now()
	out := make([]UserRead, len(in.Slugs))
	var wg sync.WaitGroup
	for i, slug := range in.Slugs {
		var at time.Time
		if i < len(in.At) {
			at = in.At[i]
		}
		wg.Go(func() {
			if !at.IsZero() && awaitMoment(ctx, at, started, local) != nil {
				return
			}
			p, err := get(ctx, slug)
			if err != nil {
				out[i].Failure = readFailure(err)
				return
			}
			out[i].Profile = p
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// readFailure is err, a classified GetUser error, as a ReadFailure.
func readFailure(err error) *ReadFailure {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return &ReadFailure{Type: ErrTypeUnexpected, Message: err.Error()}
	}
	return &ReadFailure{Type: appErr.Type(), Message: appErr.Message(), NonRetryable: appErr.NonRetryable(), RetryAfter: appErr.NextRetryDelay()}
}

// awaitMoment waits, in an activity that started at started on the
// server's clock and at local on the worker's, until the server's moment
// at (at most maxPermitSlotWait), or until ctx ends.
func awaitMoment(ctx context.Context, at, started, local time.Time) error {
	return sleep.For(ctx, min(at.Sub(started)-time.Since(local), maxPermitSlotWait))
}

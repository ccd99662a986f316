// Package latency holds what the simulators share to play a slow network.
package latency

import (
	"context"
	"time"
)

// Wait waits for d, or until ctx is done, and reports whether the full wait
// elapsed: a false answer means the caller has gone and nobody would read a
// reply.
func Wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

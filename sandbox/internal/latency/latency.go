// Package latency holds what the simulators share to play a slow network.
package latency

import (
	"context"
	"time"

	"github.com/afsync/afsync/internal/sleep"
)

// Wait waits for d, or until ctx is done, and reports whether the full wait
// elapsed: a false answer means the caller has gone and nobody would read a
// reply.
func Wait(ctx context.Context, d time.Duration) bool {
	return sleep.For(ctx, d) == nil && ctx.Err() == nil
}

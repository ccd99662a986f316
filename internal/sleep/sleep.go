// Package sleep waits for a while unless a context ends first.
package sleep

import (
	"context"
	"time"
)

// For waits d, or until ctx ends, whichever comes first, and returns
// ctx's error in the second case. A d of zero or less returns nil at once.
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

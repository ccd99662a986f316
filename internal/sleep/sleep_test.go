package sleep

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestForWaitsOrEndsWithItsContext(t *testing.T) {
	start := time.Now()
	if err := For(context.Background(), 20*time.Millisecond); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("For(20ms) = %v after %s, want nil after 20ms at least", err, time.Since(start))
	}
	if err := For(context.Background(), -time.Second); err != nil {
		t.Fatalf("For(-1s) = %v, want nil at once", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := For(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("For(1h) with its context ended = %v, want context.Canceled", err)
	}
}

package latency

import (
	"context"
	"testing"
	"time"
)

func TestWaitElapsesOrGivesUpWithTheCaller(t *testing.T) {
	if !Wait(context.Background(), time.Millisecond) {
		t.Fatal("a full wait must report true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Wait(ctx, time.Hour) {
		t.Fatal("a cancelled caller must end the wait with false")
	}
	if Wait(ctx, 0) {
		t.Fatal("no latency, but the caller has gone: false")
	}
}

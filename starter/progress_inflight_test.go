package main

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/afsync/afsync/workflows"
)

// chunkAnswers answers each chunk's progress query with what it holds;
// a chunk it does not hold does not answer (a busy worker).
type chunkAnswers struct {
	client.Client
	listed map[string]int
}

func (c *chunkAnswers) QueryWorkflow(_ context.Context, id, _, query string, _ ...any) (converter.EncodedValue, error) {
	n, ok := c.listed[id]
	if !ok || query != workflows.ChunkProgressQuery {
		return nil, errors.New("context deadline exceeded")
	}
	p, err := converter.GetDefaultDataConverter().ToPayloads(workflows.ChunkProgress{Listed: n})
	return client.NewValue(p), err
}

func TestProgressInFlightDoesNotGoBackWhenAChunkIsSlowToAnswer(t *testing.T) {
	ctx := context.Background()
	c := &chunkAnswers{listed: map[string]int{"a": 100, "b": 200}}
	last := map[string]int{}
	if n := listedInFlight(ctx, c, []string{"a", "b"}, last); n != 300 {
		t.Fatalf("both answered: %d, want 300", n)
	}
	delete(c.listed, "b") // b is slow this time
	c.listed["a"] = 150
	if n := listedInFlight(ctx, c, []string{"a", "b"}, last); n != 350 {
		t.Fatalf("b slow: %d, want 350 (b's last answer kept)", n)
	}
	// b finished and left the running chunks: it is forgotten.
	if n := listedInFlight(ctx, c, []string{"a"}, last); n != 150 || len(last) != 1 {
		t.Fatalf("b finished: %d and %v, want 150 and a alone", n, last)
	}
	if n := listedInFlight(ctx, c, []string{"c"}, last); n != 0 {
		t.Fatalf("a chunk that never answered counts %d, want 0", n)
	}
}

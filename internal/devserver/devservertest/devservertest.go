// Package devservertest gives tests afsync's Temporal dev server: a real
// server on 127.0.0.1, started for one test and stopped when it ends.
package devservertest

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/devserver"
)

// startTimeout bounds the server's start and a client's dial.
const startTimeout = 2 * time.Minute

// Binary is the Temporal CLI for a test that needs the dev server. Under
// -short the test is skipped; without the CLI it fails (make test builds
// it first: a test that skips because the binary is missing proves
// nothing).
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the Temporal dev server: runs without -short (make test)")
	}
	bin, err := devserver.Find()
	if err != nil {
		t.Fatalf("needs the Temporal CLI (make test builds it): %v", err)
	}
	return bin
}

// Start starts a dev server with opts (Binary found when empty, see
// Binary), stopped when the test ends.
func Start(t testing.TB, opts devserver.Options) *devserver.Server {
	t.Helper()
	if opts.Binary == "" {
		opts.Binary = Binary(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := devserver.Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting the Temporal dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// Dial connects a client to srv's namespace (opts' HostPort and Namespace
// are srv's), closed when the test ends.
func Dial(t testing.TB, srv *devserver.Server, opts client.Options) client.Client {
	t.Helper()
	opts.HostPort, opts.Namespace = srv.Address, srv.Namespace
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		t.Fatalf("dialing the Temporal dev server: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/afsync/afsync/internal/afworker"
	"github.com/afsync/afsync/workflows"
)

// fakeNode records what it is asked to serve and answers as scripted.
type fakeNode struct {
	calls  chan []afworker.Served
	answer func([]afworker.Served) (afworker.Reloaded, error)
}

func (f *fakeNode) Reload(_ context.Context, s []afworker.Served) (afworker.Reloaded, error) {
	r, err := f.answer(s)
	f.calls <- s
	return r, err
}

// syncLog is a log both the loop and the test use.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// The worker follows its registry: every SIGHUP loads it and hands it to
// the node; what changed is logged; a registry that does not load, or a
// reload the node refuses, is logged with its error and nothing is handed
// over (the worker serves on as before).
func TestTheWorkerFollowsItsRegistry(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	loads, loadErr := 0, error(nil)
	grants := []afworker.Served{{Names: workflows.NamesOf("grants")}}
	load := func() ([]afworker.Served, error) {
		mu.Lock()
		defer mu.Unlock()
		loads++
		return grants, loadErr
	}
	node := &fakeNode{calls: make(chan []afworker.Served, 10), answer: func([]afworker.Served) (afworker.Reloaded, error) {
		return afworker.Reloaded{Added: []string{"grants"}}, nil
	}}
	hup, tick := make(chan os.Signal), time.Hour
	var log syncLog
	done := make(chan struct{})
	go func() {
		defer close(done)
		followRegistry(ctx, load, node, tick, hup, slog.New(slog.NewTextHandler(&log, nil)))
	}()
	waitLog := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), what); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the log never said %q:\n%s", what, log.String())
			}
		}
	}

	hup <- os.Interrupt
	if got := <-node.calls; len(got) != 1 || got[0].Names.Integration() != "grants" {
		t.Fatalf("the node was handed %v", got)
	}
	waitLog(`msg="Reloaded the registry of integrations" added=[grants]`)

	mu.Lock()
	loadErr = errors.New("registry.yaml: integration grants: key awardforce_api_url: want an https URL")
	mu.Unlock()
	hup <- os.Interrupt
	waitLog(`error="registry.yaml: integration grants: key awardforce_api_url: want an https URL"`)
	hup <- os.Interrupt // a signal logs it again
	for deadline := time.Now().Add(10 * time.Second); strings.Count(log.String(), "was not reloaded") < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a second SIGHUP did not log the error again:\n%s", log.String())
		}
	}
	select {
	case got := <-node.calls:
		t.Fatalf("a registry that did not load was handed over: %v", got)
	default:
	}

	mu.Lock()
	loadErr = nil
	mu.Unlock()
	refused := errors.New("integration grants: not reloaded: Salesforce rejected the client secret")
	node.answer = func([]afworker.Served) (afworker.Reloaded, error) { return afworker.Reloaded{}, refused }
	hup <- os.Interrupt
	<-node.calls
	waitLog(`error="integration grants: not reloaded: Salesforce rejected the client secret"`)

	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if loads != 4 {
		t.Fatalf("the registry was loaded %d times for 4 signals", loads)
	}
}

// Read periodically, a registry that keeps failing the same way is logged
// once, and again when its error changes.
func TestAFailingRegistryIsLoggedOnceUntilItsErrorChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	loads, msg := 0, "registry.yaml: integration grants: key spec: no such file"
	load := func() ([]afworker.Served, error) {
		mu.Lock()
		defer mu.Unlock()
		loads++
		return nil, errors.New(msg)
	}
	loaded := func() int {
		mu.Lock()
		defer mu.Unlock()
		return loads
	}
	node := &fakeNode{calls: make(chan []afworker.Served, 1)}
	var log syncLog
	done := make(chan struct{})
	go func() {
		defer close(done)
		followRegistry(ctx, load, node, time.Millisecond, nil, slog.New(slog.NewTextHandler(&log, nil)))
	}()
	waitLoads := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); loaded() < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the registry was loaded %d times, want %d", loaded(), n)
			}
		}
	}
	waitLoads(20)
	if n := strings.Count(log.String(), "was not reloaded"); n != 1 {
		t.Fatalf("20 loads failing alike logged %d errors, want 1:\n%s", n, log.String())
	}
	mu.Lock()
	msg = "registry.yaml: integration grants: key spec: not YAML"
	mu.Unlock()
	waitLoads(loaded() + 20)
	cancel()
	<-done
	if n := strings.Count(log.String(), "was not reloaded"); n != 2 || !strings.Contains(log.String(), "not YAML") {
		t.Fatalf("a new error logged %d errors in all, want 2:\n%s", n, log.String())
	}
}

// The registry read again unchanged serves every integration the same (a
// periodic read restarts nothing); an edited key changes that integration
// only.
func TestARegistryReadAgainIsTheSame(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(spec, []byte("object: Contact\nunique_identifier: {awardforce: email, crm: Email}\nfields:\n  - {awardforce: last_name, crm: LastName}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	entry := func(id, org string) string {
		return "  - id: " + id + "\n    awardforce_api_url: https://api.eu.cr4ce.com\n    awardforce_api_key: ${" + strings.ToUpper(id) + "_KEY}\n" +
			"    salesforce_login_url: https://" + org + ".my.salesforce.com\n    salesforce_client_id: 3MVG9" + org + "\n    salesforce_client_secret: ${SF_SECRET}\n    spec: " + spec + "\n"
	}
	registry := filepath.Join(dir, "integrations.yaml")
	if err := os.WriteFile(registry, []byte("integrations:\n"+entry("awards", "acme")+entry("grants", "beta")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AFSYNC_INTEGRATIONS": registry, "AWARDS_KEY": "k1", "GRANTS_KEY": "k2", "SF_SECRET": "s"}
	o := &options{afRate: -1}
	load := func() []afworker.Served {
		t.Helper()
		s, err := o.integrations(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first, again := load(), load()
	for i := range first {
		if !first[i].Same(again[i]) {
			t.Fatalf("integration %s read again is not the same", first[i].Names.Integration())
		}
	}
	env["GRANTS_KEY"] = "rotated"
	edited := load()
	if !first[0].Same(edited[0]) || first[1].Same(edited[1]) {
		t.Fatal("a rotated key of grants must change grants, and only grants")
	}
}

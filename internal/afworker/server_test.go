package afworker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// shortTimeouts sets serverTimeouts to t for the test.
func shortTimeouts(tb testing.TB, t httpTimeouts) {
	tb.Helper()
	saved := serverTimeouts
	serverTimeouts = t
	tb.Cleanup(func() { serverTimeouts = saved })
}

// startServe serves h with serve on a loopback listener until the test ends.
func startServe(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, l, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}

func TestServerTimeoutsAreSetAndSensible(t *testing.T) {
	srv := newServer(http.NotFoundHandler())
	for name, got := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		if got <= 0 || got > 5*time.Minute {
			t.Errorf("%s = %v, want between 0 and 5m", name, got)
		}
	}
	if srv.ReadHeaderTimeout > srv.ReadTimeout {
		t.Errorf("ReadHeaderTimeout %v > ReadTimeout %v", srv.ReadHeaderTimeout, srv.ReadTimeout)
	}
	// A webhook may wait 15 s for the start of its sync (webhook.startTimeout)
	// and /healthz 3 s for Temporal: the answer must still be writable.
	if srv.WriteTimeout <= 15*time.Second {
		t.Errorf("WriteTimeout %v leaves a webhook no time to answer", srv.WriteTimeout)
	}
}

// A client that sends its headers a line at a time, never finishing them,
// is cut off after ReadHeaderTimeout, while a prompt client is served.
func TestServerCutsOffSlowHeaders(t *testing.T) {
	shortTimeouts(t, httpTimeouts{ReadHeader: 300 * time.Millisecond, Read: time.Second, Write: time.Second, Idle: time.Second})
	served := make(chan string, 10)
	addr := startServe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- r.URL.Path
		_, _ = io.WriteString(w, "ok")
	}))

	// A prompt client gets its answer.
	resp, err := http.Get("http://" + addr + "/prompt")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("prompt request: HTTP %d", resp.StatusCode)
	}
	if p := <-served; p != "/prompt" {
		t.Fatalf("served %q", p)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// Trickle a header line every 50 ms for up to 3 s; the server must
	// close the connection well before.
	closed := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(conn).ReadByte()
		closed <- err
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(3 * time.Second)
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			elapsed := time.Since(start)
			if !errors.Is(err, io.EOF) && !isConnReset(err) {
				t.Fatalf("read on a cut-off connection: %v, want EOF", err)
			}
			if elapsed < 250*time.Millisecond || elapsed > 2*time.Second {
				t.Fatalf("cut off after %v, want about 300ms", elapsed)
			}
			select {
			case p := <-served:
				t.Fatalf("the slow request %q was served", p)
			default:
			}
			return
		case <-deadline:
			t.Fatal("a client trickling its headers held the connection for 3s")
		case <-tick.C:
			// Writes may fail once the server has closed: the read above
			// then reports it.
			_, _ = io.WriteString(conn, "X-Trickle-"+strings.Repeat("a", i%5+1)+": 1\r\n")
		}
	}
}

// A client that sends its body slowly is cut off after ReadTimeout: the
// handler's read fails instead of waiting for ever.
func TestServerCutsOffSlowBodies(t *testing.T) {
	shortTimeouts(t, httpTimeouts{ReadHeader: 200 * time.Millisecond, Read: 400 * time.Millisecond, Write: time.Second, Idle: time.Second})
	readErr := make(chan error, 1)
	addr := startServe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /webhooks/awardforce HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case err := <-readErr:
			if err == nil {
				t.Fatal("the handler read a body that was never sent")
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Fatalf("cut off after %v, want about 400ms", elapsed)
			}
			return
		case <-deadline:
			t.Fatal("a client trickling its body held the handler for 3s")
		case <-tick.C:
			_, _ = io.WriteString(conn, "x")
		}
	}
}

func isConnReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "reset")
}

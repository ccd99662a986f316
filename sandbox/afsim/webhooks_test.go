package afsim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookSink collects the webhook deliveries it receives.
type hookSink struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	fail   int // answer 500 to this many first deliveries
}

func (h *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail > 0 {
		h.fail--
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	h.bodies = append(h.bodies, b)
	h.sigs = append(h.sigs, r.Header.Get("Signature"))
	w.WriteHeader(http.StatusAccepted)
}

func (h *hookSink) wait(t *testing.T, n int) []map[string]any {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		got := len(h.bodies)
		h.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries, want %d", got, n)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for i, b := range h.bodies {
		if want := Sign(b, "hook-key"); h.sigs[i] != want {
			t.Errorf("delivery %d signed %q, want %q", i, h.sigs[i], want)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestRegistrationsAndEditsAreDeliveredAsSignedWebhooks(t *testing.T) {
	sink := &hookSink{}
	hook := httptest.NewServer(sink)
	defer hook.Close()
	s := New(Options{Keys: map[string]bool{"key": true}, Webhook: Webhook{URL: hook.URL, SigningKey: "hook-key"}})
	s.AddField(Field{Slug: "JobTitle", Label: "Job title"})
	seeded := s.AddUser(User{Email: "seeded@example.org", FirstName: "S", LastName: "Eeded"})

	u := s.Register(User{Email: "new@example.org", FirstName: "Nu", LastName: "Comer", Fields: map[string]string{"JobTitle": "Analyst"}})
	got := sink.wait(t, 1)
	reg := got[0]
	for k, want := range map[string]any{"event": EventRegistered, "source": "ui", "slug": u.Slug, "email": "new@example.org", "first_name": "Nu", "last_name": "Comer"} {
		if reg[k] != want {
			t.Errorf("registration payload %s = %v, want %v", k, reg[k], want)
		}
	}
	if reg["updated"] == nil || reg["timestamp"] == nil || reg["user_fields"] == nil {
		t.Errorf("the payload must carry the whole user with its updated time: %v", reg)
	}

	edited, ok := s.Edit(u.Slug, func(u *User) { u.LastName = "Changed" })
	// `updated` has a second's resolution: an edit made within the
	// registration's second carries the same version, never an older one.
	if !ok || edited.Updated.Before(u.Updated) || !edited.Updated.Equal(edited.Updated.Truncate(time.Second)) {
		t.Fatalf("edit: %v, updated %v, registered %v", ok, edited.Updated, u.Updated)
	}
	got = sink.wait(t, 2)
	if got[1]["event"] != EventUpdated || got[1]["last_name"] != "Changed" {
		t.Errorf("edit payload: %v", got[1])
	}
	if st := waitDelivered(t, s, 2); st.Delivered != 2 {
		t.Errorf("stats: %+v", st)
	}
	// Seeding announces nothing.
	if strings.Contains(string(mustJSON(got)), seeded.Slug) {
		t.Error("a seeded user was announced")
	}
}

func TestAWriteThroughTheAPIIsAnnouncedWithSourceAPI(t *testing.T) {
	sink := &hookSink{}
	hook := httptest.NewServer(sink)
	defer hook.Close()
	s := New(Options{Keys: map[string]bool{"key": true}})
	s.SetWebhook(Webhook{URL: hook.URL, SigningKey: "hook-key"})
	u := s.AddUser(User{Email: "api@example.org", FirstName: "A", LastName: "Pi"})
	srv := httptest.NewServer(s)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/user/"+u.Slug, strings.NewReader(`{"last_name":"Written"}`))
	req.Header.Set("x-api-key", "key")
	req.Header.Set("Accept", AcceptHeader)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := sink.wait(t, 1)
	if got[0]["source"] != "api" || got[0]["event"] != EventUpdated || got[0]["last_name"] != "Written" {
		t.Errorf("payload: %v", got[0])
	}
}

func TestAFailedDeliveryIsRetried(t *testing.T) {
	sink := &hookSink{fail: 2}
	hook := httptest.NewServer(sink)
	defer hook.Close()
	s := New(Options{Webhook: Webhook{URL: hook.URL, SigningKey: "hook-key"}})
	s.Register(User{Email: "retry@example.org", FirstName: "R", LastName: "Etry"})
	sink.wait(t, 1)
	if st := waitDelivered(t, s, 1); st.Delivered != 1 || st.Failed != 0 {
		t.Errorf("stats: %+v", st)
	}
	// One answer time: the successful attempt's, not the refused ones'.
	if got := s.WebhookAnswerTimes(); len(got) != 1 || got[0] <= 0 {
		t.Errorf("answer times %v, want the one delivered webhook's", got)
	}
}

// waitDelivered waits until the simulator counts n deliveries (the sink
// answers before the sender counts), and returns the webhook counts; it
// fails the test after ten seconds.
func waitDelivered(t *testing.T, s *Server, n int) struct{ Queued, Delivered, Failed int } {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st := s.Stats().Webhooks
		if st.Delivered >= n {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook stats never reached the expected counts: %+v", st)
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

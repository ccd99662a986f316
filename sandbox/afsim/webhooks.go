package afsim

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Webhook is where the simulator delivers user events, as an Award Force
// webhook configured under Settings → Integrations → Webhooks does: a POST
// of a JSON payload holding the event, its time, its source ("ui" for what
// users do, "api" for writes through the API) and the whole user at the top
// level, signed with SigningKey (header Signature: lowercase hex
// HMAC-SHA256 of the raw body).
//
// Unconfirmed: Award Force does not document its retries; the simulator
// delivers each event from a small pool of senders (so two events of one
// user may arrive in either order, which `updated` sorts out) and retries a
// failed delivery three times, a second apart.
type Webhook struct {
	URL        string
	SigningKey string
}

// User events the simulator delivers.
const (
	EventRegistered = "membership_registered"
	EventUpdated    = "user_updated"
)

// Sign is the Signature header of body under key.
func Sign(body []byte, key string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// SetWebhook sets (or, with a zero Webhook, removes) where user events go.
func (s *Server) SetWebhook(w Webhook) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.target = w
}

// Register adds a user as one registering in Award Force's UI does: created
// and updated now, and a membership_registered event delivered. An empty
// slug gets a random one. It panics like AddUser on a seeding mistake.
func (s *Server) Register(u User) User {
	u.CreatedAt, u.Updated = time.Time{}, time.Time{}
	u = s.AddUser(u)
	s.announce(EventRegistered, "ui", u.Slug)
	return u
}

// Edit changes a user as a profile edit in Award Force's UI does: edit
// applies the change, `updated` becomes now, and a user_updated event is
// delivered. It reports false when there is no such user, and panics like
// AddUser when the edit leaves what Award Force would refuse (a mobile that
// is not E.164 or another user's, a value outside a drop-down's options).
func (s *Server) Edit(slug string, edit func(*User)) (User, bool) {
	s.mu.Lock()
	cur, ok := s.users[slug]
	if !ok {
		s.mu.Unlock()
		return User{}, false
	}
	next := cloneUser(*cur)
	edit(&next)
	next.Slug = slug
	if err := s.checkUserLocked(&next); err != "" {
		s.mu.Unlock()
		panic("afsim: Edit: " + err)
	}
	next.Updated = s.nextVersionLocked(cur, true)
	s.storeLocked(&next)
	s.mu.Unlock()
	s.announce(EventUpdated, "ui", slug)
	return cloneUser(next), true
}

// nextVersionLocked is the `updated` of an edit of cur made now, through
// the UI (Edit, ui true) or the API (PUT /user/{slug}). It has a second's
// resolution, as Award Force's: two edits within one second carry the same
// version (only their values differ), unless SetDistinctSeconds moves a UI
// edit on to the next second. It never goes back: an API write made within
// the second after a moved edit carries that edit's version, as Award
// Force's server clock would never give an older one.
func (s *Server) nextVersionLocked(cur *User, ui bool) time.Time {
	t := now()
	switch {
	case ui && s.distinctSeconds && !t.After(cur.Updated):
		return cur.Updated.Add(time.Second)
	case t.Before(cur.Updated):
		return cur.Updated
	}
	return t
}

// Payload is the body the simulator delivers for event on the user with the
// given slug as it is now; nil when there is no such user.
func (s *Server) Payload(event, source, slug string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[slug]
	if !ok {
		return nil
	}
	m := s.renderUserLocked(u, "", true)
	delete(m, "preferences")
	m["event"] = event
	m["source"] = source
	m["timestamp"] = now().Format(time.RFC3339)
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // plain values: cannot happen
	}
	return b
}

// hooks is the delivery state.
type hooks struct {
	mu     sync.Mutex
	target Webhook
	queue  chan delivery
	start  sync.Once
	client *http.Client
	// answered holds how long each delivered webhook took to be answered
	// (its last attempt), the first maxAnswerTimes of them.
	answered []time.Duration
}

// maxAnswerTimes bounds the answer times kept, for a long-running sandbox.
const maxAnswerTimes = 1_000_000

// WebhookAnswerTimes returns how long each webhook delivered so far took to
// be answered 2xx by the receiver (its successful attempt), in delivery
// order: what a burst's sender sees of the receiver.
func (s *Server) WebhookAnswerTimes() []time.Duration {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return slices.Clone(s.hooks.answered)
}

type delivery struct {
	target Webhook
	body   []byte
}

const (
	webhookSenders  = 4
	webhookAttempts = 4
)

// announce queues the delivery of event for the user as it is now, when a
// webhook is set.
func (s *Server) announce(event, source, slug string) {
	s.hooks.mu.Lock()
	target := s.hooks.target
	s.hooks.mu.Unlock()
	if target.URL == "" {
		return
	}
	body := s.Payload(event, source, slug)
	if body == nil {
		return
	}
	s.hooks.start.Do(func() {
		s.hooks.queue = make(chan delivery, 10_000)
		s.hooks.client = &http.Client{Timeout: 10 * time.Second}
		for range webhookSenders {
			go s.sendLoop()
		}
	})
	s.mu.Lock()
	s.stats.Webhooks.Queued++
	s.mu.Unlock()
	s.hooks.queue <- delivery{target, body}
}

func (s *Server) sendLoop() {
	for d := range s.hooks.queue {
		var err error
		for attempt := range webhookAttempts {
			if attempt > 0 {
				time.Sleep(time.Second)
			}
			began := time.Now()
			if err = s.send(d); err == nil {
				s.hooks.mu.Lock()
				if len(s.hooks.answered) < maxAnswerTimes {
					s.hooks.answered = append(s.hooks.answered, time.Since(began))
				}
				s.hooks.mu.Unlock()
				break
			}
		}
		s.mu.Lock()
		if err == nil {
			s.stats.Webhooks.Delivered++
		} else {
			s.stats.Webhooks.Failed++
		}
		s.mu.Unlock()
	}
}

func (s *Server) send(d delivery) error {
	req, err := http.NewRequest(http.MethodPost, d.target.URL, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if d.target.SigningKey != "" {
		req.Header.Set("Signature", Sign(d.body, d.target.SigningKey))
	}
	resp, err := s.hooks.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

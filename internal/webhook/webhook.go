package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
)

// DefaultMaxBodyBytes bounds a webhook body when Options.MaxBodyBytes is unset.
const DefaultMaxBodyBytes int64 = 1 << 20

// startTimeout bounds one StartUserSync call. The start runs detached from the
// request's cancellation: Award Force's retries are undocumented, so a sync that
// is half started when the sender hangs up should still be started.
const startTimeout = 15 * time.Second

// Event is a user event a webhook announced.
type Event struct {
	// Slug is the user's slug.
	Slug string
	// Trigger is the sync the event asks for.
	Trigger pairing.Trigger
	// Profile is the whole user as the signed payload carries it, with its
	// `updated` time; nil when the payload is not a whole user (the sync
	// then reads the user from Award Force).
	Profile *pairing.Profile
}

// Starter starts a user sync; the worker implements it with the Temporal
// client. It reports whether the event was a duplicate of a version already
// synced (a replayed delivery), which starts nothing.
type Starter interface {
	StartUserSync(ctx context.Context, ev Event) (duplicate bool, err error)
}

// Options configures NewHandler.
type Options struct {
	// SigningKey is the webhook's signing key as set in Award Force
	// (AWARDFORCE_WEBHOOK_SIGNING_KEY). Required.
	SigningKey string
	// Starter starts the sync. Required.
	Starter Starter
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// MaxBodyBytes bounds the request body; 0 or less means DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// NewHandler returns the handler for Award Force webhooks. It fails when the
// signing key or the Starter is missing.
func NewHandler(o Options) (http.Handler, error) {
	if o.SigningKey == "" {
		return nil, fmt.Errorf("webhook: signing key is required (set %s to the key configured in Award Force)", config.EnvAwardForceWebhookSigningKey)
	}
	if o.Starter == nil {
		return nil, errors.New("webhook: a Starter is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return &handler{opts: o}, nil
}

type handler struct {
	opts Options
}

// payload is the part of a webhook body the handler reads first; the user
// is decoded again, whole, by profileOf.
type payload struct {
	Event string `json:"event"`
	Slug  any    `json:"slug"`
	User  any    `json:"user"`
}

// wholeUserKeys are what a payload's user must carry for the sync to trust
// it instead of reading the user from Award Force: the documented payload
// holds them all (mobile and email may be null, but present).
var wholeUserKeys = []string{"slug", "updated", "email", "first_name", "last_name", "mobile"}

// profileOf decodes the user the payload carries (under "user", or at the
// top level as Award Force sends it) into the profile a sync reads, or nil
// when it is not a whole user with its `updated` time.
func profileOf(body []byte, slug string) *pairing.Profile {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	raw := body
	if nested, ok := top["user"]; ok && len(nested) > 0 && nested[0] == '{' {
		raw = nested
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) != nil {
		return nil
	}
	for _, k := range wholeUserKeys {
		if _, ok := keys[k]; !ok {
			return nil
		}
	}
	var u awardforce.User
	if json.Unmarshal(raw, &u) != nil || u.Slug != slug || u.Updated.IsZero() {
		return nil
	}
	p := activities.ProfileOf(&u)
	return &p
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.opts.Logger
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, "error", "method not allowed")
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("webhook body too large", "limitBytes", h.opts.MaxBodyBytes)
			writeJSON(w, http.StatusRequestEntityTooLarge, "error", "body too large")
			return
		}
		log.Warn("webhook body unreadable", "error", err)
		writeJSON(w, http.StatusBadRequest, "error", "unreadable body")
		return
	}

	if !awardforce.VerifySignature(body, r.Header.Get("Signature"), h.opts.SigningKey) {
		log.Warn("webhook signature rejected", "signaturePresent", r.Header.Get("Signature") != "")
		writeJSON(w, http.StatusUnauthorized, "error", "invalid signature")
		return
	}

	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		// json's syntax errors quote no input, but type errors can name values; log neither.
		log.Warn("webhook body is not valid JSON")
		writeJSON(w, http.StatusBadRequest, "error", "malformed JSON")
		return
	}
	if strings.TrimSpace(p.Event) == "" {
		log.Warn("webhook without event")
		writeJSON(w, http.StatusBadRequest, "error", "missing event")
		return
	}

	trigger, ok := triggerFor(p.Event)
	if !ok {
		log.Info("webhook event ignored", "event", p.Event)
		writeJSON(w, http.StatusOK, "status", "ignored")
		return
	}

	slug := p.slug()
	if !awardforce.IsSlug(slug) {
		// The value is not logged: whatever sits where a slug should be might be PII.
		log.Warn("webhook without a valid user slug", "event", p.Event, "slugPresent", slug != "")
		writeJSON(w, http.StatusBadRequest, "error", "missing or invalid user slug")
		return
	}

	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), startTimeout)
	defer cancel()
	profile := profileOf(body, slug)
	duplicate, err := h.opts.Starter.StartUserSync(ctx, Event{Slug: slug, Trigger: trigger, Profile: profile})
	if err != nil {
		log.Error("webhook could not start user sync", "event", p.Event, "slug", slug, "trigger", string(trigger), "error", err)
		writeJSON(w, http.StatusServiceUnavailable, "error", "could not start sync; retry later")
		return
	}
	if duplicate {
		log.Info("webhook repeats a version already synced", "event", p.Event, "slug", slug)
		writeJSON(w, http.StatusOK, "status", "duplicate")
		return
	}
	log.Info("webhook started user sync", "event", p.Event, "slug", slug, "trigger", string(trigger), "profile", profile != nil)
	writeJSON(w, http.StatusAccepted, "status", "accepted")
}

// triggerFor maps an event, in snake_case or as a label, to the sync trigger it
// starts; ok is false for events that start nothing.
func triggerFor(event string) (pairing.Trigger, bool) {
	switch normalizeEvent(event) {
	case "membership_registered", "user_created":
		return pairing.TriggerRegistration, true
	case "user_updated":
		return pairing.TriggerProfileUpdate, true
	}
	return "", false
}

// normalizeEvent folds "User created", "user-created" and "USER_CREATED" to
// "user_created".
func normalizeEvent(event string) string {
	f := strings.FieldsFunc(strings.ToLower(event), func(r rune) bool {
		return r == ' ' || r == '_' || r == '-' || r == '\t'
	})
	return strings.Join(f, "_")
}

// slug returns the user's slug: user.slug when the user object carries one,
// else the top-level slug; "" when neither is a string.
func (p payload) slug() string {
	if u, ok := p.User.(map[string]any); ok {
		if s, ok := u["slug"].(string); ok && s != "" {
			return strings.TrimSpace(s)
		}
	}
	if s, ok := p.Slug.(string); ok {
		return strings.TrimSpace(s)
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, key, value string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{key: value})
}

// Package afsim is an in-memory simulator of the Award Force API v2.3, the subset
// afsync relies on: users, user profile fields, API keys, rate limits and faults.
//
// It is a product feature (demos, tests, fault drills), so it follows the real API's
// documented behaviour (see shared/reference/awardforce-api.md) rather than what is
// convenient for our client: the vendor Accept header is required, list items carry no
// custom fields, next_page_url is "" on the last page, PUT takes a slug only, and so on.
// Where the documentation is silent the simulator picks the documented form and says so
// in a comment marked "Unconfirmed".
//
// For fault drills it models: the rate limit (429 with Retry-After); injected error
// statuses (InjectFaults: 429, 500, 503 maintenance, …); random maintenance windows
// (Chaos.Unavailable: 503 {"status":"Maintenance in progress"}); a stalled API (Stall,
// Resume); and latency. Injected faults are counted in Stats.Faults.
//
// The package depends only on the standard library. A *Server is an http.Handler and is
// safe for concurrent use.
package afsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/afsync/afsync/sandbox/internal/latency"
)

// AcceptHeader is the only Accept value the API answers in JSON; the version travels in it.
// Note the literal space in "Creative Force".
const AcceptHeader = "application/vnd.Creative Force.v2.3+json"

// DefaultRateWindow is the window used when Options.RateLimit is set and RateWindow is not.
const DefaultRateWindow = 60 * time.Second

// injectedRetryAfter is the Retry-After sent with an injected 429. A fault drill wants the
// caller to come back soon, not to wait out a real window.
const injectedRetryAfter = 1

var slugPattern = regexp.MustCompile(`^[A-Za-z]{8}$`)

// mobilePattern is E.164 as Award Force takes it (+14155552671): a plus, then
// 8 to 15 digits, the first not 0; no spaces, brackets or dashes.
var mobilePattern = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// Options configures a Server. The zero value accepts no keys.
type Options struct {
	// Keys maps each accepted API key to its access: true for Read / Write,
	// false for Read only (a write with a read-only key is answered 403).
	Keys map[string]bool
	// RateLimit is the number of requests allowed per API key per RateWindow (requests
	// without a key share a bucket per client address); 0 disables limiting. The real
	// API allows 60 per 60 seconds, which callers should default to.
	RateLimit int
	// RateWindow is the length of the fixed rate-limit window; DefaultRateWindow when 0.
	RateWindow time.Duration
	// Latency is added to every request; the wait ends early if the request is cancelled.
	Latency time.Duration
	// Webhook, when its URL is set, receives user events (see Webhook);
	// SetWebhook changes it later.
	Webhook Webhook
}

// User is a simulated Award Force user as the simulator stores it.
type User struct {
	Slug      string // 8 ASCII letters
	Email     string // "" is served as null (mobile-only users)
	FirstName string
	LastName  string
	Mobile    string
	// Roles holds role names such as "Entrant"; they are served as related resources
	// {slug, link, name{en_GB}} with a slug derived from the name.
	Roles []string
	// SeasonJoined identifies the season the user joined in; the season_joined filter
	// matches its decimal form. Unconfirmed: Award Force's published filter takes a
	// season slug; an int is what afsync's callers model.
	SeasonJoined int
	Confirmed    bool
	Deleted      bool
	CreatedAt    time.Time
	Updated      time.Time
	// Fields maps a user profile field slug to its value; every slug must have been
	// added with AddField first.
	Fields map[string]string
}

// Field is a user profile field definition, served by GET /field?resource=users.
type Field struct {
	Slug  string // 8 ASCII letters; assigned at random when empty
	Type  string // e.g. "text", "email", "phone", FieldTypeDropDown; "text" when empty
	Label string // served as the translated label and title {en_GB: Label}
	// Options are the choices of a drop-down or radio field (required for those
	// types, refused for others): a value written to the field must match one
	// exactly, or be "" (no value). They stay internal: the reference lists
	// only slug, type and label for GET /field, so the listing does not serve them.
	// Unconfirmed: the published OpenAPI also shows an "options" list of strings.
	Options []string
}

// The profile field types whose values must be one of Field.Options, as the
// API's field type filter names them.
const (
	FieldTypeDropDown = "drop-down-list"
	FieldTypeRadio    = "radio"
)

// hasOptions reports whether the field's values are limited to its Options.
func (f *Field) hasOptions() bool { return f.Type == FieldTypeDropDown || f.Type == FieldTypeRadio }

// allows reports whether v may be stored in the field: anything in a free
// field; "" or one of the options, matched exactly, in a drop-down or radio one.
func (f *Field) allows(v string) bool {
	return !f.hasOptions() || v == "" || slices.Contains(f.Options, v)
}

// Stats counts what the server has seen since New or the last ResetStats.
type Stats struct {
	// Requests counts every request received, whatever its outcome.
	Requests int
	// First and Last are when the first and the last of them arrived
	// (zero when none did): a benchmark reads its pace from them.
	First, Last time.Time
	// ByRoute counts requests per route, keyed like "GET /user" or
	// "GET /user/{slug-or-email}"; unknown paths count under "<METHOD> (no route)".
	ByRoute map[string]int
	// RateLimited counts 429 responses served, from the limiter or from InjectFaults.
	RateLimited int
	// Writes counts successful writes (PUT and POST answered 2xx).
	Writes int
	// Webhooks counts user events queued for delivery, delivered (2xx),
	// and given up on after every attempt.
	Webhooks struct{ Queued, Delivered, Failed int }
	// Faults counts injected faults served, from InjectFaults and from Chaos.
	Faults int
}

// Chaos injects faults at random, for drills; the zero value injects nothing.
type Chaos struct {
	// Unavailable is the share, from 0 to 1, of authenticated requests answered 503
	// with the maintenance body {"status":"Maintenance in progress"}, as InjectFaults
	// does for 503. Like InjectFaults it strikes after rate limiting and authentication,
	// and a pending injected fault takes precedence.
	Unavailable float64
	// Seed seeds the randomness: a seed and a sequence of requests (one at a time)
	// give the same faults on every run.
	Seed uint64
}

// Server is the simulated API. Create it with New.
type Server struct {
	opts Options

	mu      sync.Mutex
	users   map[string]*User // by slug
	order   []string         // slugs in insertion order; the stable order of Users
	seq     map[string]int   // slug → insertion sequence, the final sort tie-break
	nextSeq int
	// gen counts the users stored (storeLocked): lists, the sorted users a
	// list query matches, are kept until it moves, so that paging through
	// a million users does not filter and sort them at every page.
	gen   int
	lists map[listQuery]listed
	// byEmail (lower-cased) and byMobile index the users, deleted ones
	// included, as storeLocked keeps them.
	byEmail  map[string]string
	byMobile map[string]string
	fields   []Field
	stats    Stats
	windows  map[string]*window // per bucket (API key, or address without one)
	faults   int
	faultSC  int
	chaos    Chaos
	// distinctSeconds moves an edit made within its user's last second on
	// to the next (SetDistinctSeconds).
	distinctSeconds bool
	rng             *rand.Rand    // Chaos's randomness
	stalled         chan struct{} // closed by Resume; nil when not stalled
	hooks           hooks
	// beforeUpdate runs as a PUT /user/{slug} arrives (BeforeUpdate).
	beforeUpdate func(slug string)
}

type window struct {
	start time.Time
	count int
}

// New returns a Server with no users and no fields.
func New(opts Options) *Server {
	if opts.RateLimit > 0 && opts.RateWindow <= 0 {
		opts.RateWindow = DefaultRateWindow
	}
	keys := make(map[string]bool, len(opts.Keys))
	for k, v := range opts.Keys {
		keys[k] = v
	}
	opts.Keys = keys
	s := &Server{
		opts:    opts,
		users:   map[string]*User{},
		seq:     map[string]int{},
		windows: map[string]*window{},
		stats:   Stats{ByRoute: map[string]int{}},
		rng:     rand.New(rand.NewPCG(0, chaosStream)),
	}
	s.hooks.target = opts.Webhook
	return s
}

// chaosStream is the second PCG word, fixed so that a seed alone decides the sequence.
const chaosStream = 0xaf5

// SetDistinctSeconds makes an edit (Edit) made within the second of its
// user's last version carry the next second, as the sandbox did before it
// followed Award Force (whose `updated` two quick edits share). Off by
// default; a test whose figures assume one version a second turns it on.
func (s *Server) SetDistinctSeconds(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.distinctSeconds = on
}

// SetChaos replaces the random faults in force (the zero value turns them off) and
// restarts the random sequence from c.Seed. It may be called at any time, concurrently
// with requests. A share outside [0, 1] panics: that is a bug in the drill.
func (s *Server) SetChaos(c Chaos) {
	if math.IsNaN(c.Unavailable) || c.Unavailable < 0 || c.Unavailable > 1 {
		panic(fmt.Sprintf("afsim: Chaos.Unavailable = %v is not a share between 0 and 1", c.Unavailable))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chaos = c
	s.rng = rand.New(rand.NewPCG(c.Seed, chaosStream))
}

// AddField adds a user profile field definition, replacing one with the same slug.
// It panics if a non-empty slug is not 8 ASCII letters: seeding mistakes should be loud.
func (s *Server) AddField(f Field) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Slug == "" {
		f.Slug = s.newSlugLocked()
	}
	if !slugPattern.MatchString(f.Slug) {
		panic(fmt.Sprintf("afsim: field slug %q is not 8 ASCII letters", f.Slug))
	}
	if f.Type == "" {
		f.Type = "text"
	}
	switch {
	case f.hasOptions() && len(f.Options) == 0:
		panic(fmt.Sprintf("afsim: %s field %s has no options", f.Type, f.Slug))
	case !f.hasOptions() && len(f.Options) > 0:
		panic(fmt.Sprintf("afsim: %s field %s cannot have options; only %s and %s fields do", f.Type, f.Slug, FieldTypeDropDown, FieldTypeRadio))
	}
	f.Options = slices.Clone(f.Options)
	for i := range s.fields {
		if s.fields[i].Slug == f.Slug {
			s.fields[i] = f
			return
		}
	}
	s.fields = append(s.fields, f)
}

// AddUser seeds a user and returns it as stored. An empty slug gets a random 8-letter
// one, a zero CreatedAt becomes now, and a zero Updated becomes CreatedAt (both in UTC,
// to the second, as the API serves them). A user with the same slug is replaced.
// It panics on what Award Force would not hold: an invalid slug, an email or mobile
// already used by another user, a mobile that is not E.164, a field slug not added
// with AddField, or a drop-down or radio value that is not one of the field's options.
// Seeding mistakes should be loud, not silently invisible.
func (s *Server) AddUser(u User) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u = cloneUser(u)
	if u.Slug == "" {
		u.Slug = s.newSlugLocked()
	}
	if err := s.checkUserLocked(&u); err != "" {
		panic("afsim: " + err)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	u.CreatedAt = u.CreatedAt.UTC().Truncate(time.Second)
	if u.Updated.IsZero() {
		u.Updated = u.CreatedAt
	}
	u.Updated = u.Updated.UTC().Truncate(time.Second)
	s.storeLocked(&u)
	return cloneUser(u)
}

// User returns a copy of the user with the given slug, deleted or not.
func (s *Server) User(slug string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[slug]
	if !ok {
		return User{}, false
	}
	return cloneUser(*u), true
}

// Users returns copies of all users, deleted ones included, in insertion order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.order))
	for _, slug := range s.order {
		out = append(out, cloneUser(*s.users[slug]))
	}
	return out
}

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByRoute = make(map[string]int, len(s.stats.ByRoute))
	for k, v := range s.stats.ByRoute {
		st.ByRoute[k] = v
	}
	return st
}

// ResetStats zeroes the request counters. Rate-limit windows are not reset.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByRoute: map[string]int{}}
}

// InjectFaults makes the next n authenticated requests fail with status (an error status
// such as 429, 500 or 503), replacing any faults still pending; n <= 0 clears them.
// A 429 carries Retry-After: 1 (a drill should not wait out a real window), a 503 the
// maintenance body {"status":"Maintenance in progress"}, anything else the usual
// {"message","status_code"} error body. Faults strike after rate limiting and
// authentication, so they consume the key's quota and carry X-RateLimit-* headers.
func (s *Server) InjectFaults(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		s.faults, s.faultSC = 0, 0
		return
	}
	s.faults, s.faultSC = n, status
}

// BeforeUpdate sets f to run as each PUT /user/{slug} arrives, before
// Award Force applies it (nil: none). A drill's way to have a person edit
// their profile at the very moment an API write reaches it: f may call
// Edit, and the PUT then applies over the edit and answers with both.
func (s *Server) BeforeUpdate(f func(slug string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.beforeUpdate = f
}

// Stall makes the requests that arrive from now on hang, as behind a stalled
// proxy, until Resume or until their callers give up (they are counted in
// Stats as they arrive). For drills: what a sync or a backfill shows, and
// does, while Award Force stops answering.
func (s *Server) Stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled == nil {
		s.stalled = make(chan struct{})
	}
}

// Resume lets the stalled requests, and new ones, through.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stalled != nil {
		close(s.stalled)
		s.stalled = nil
	}
}

// ServeHTTP answers one API request. The checks run in this order: a stall, latency, rate limit
// (429), key (401 missing, 403 unknown), injected faults then Chaos, Accept (400), route (404/405),
// write access (403), then the endpoint itself. Limiting first puts X-RateLimit-* on
// every response and throttles key guessing too.
// Unconfirmed: the real API's order of these checks is undocumented.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := route(r)
	s.mu.Lock()
	now := time.Now()
	if s.stats.Requests == 0 {
		s.stats.First = now
	}
	s.stats.Last = now
	s.stats.Requests++
	s.stats.ByRoute[rt.name]++
	stalled := s.stalled
	s.mu.Unlock()
	if stalled != nil {
		select {
		case <-stalled:
		case <-r.Context().Done():
			return // the caller has gone
		}
	}

	if s.opts.Latency > 0 && !latency.Wait(r.Context(), s.opts.Latency) {
		return // the caller has gone; nobody would read an answer
	}

	key := r.Header.Get("x-api-key")
	if !s.admit(w, bucket(r, key)) {
		return
	}
	if key == "" {
		s.writeError(w, http.StatusUnauthorized, "Unauthenticated.", nil)
		return
	}
	canWrite, known := s.opts.Keys[key]
	if !known {
		s.writeError(w, http.StatusForbidden, "Invalid API key.", nil)
		return
	}
	if s.injectFault(w) {
		return
	}
	if r.Header.Get("Accept") != AcceptHeader {
		// The docs also describe an XML variant (…v2.3+xml); the simulator speaks JSON only.
		s.writeError(w, http.StatusBadRequest,
			"Invalid Accept header: use "+AcceptHeader+".", nil)
		return
	}
	if rt.handler == nil {
		if len(rt.allow) > 0 {
			w.Header().Set("Allow", strings.Join(rt.allow, ", "))
			s.writeError(w, http.StatusMethodNotAllowed, "Method not allowed.", nil)
			return
		}
		s.writeError(w, http.StatusNotFound, "Not found.", nil)
		return
	}
	if rt.write && !canWrite {
		s.writeError(w, http.StatusForbidden, "This API key is read only.", nil)
		return
	}
	rt.handler(s, w, r, rt.param)
}

// bucket names the rate-limit bucket: the presented key, known or not, or the client's
// address when no key was sent.
func bucket(r *http.Request, key string) string {
	if key != "" {
		return "key:" + key
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// admit applies the per-key fixed-window rate limit, sets the X-RateLimit-* headers and
// answers 429 when the window is spent. It reports whether the request may proceed.
func (s *Server) admit(w http.ResponseWriter, bucket string) bool {
	if s.opts.RateLimit <= 0 {
		return true
	}
	s.mu.Lock()
	t := time.Now()
	win := s.windows[bucket]
	if win == nil || !t.Before(win.start.Add(s.opts.RateWindow)) {
		win = &window{start: t}
		s.windows[bucket] = win
	}
	reset := win.start.Add(s.opts.RateWindow)
	limited := win.count >= s.opts.RateLimit
	if !limited {
		win.count++
	} else {
		s.stats.RateLimited++
	}
	remaining := s.opts.RateLimit - win.count
	s.mu.Unlock()

	h := w.Header()
	h.Set("X-RateLimit-Limit", fmt.Sprint(s.opts.RateLimit))
	h.Set("X-RateLimit-Remaining", fmt.Sprint(max(remaining, 0)))
	// Unconfirmed: the docs give X-RateLimit-Reset as an integer without a unit. We send
	// the Unix time (seconds) at which the window resets, as Laravel's throttle does.
	h.Set("X-RateLimit-Reset", fmt.Sprint(reset.Unix()))
	if limited {
		secs := int((reset.Sub(t) + time.Second - 1) / time.Second)
		h.Set("Retry-After", fmt.Sprint(max(secs, 1)))
		s.writeError(w, http.StatusTooManyRequests, "Too Many Attempts.", nil)
		return false
	}
	return true
}

// injectFault serves a pending injected fault, or a Chaos one, reporting whether it did.
func (s *Server) injectFault(w http.ResponseWriter) bool {
	s.mu.Lock()
	var status int
	switch {
	case s.faults > 0:
		s.faults--
		status = s.faultSC
	case s.chaos.Unavailable > 0 && s.rng.Float64() < s.chaos.Unavailable:
		status = http.StatusServiceUnavailable
	default:
		s.mu.Unlock()
		return false
	}
	s.stats.Faults++
	if status == http.StatusTooManyRequests {
		s.stats.RateLimited++
	}
	s.mu.Unlock()

	switch status {
	case http.StatusServiceUnavailable:
		writeJSON(w, status, map[string]any{"status": "Maintenance in progress"})
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", fmt.Sprint(injectedRetryAfter))
		s.writeError(w, status, "Too Many Attempts.", nil)
	case http.StatusInternalServerError:
		s.writeError(w, status, "Server Error", nil)
	default:
		s.writeError(w, status, http.StatusText(status), nil)
	}
	return true
}

// writeError writes the API's error body; fieldErrors (422 only) become "errors".
func (s *Server) writeError(w http.ResponseWriter, status int, msg string, fieldErrors map[string][]string) {
	body := map[string]any{"message": msg, "status_code": status}
	if fieldErrors != nil {
		body["errors"] = fieldErrors
	}
	writeJSON(w, status, body)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

func (s *Server) newSlugLocked() string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for {
		b := make([]byte, 8)
		for i := range b {
			b[i] = letters[rand.IntN(len(letters))]
		}
		slug := string(b)
		if _, taken := s.users[slug]; !taken && s.fieldLocked(slug) == nil {
			return slug
		}
	}
}

// storeLocked adds u, or replaces the user of its slug (users are
// replaced, never changed in place: a list kept holds them as they were).
func (s *Server) storeLocked(u *User) {
	if s.byEmail == nil {
		s.byEmail, s.byMobile = map[string]string{}, map[string]string{}
	}
	if old, exists := s.users[u.Slug]; !exists {
		s.order = append(s.order, u.Slug)
		s.seq[u.Slug] = s.nextSeq
		s.nextSeq++
	} else {
		if k := strings.ToLower(old.Email); s.byEmail[k] == u.Slug {
			delete(s.byEmail, k)
		}
		if s.byMobile[old.Mobile] == u.Slug {
			delete(s.byMobile, old.Mobile)
		}
	}
	s.users[u.Slug] = u
	if u.Email != "" {
		if k := strings.ToLower(u.Email); s.byEmail[k] == "" {
			s.byEmail[k] = u.Slug
		}
	}
	if u.Mobile != "" && s.byMobile[u.Mobile] == "" {
		s.byMobile[u.Mobile] = u.Slug
	}
	s.gen++
}

// checkUserLocked returns why Award Force could not hold u as it is, or "".
func (s *Server) checkUserLocked(u *User) string {
	if !slugPattern.MatchString(u.Slug) {
		return fmt.Sprintf("user slug %q is not 8 ASCII letters", u.Slug)
	}
	if u.Email != "" {
		if other := s.userByEmailLocked(u.Email); other != nil && other.Slug != u.Slug {
			return fmt.Sprintf("email %q already belongs to user %s", u.Email, other.Slug)
		}
	}
	if u.Mobile != "" {
		if !mobilePattern.MatchString(u.Mobile) {
			return fmt.Sprintf("user %s: mobile %q is not E.164 (e.g. +14155552671)", u.Slug, u.Mobile)
		}
		if other := s.userByMobileLocked(u.Mobile); other != nil && other.Slug != u.Slug {
			return fmt.Sprintf("mobile %q already belongs to user %s", u.Mobile, other.Slug)
		}
	}
	for _, slug := range sortedKeys(u.Fields) {
		f := s.fieldLocked(slug)
		if f == nil {
			return fmt.Sprintf("user %s has a value for field %q: call AddField first", u.Slug, slug)
		}
		if !f.allows(u.Fields[slug]) {
			return fmt.Sprintf("user %s: %q is not one of the options of field %s %v", u.Slug, u.Fields[slug], slug, f.Options)
		}
	}
	return ""
}

// userByMobileLocked finds the user holding mobile, compared as stored: E.164 has
// one spelling per number.
func (s *Server) userByMobileLocked(mobile string) *User {
	if slug, ok := s.byMobile[mobile]; ok && mobile != "" {
		return s.users[slug]
	}
	return nil
}

// userByEmailLocked finds the user holding email, case aside.
func (s *Server) userByEmailLocked(email string) *User {
	if slug, ok := s.byEmail[strings.ToLower(email)]; ok && email != "" {
		return s.users[slug]
	}
	return nil
}

func (s *Server) fieldLocked(slug string) *Field {
	for i := range s.fields {
		if s.fields[i].Slug == slug {
			return &s.fields[i]
		}
	}
	return nil
}

func cloneUser(u User) User {
	u.Roles = append([]string(nil), u.Roles...)
	if u.Fields != nil {
		f := make(map[string]string, len(u.Fields))
		for k, v := range u.Fields {
			f[k] = v
		}
		u.Fields = f
	}
	return u
}

// sortedKeys returns m's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

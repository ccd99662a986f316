// Package sfsim is an in-memory simulator of the Salesforce REST API, for
// demos, tests and fault drills.
//
// It is faithful to the platform behaviour the product relies on (see
// shared/reference/salesforce-api.md) rather than convenient for any one
// client: OAuth client-credentials and JWT-bearer token flows without
// expires_in, 401 INVALID_SESSION_ID on expired sessions, a strict SOQL subset
// with paging, record create/update/upsert/delete with the platform's
// validation error codes, sObject Collections with allOrNone and per-record
// statusCode errors, the Composite resource (subrequests in order, one API
// call, at most 25 of them and 5 queries or Collections), describe, limits, the Sforce-Limit-Info header and the
// daily request allocation. External-ID upserts match case-sensitively
// unless the field is Unique and case-insensitive, and only a Unique field
// stops two concurrent upserts from creating two records (Options.WriteTime).
// Restricted picklists (Lead Status) refuse values they do not list with
// INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST; duplicate rules
// (Options.DuplicateRules) refuse duplicates with DUPLICATES_DETECTED naming
// the matching records, Alert ones unless the request carries
// Sforce-Duplicate-Rule-Header: allowSave=true.
//
// It models the faults a reliability drill needs, each counted in
// Stats.Faults:
//
//   - whole-request errors without effect: InjectFaults, and Chaos.Transient
//     (503 SERVER_UNAVAILABLE, 500 UNKNOWN_EXCEPTION, 403
//     REQUEST_LIMIT_EXCEEDED ConcurrentRequests; 503 from the token
//     endpoint);
//   - per-record errors in a call whose other records succeed, such as
//     UNABLE_TO_LOCK_ROW: InjectRecordFaults and Chaos.RecordLock;
//   - lost responses, the write committed and the connection dropped:
//     InjectLostResponses and Chaos.LostResponse;
//   - late commits, the connection dropped at once and the write committed
//     later, no later than Options.MaxRequestTime after it arrived:
//     InjectLateCommits and Chaos.LateCommit;
//   - expired sessions (ExpireSessions, Options.SessionTTL) and the daily
//     allocation (Options.DailyLimit).
//
// As on the platform, a write goes on after its client hangs up: one that
// has arrived is carried out even if the client disconnects during the
// simulated latency.
//
// It models the ways the org changes on its own, through people working in
// Salesforce rather than the API:
//
//   - every record carries CreatedById and LastModifiedById: the
//     integration user (IntegrationUserID) for API writes, OtherUserID for
//     Insert and the admin actions below, so a sync can ignore its own
//     writes;
//   - EditAs, DeleteAs and Merge (Contact, Lead and Account) change,
//     delete and merge records as OtherUserID;
//   - deleted records, by the API or DeleteAs, and merged ones stay 15
//     days in the recycle bin: IsDeleted true, MasterRecordId naming a
//     merge's survivor. Queries and reads by id no longer see them (404
//     ENTITY_IS_DELETED); GET /queryAll does;
//   - GET /sobjects/{Obj}/updated/ and /deleted/ list what changed in a
//     window, with a latestDateCovered that stays before any write still in
//     progress; SOQL compares date-times, as in
//     WHERE SystemModstamp > 2026-12-01T04:05:06Z.
//
// It depends only on the standard library.
package sfsim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/afsync/afsync/sandbox/internal/latency"
)

// Options configures a Server. The zero value is usable but accepts no
// credentials.
type Options struct {
	// ClientID and ClientSecret are the accepted client-credentials pair.
	// An empty ClientID disables the client-credentials flow.
	ClientID, ClientSecret string
	// JWTConsumerKey and JWTUsername are the accepted JWT bearer iss and sub.
	JWTConsumerKey, JWTUsername string
	// JWTPublicKey verifies RS256 assertions; nil disables the JWT flow.
	JWTPublicKey *rsa.PublicKey
	// SessionTTL is how long an access token lives (default 2h).
	SessionTTL time.Duration
	// Latency is added to every request, token requests included.
	Latency time.Duration
	// DailyLimit is the api-usage maximum (default 100000).
	DailyLimit int
	// QueryPageSize is the number of records per query page (default 2000).
	QueryPageSize int
	// DuplicateRules are the org's active duplicate rules (see
	// DuplicateRule); none by default. New panics on a rule it cannot
	// model.
	DuplicateRules []DuplicateRule
	// MaxRequestTime is the longest the org works on a request after it
	// arrives (default 10 minutes). A write never commits later than
	// MaxRequestTime after its arrival, late commits included: it is the
	// commit horizon a client must wait out before it re-checks a write
	// whose answer it lost. To keep that promise despite timer jitter, work
	// stops a little before it (a tenth of MaxRequestTime, at most 10ms): a
	// request that reaches the point of doing its work after that, through
	// Latency or WriteTime, is answered 500 REQUEST_RUNNING_TOO_LONG with
	// nothing written, and a late commit lands then at the latest.
	MaxRequestTime time.Duration
	// WriteTime is how long the transaction of an upsert (single or
	// collection) that found no match runs before it inserts; 0, the
	// default, finds and inserts atomically. While it runs the lock is
	// released, so two concurrent upserts of one value can both find no
	// match: at insert time a Unique field refuses the later one with
	// DUPLICATE_VALUE, any other field gets two records.
	WriteTime time.Duration
}

// Stats counts what clients did since New or the last ResetStats.
type Stats struct {
	// APICalls counts authenticated API requests that were charged to the
	// daily allocation, including ones that then failed (injected faults,
	// validation errors). Token requests and rejected sessions are not
	// charged.
	APICalls int
	// Queries counts query and queryAll requests, first pages and
	// nextRecordsUrl pages.
	Queries int
	// QueriesFrom counts the query and queryAll requests (first pages) by
	// the object they read, by its canonical name, such as "Account".
	QueriesFrom map[string]int
	// Writes counts records created, updated or deleted and committed.
	Writes int
	// ByRoute counts charged API calls by route, such as
	// "POST /composite/sobjects", "PATCH /sobjects/Contact/{id}",
	// "PATCH /sobjects/Contact/AwardForce_Slug__c/{value}", "GET /query" and
	// "GET /query/{locator}", "GET /queryAll", "GET /queryAll/{locator}",
	// "GET /sobjects/Contact/updated" and "GET /sobjects/Contact/deleted"
	// (with or without the trailing slash). Object and field names appear
	// as the client sent them; ids, external id values, locators and
	// query parameters are templated or left out.
	ByRoute map[string]int
	// TokenRequests counts requests to the token endpoint, failed ones too.
	TokenRequests int
	// Faults counts every injected fault by kind: "transient",
	// "record_lock", "lost_response", "late_commit" and "token_unavailable"
	// for Chaos and the lost-response and late-commit injections; the
	// errorCode of InjectFaults and the statusCode of InjectRecordFaults.
	Faults map[string]int
}

// Server is the simulator. It is an http.Handler and safe for concurrent use.
type Server struct {
	opts    Options
	objects map[string]*objectDef // by lower-case name
	rules   map[string][]dupRule  // the duplicate rules, by canonical object name
	sigKey  []byte
	orgID   string
	userID  string

	mu     sync.Mutex
	tables map[string]*table // by canonical object name
	seq    uint64
	tokens map[string]time.Time
	used   int
	stats  Stats
	faults []fault
	// lostResponses counts the writes still to commit without an answer.
	lostResponses int
	lateCommits   []lateCommit
	recordFaults  []recordFault
	chaos         Chaos
	rng           *rand.Rand // Chaos's randomness
	cursors       map[string]*cursor
	cursorID      uint64
	// inflight holds the arrival of every write still in progress: a late
	// commit not yet carried out, a transaction waiting out WriteTime.
	// The replication resources cover no later than the earliest.
	inflight map[*call]time.Time

	// forceScan makes queries scan every record instead of using the
	// indexes; tests set it to compare the two.
	forceScan atomic.Bool
}

// orgs numbers the simulated orgs of the process: each Server is an org of
// its own, with an id no other has, as real orgs' are.
var orgs atomic.Uint64

// New returns a Server with an empty org. The instance_url it hands out is
// derived from each token request's Host header, with the http scheme.
func New(opts Options) *Server {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 2 * time.Hour
	}
	if opts.DailyLimit <= 0 {
		opts.DailyLimit = 100000
	}
	if opts.QueryPageSize <= 0 {
		opts.QueryPageSize = 2000
	}
	if opts.MaxRequestTime <= 0 {
		opts.MaxRequestTime = 10 * time.Minute
	}
	opts.WriteTime = max(opts.WriteTime, 0)
	s := &Server{
		opts:     opts,
		objects:  schema(),
		sigKey:   randomBytes(32),
		orgID:    makeID("00D", orgs.Add(1)),
		userID:   makeID("005", 1),
		tables:   map[string]*table{},
		tokens:   map[string]time.Time{},
		cursors:  map[string]*cursor{},
		inflight: map[*call]time.Time{},
		stats:    newStats(),
		rng:      rand.New(rand.NewPCG(0, chaosStream)),
	}
	for _, o := range s.objects {
		s.tables[o.Name] = newTable(o)
	}
	s.rules = s.dupRules(opts.DuplicateRules)
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := crand.Read(b); err != nil {
		panic(err)
	}
	return b
}

func newStats() Stats {
	return Stats{ByRoute: map[string]int{}, Faults: map[string]int{}, QueriesFrom: map[string]int{}}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByRoute = maps.Clone(s.stats.ByRoute)
	st.Faults = maps.Clone(s.stats.Faults)
	st.QueriesFrom = maps.Clone(s.stats.QueriesFrom)
	return st
}

// ResetStats zeroes the counters. It does not restore the daily allocation.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = newStats()
}

// SpendAllocation uses up the org's daily API allocation: every API request
// is then answered 403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit
// exceeded." until RestoreAllocation.
func (s *Server) SpendAllocation() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = s.opts.DailyLimit
}

// RestoreAllocation gives the org its whole daily allocation back, as the
// rolling 24-hour window does once old requests have aged out.
func (s *Server) RestoreAllocation() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = 0
}

// ExpireSessions invalidates every token issued so far: each then answers
// 401 INVALID_SESSION_ID, as after a session timeout or a revocation.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// reply is a response computed under the lock and written after it.
type reply struct {
	status int
	body   any // marshalled as JSON unless it is a rawText
	header http.Header
	// drop answers by closing the connection instead.
	drop bool
	// then, when set, is the rest of a transaction that runs for
	// Options.WriteTime without the lock: the reply is then's, called under
	// the lock once that time has passed.
	then func() reply
}

type rawText string

func errReply(status int, code, message string, fields ...string) reply {
	return reply{status: status, body: []map[string]any{apiError{Code: code, Message: message, Fields: fields}.top()}}
}

func errsReply(status int, errs []apiError) reply {
	out := make([]map[string]any, len(errs))
	for i, e := range errs {
		out[i] = e.top()
	}
	return reply{status: status, body: out}
}

func notFound() reply {
	return errReply(http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
}

const maxURI = 16384

var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]$`)

// maxBody bounds a request body.
const maxBody = 64 << 20

// isWrite reports whether r is an API write: one that goes on after its
// client hangs up, and that late commits and lost responses strike.
func isWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPatch, http.MethodDelete:
		return strings.HasPrefix(r.URL.Path, "/services/data/")
	}
	return false
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrival := time.Now()
	// A request has arrived once its body has: read it before the latency,
	// so that a write can be carried out after its client has gone.
	var body []byte
	var bodyErr error
	if r.Body != nil {
		body, bodyErr = io.ReadAll(io.LimitReader(r.Body, maxBody))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if s.opts.Latency > 0 {
		ctx := r.Context()
		if isWrite(r) {
			// Salesforce goes on with a request after the client
			// disconnects; only a read gives up with its caller.
			ctx = context.WithoutCancel(ctx)
		}
		if !latency.Wait(ctx, s.opts.Latency) {
			return
		}
	}
	rep := s.serve(r, body, bodyErr, arrival)
	if rep.drop {
		dropConnection(w)
		return
	}
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if t, ok := rep.body.(rawText); ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, string(t))
		return
	}
	if rep.body == nil {
		w.WriteHeader(rep.status)
		return
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(rep.status)
	_, _ = w.Write(b)
}

// call is an API request, parsed, as route needs it. It holds no reference
// to the http.Request, so that a late commit can run it after the handler
// has returned.
type call struct {
	method  string
	query   url.Values
	version string
	segs    []string
	body    []byte
	pq      *preparedQuery // the prepared query of a GET /query or /queryAll
	arrival time.Time
	dup     dupHeader
}

// horizon returns the moment after which a request that arrived at arrival
// may no longer do its work (see Options.MaxRequestTime).
func (s *Server) horizon(arrival time.Time) time.Time {
	return arrival.Add(s.opts.MaxRequestTime - min(s.opts.MaxRequestTime/10, 10*time.Millisecond))
}

func tooLong() reply {
	return errReply(http.StatusInternalServerError, "REQUEST_RUNNING_TOO_LONG", "Your request was running for too long, and has been stopped.")
}

func (s *Server) serve(r *http.Request, body []byte, bodyErr error, arrival time.Time) reply {
	// The platform's front end refuses long URIs before anything else.
	if len(r.RequestURI) > maxURI {
		return reply{status: http.StatusRequestURITooLong, body: rawText("414 Request-URI Too Large\n")}
	}
	path := r.URL.EscapedPath()
	if path == "/services/oauth2/token" {
		return s.token(r)
	}
	const prefix = "/services/data/"
	if !strings.HasPrefix(path, prefix) {
		return notFound()
	}
	version, rest, _ := strings.Cut(path[len(prefix):], "/")
	if !versionRE.MatchString(version) {
		return notFound()
	}
	var segs []string
	if rest != "" {
		for _, raw := range strings.Split(rest, "/") {
			seg, err := url.PathUnescape(raw)
			if err != nil {
				return notFound()
			}
			segs = append(segs, seg)
		}
	}
	if bodyErr != nil {
		return errReply(http.StatusBadRequest, "JSON_PARSER_ERROR", "could not read request body")
	}
	c := &call{method: r.Method, query: r.URL.Query(), version: version, segs: segs, body: body, arrival: arrival, dup: parseDupHeader(version, r.Header)}
	// A query is parsed and resolved against the (immutable) schema before
	// the lock; its errors are still answered only after the checks below.
	if r.Method == http.MethodGet && len(segs) == 1 && (segs[0] == "query" || segs[0] == "queryAll") {
		c.pq = s.prepareQuery(version, c.query.Get("q"), segs[0] == "queryAll")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.authenticated(r) {
		return errReply(http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
	}
	h := http.Header{}
	if s.used >= s.opts.DailyLimit {
		rep := errReply(http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		h.Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", s.used, s.opts.DailyLimit))
		rep.header = h
		return rep
	}
	s.used++
	s.stats.APICalls++
	s.stats.ByRoute[routeKey(r.Method, segs)]++
	h.Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", s.used, s.opts.DailyLimit))
	horizon := s.horizon(arrival)
	write := isWrite(r)
	rep, faulted := s.requestFault()
	switch {
	case faulted:
	case time.Now().After(horizon):
		rep = tooLong()
	default:
		if write {
			if delay, late := s.takeLateCommit(); late {
				s.commitLater(c, horizon, delay)
				return reply{drop: true}
			}
		}
		rep = s.execute(c, horizon)
		if write && rep.status < 300 && s.takeLostResponse() {
			// The write is committed; the answer never arrives.
			return reply{drop: true}
		}
	}
	if rep.header != nil {
		for k, v := range rep.header {
			h[k] = v
		}
	}
	rep.header = h
	return rep
}

// execute routes c and runs the transaction to its end; the caller holds
// s.mu, which execute releases while a transaction waits out
// Options.WriteTime. A transaction that would go on past horizon is
// stopped with nothing more written.
func (s *Server) execute(c *call, horizon time.Time) reply {
	rep := s.route(c)
	if _, late := s.inflight[c]; rep.then != nil && !late {
		s.inflight[c] = c.arrival
		defer delete(s.inflight, c)
	}
	for rep.then != nil {
		then := rep.then
		s.mu.Unlock()
		time.Sleep(s.opts.WriteTime)
		s.mu.Lock()
		if time.Now().After(horizon) {
			return tooLong()
		}
		rep = then()
	}
	return rep
}

// commitLater carries out a write whose connection is dropped now, delay
// later but no later than horizon, against the store as it is then; the
// caller holds s.mu. Nobody hears of the outcome.
func (s *Server) commitLater(c *call, horizon time.Time, delay time.Duration) {
	wait := min(delay, time.Until(horizon))
	s.inflight[c] = c.arrival
	time.AfterFunc(wait, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		// Due by horizon, it starts now even if the timer fired a little
		// late (the slack in horizon absorbs that); only a WriteTime wait
		// that would end past horizon stops it.
		s.execute(c, horizon)
		delete(s.inflight, c)
	})
}

// routeKey names a route for Stats.ByRoute.
func routeKey(method string, segs []string) string {
	p := append([]string(nil), segs...)
	switch {
	case len(p) == 2 && (p[0] == "query" || p[0] == "queryAll"):
		p[1] = "{locator}"
	case replication(p) != "":
		p = p[:3]
	case len(p) == 3 && p[0] == "sobjects" && p[2] != "describe":
		p[2] = "{id}"
	case len(p) == 4 && p[0] == "sobjects":
		p[3] = "{value}"
	}
	return method + " /" + strings.Join(p, "/")
}

// route answers an authenticated, charged request; the caller holds s.mu.
func (s *Server) route(c *call) reply {
	m, version, segs, body := c.method, c.version, c.segs, c.body
	sv := &save{version: version, dup: c.dup}
	switch {
	case len(segs) == 1 && segs[0] == "limits":
		if m != http.MethodGet {
			return methodNotAllowed(m, "GET")
		}
		return reply{status: 200, body: map[string]any{
			"DailyApiRequests": map[string]int{"Max": s.opts.DailyLimit, "Remaining": max(0, s.opts.DailyLimit-s.used)},
		}}
	case len(segs) == 1 && (segs[0] == "query" || segs[0] == "queryAll"):
		if m != http.MethodGet {
			return methodNotAllowed(m, "GET")
		}
		s.stats.Queries++
		if c.pq != nil && c.pq.obj != nil {
			s.stats.QueriesFrom[c.pq.obj.Name]++
		}
		return s.query(c.pq)
	case len(segs) == 2 && (segs[0] == "query" || segs[0] == "queryAll"):
		if m != http.MethodGet {
			return methodNotAllowed(m, "GET")
		}
		s.stats.Queries++
		return s.queryMore(segs[1])
	case len(segs) >= 2 && segs[0] == "sobjects":
		o := s.objects[strings.ToLower(segs[1])]
		if o == nil {
			return notFound()
		}
		if kind := replication(segs); kind != "" {
			if m != http.MethodGet {
				return methodNotAllowed(m, "GET")
			}
			return s.replicate(o, kind, c.query)
		}
		switch len(segs) {
		case 2:
			if m != http.MethodPost {
				return methodNotAllowed(m, "POST")
			}
			return s.create(sv, o, body)
		case 3:
			if segs[2] == "describe" {
				if m != http.MethodGet {
					return methodNotAllowed(m, "GET")
				}
				return reply{status: 200, body: o.describe()}
			}
			switch m {
			case http.MethodGet:
				return s.get(version, o, segs[2], c.query.Get("fields"))
			case http.MethodPatch:
				return s.update(sv, o, segs[2], body)
			case http.MethodDelete:
				return s.delete(o, segs[2])
			}
			return methodNotAllowed(m, "GET,PATCH,DELETE")
		case 4:
			switch m {
			case http.MethodPatch:
				return s.upsert(sv, o, segs[2], segs[3], body, c.query.Get("updateOnly") == "true")
			case http.MethodGet:
				return s.getByExternalID(version, o, segs[2], segs[3])
			}
			return methodNotAllowed(m, "GET,PATCH")
		}
	case len(segs) == 1 && segs[0] == "composite":
		return s.composite(c)
	case len(segs) == 2 && segs[0] == "composite" && segs[1] == "sobjects":
		switch m {
		case http.MethodPost:
			return s.collection(sv, opCreate, nil, nil, body)
		case http.MethodPatch:
			return s.collection(sv, opUpdate, nil, nil, body)
		}
		return methodNotAllowed(m, "POST,PATCH")
	case len(segs) == 4 && segs[0] == "composite" && segs[1] == "sobjects":
		if m != http.MethodPatch {
			return methodNotAllowed(m, "PATCH")
		}
		o := s.objects[strings.ToLower(segs[2])]
		if o == nil {
			return notFound()
		}
		f := o.field(segs[3])
		if f == nil || !(f.ExternalID || f.Name == "Id") {
			return errReply(http.StatusNotFound, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+segs[3])
		}
		return s.collection(sv, opUpsert, o, f, body)
	}
	return notFound()
}

func methodNotAllowed(m, allowed string) reply {
	rep := errReply(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", fmt.Sprintf("HTTP Method '%s' not allowed. Allowed are %s", m, allowed))
	rep.header = http.Header{"Allow": {allowed}}
	return rep
}

// authenticated checks the bearer token; the caller holds s.mu.
func (s *Server) authenticated(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	var tok string
	switch {
	case strings.HasPrefix(auth, "Bearer "):
		tok = auth[len("Bearer "):]
	case strings.HasPrefix(auth, "OAuth "):
		tok = auth[len("OAuth "):]
	default:
		return false
	}
	issued, ok := s.tokens[tok]
	if !ok {
		return false
	}
	if time.Since(issued) >= s.opts.SessionTTL {
		delete(s.tokens, tok)
		return false
	}
	return true
}

func oauthError(code, desc string) reply {
	return reply{status: http.StatusBadRequest, body: map[string]string{"error": code, "error_description": desc}}
}

const jwtGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// token serves POST /services/oauth2/token.
func (s *Server) token(r *http.Request) reply {
	s.mu.Lock()
	s.stats.TokenRequests++
	unavailable := s.draw(s.chaos.Transient)
	if unavailable {
		s.stats.Faults[faultTokenUnavailable]++
	}
	s.mu.Unlock()
	if unavailable {
		// The login servers' front end, not the OAuth endpoint, answers.
		return reply{status: http.StatusServiceUnavailable, body: rawText("Service Unavailable")}
	}
	if r.Method != http.MethodPost {
		return methodNotAllowed(r.Method, "POST")
	}
	if err := r.ParseForm(); err != nil {
		return oauthError("invalid_request", "invalid request body")
	}
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "client_credentials":
		id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		if u, p, ok := r.BasicAuth(); ok && id == "" {
			id, secret = u, p
		}
		if s.opts.ClientID == "" {
			return oauthError("invalid_grant", "no client credentials user enabled")
		}
		if id != s.opts.ClientID || !hmac.Equal([]byte(secret), []byte(s.opts.ClientSecret)) {
			return oauthError("invalid_client", "invalid client credentials")
		}
	case jwtGrant:
		if rep, ok := s.checkAssertion(r.PostForm.Get("assertion")); !ok {
			return rep
		}
	case "":
		return oauthError("unsupported_grant_type", "grant type not supported")
	default:
		return oauthError("unsupported_grant_type", "grant type not supported")
	}
	now := time.Now()
	tok := s.orgID[:15] + "!" + base64.RawURLEncoding.EncodeToString(randomBytes(48))
	s.mu.Lock()
	s.tokens[tok] = now
	s.mu.Unlock()
	instance := "http://" + r.Host
	id := instance + "/id/" + s.orgID + "/" + s.userID
	issued := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, s.sigKey)
	mac.Write([]byte(id + issued))
	return reply{status: http.StatusOK, body: map[string]string{
		"access_token": tok,
		"instance_url": instance,
		"id":           id,
		"token_type":   "Bearer",
		"issued_at":    issued,
		"signature":    base64.StdEncoding.EncodeToString(mac.Sum(nil)),
		"scope":        "api",
	}}
}

var validAudiences = map[string]bool{"https://login.salesforce.com": true, "https://test.salesforce.com": true}

// checkAssertion verifies an RS256 JWT bearer assertion with the standard
// library only.
func (s *Server) checkAssertion(assertion string) (reply, bool) {
	invalid := oauthError("invalid_grant", "invalid assertion")
	if s.opts.JWTPublicKey == nil {
		return invalid, false
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return invalid, false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if !decodeSegment(parts[0], &hdr) || hdr.Alg != "RS256" {
		return invalid, false
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
	}
	if !decodeSegment(parts[1], &claims) {
		return invalid, false
	}
	if claims.Iss == "" || claims.Iss != s.opts.JWTConsumerKey {
		return oauthError("invalid_client", "invalid client identifier"), false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return invalid, false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(s.opts.JWTPublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return invalid, false
	}
	var auds []string
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(claims.Aud, &auds) != nil {
		auds = nil
	}
	audOK := false
	for _, a := range auds {
		if validAudiences[strings.TrimSuffix(a, "/")] {
			audOK = true
		}
	}
	if !audOK {
		return oauthError("invalid_grant", "audience is invalid"), false
	}
	exp, err := claims.Exp.Float64()
	if err != nil || time.Now().After(time.Unix(int64(exp), 0)) {
		return oauthError("invalid_grant", "expired authorization code"), false
	}
	if claims.Sub == "" || claims.Sub != s.opts.JWTUsername {
		return oauthError("invalid_grant", "user hasn't approved this consumer"), false
	}
	return reply{}, true
}

func decodeSegment(seg string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return false
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	return d.Decode(v) == nil
}

// newLocator returns a query locator id.
func (s *Server) newLocator() string {
	s.cursorID++
	return makeID("01g", s.cursorID)
}

// Package sfsim is an in-memory simulator of the Salesforce REST API, for
// demos, tests and fault drills.
//
// It is faithful to the platform behaviour the product relies on (see
// shared/reference/salesforce-api.md) rather than convenient for any one
// client: OAuth client-credentials and JWT-bearer token flows without
// expires_in, 401 INVALID_SESSION_ID on expired sessions, a strict SOQL subset
// with paging, record create/update/upsert/delete with the platform's
// validation error codes, sObject Collections with allOrNone and per-record
// statusCode errors, describe, limits, the Sforce-Limit-Info header and the
// daily request allocation. It depends only on the standard library.
package sfsim

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
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
	// DuplicateRuleEmail makes creating a Contact or Lead whose Email equals
	// (case-insensitively) an existing one of the same object fail with
	// DUPLICATES_DETECTED, like an active blocking duplicate rule.
	DuplicateRuleEmail bool
}

// Stats counts what clients did since New or the last ResetStats.
type Stats struct {
	// APICalls counts authenticated API requests that were charged to the
	// daily allocation, including ones that then failed (injected faults,
	// validation errors). Token requests and rejected sessions are not
	// charged.
	APICalls int
	// Queries counts query requests, first pages and nextRecordsUrl pages.
	Queries int
	// Writes counts records created, updated or deleted and committed.
	Writes int
	// ByRoute counts charged API calls by route, such as
	// "POST /composite/sobjects", "PATCH /sobjects/Contact/{id}",
	// "PATCH /sobjects/Contact/AwardForce_Slug__c/{value}", "GET /query" and
	// "GET /query/{locator}". Object and field names appear as the client
	// sent them; ids, external id values and locators are templated.
	ByRoute map[string]int
	// TokenRequests counts requests to the token endpoint, failed ones too.
	TokenRequests int
}

type fault struct {
	n             int
	status        int
	code, message string
}

// Server is the simulator. It is an http.Handler and safe for concurrent use.
type Server struct {
	opts    Options
	objects map[string]*objectDef // by lower-case name
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
	cursors       map[string]*cursor
	cursorID      uint64

	// forceScan makes queries scan every record instead of using the
	// indexes; tests set it to compare the two.
	forceScan atomic.Bool
}

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
	s := &Server{
		opts:    opts,
		objects: schema(),
		sigKey:  randomBytes(32),
		orgID:   makeID("00D", 1),
		userID:  makeID("005", 1),
		tables:  map[string]*table{},
		tokens:  map[string]time.Time{},
		cursors: map[string]*cursor{},
		stats:   Stats{ByRoute: map[string]int{}},
	}
	for _, o := range s.objects {
		s.tables[o.Name] = newTable(o)
	}
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByRoute = maps.Clone(s.stats.ByRoute)
	return st
}

// ResetStats zeroes the counters. It does not restore the daily allocation.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByRoute: map[string]int{}}
}

// ExpireSessions invalidates every token issued so far: each then answers
// 401 INVALID_SESSION_ID, as after a session timeout or a revocation.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// InjectFaults makes the next n authenticated API requests fail with status
// and a single error {errorCode, message}, e.g. 503 SERVER_UNAVAILABLE or 403
// REQUEST_LIMIT_EXCEEDED "ConcurrentRequests (concurrent API requests) Limit
// exceeded.". Faulted requests are charged like any other. Calls queue up.
func (s *Server) InjectFaults(n int, status int, errorCode, message string) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{n: n, status: status, code: errorCode, message: message})
}

// InjectLostResponses makes the next n successful API writes (POST, PATCH,
// DELETE; token requests are not affected) commit and then drop the connection before answering: the fault
// that makes a naive client create a record twice when it retries.
func (s *Server) InjectLostResponses(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lostResponses += n
}

func (s *Server) takeLostResponse() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lostResponses <= 0 {
		return false
	}
	s.lostResponses--
	return true
}

// reply is a response computed under the lock and written after it.
type reply struct {
	status int
	body   any // marshalled as JSON unless it is a rawText
	header http.Header
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

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Latency > 0 {
		if !latency.Wait(r.Context(), s.opts.Latency) {
			return
		}
	}
	rep := s.serve(r)
	if r.Method != http.MethodGet && rep.status < 300 && strings.HasPrefix(r.URL.Path, "/services/data/") && s.takeLostResponse() {
		// The write is committed; the answer never arrives.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
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

func (s *Server) serve(r *http.Request) reply {
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
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			return errReply(http.StatusBadRequest, "JSON_PARSER_ERROR", "could not read request body")
		}
		body = b
	}
	// A query is parsed and resolved against the (immutable) schema before
	// the lock; its errors are still answered only after the checks below.
	var pq *preparedQuery
	if r.Method == http.MethodGet && len(segs) == 1 && segs[0] == "query" {
		pq = s.prepareQuery(version, r.URL.Query().Get("q"))
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
	var rep reply
	if len(s.faults) > 0 {
		f := &s.faults[0]
		rep = errReply(f.status, f.code, f.message)
		if f.n--; f.n == 0 {
			s.faults = s.faults[1:]
		}
	} else {
		rep = s.route(r, version, segs, body, pq)
	}
	if rep.header != nil {
		for k, v := range rep.header {
			h[k] = v
		}
	}
	rep.header = h
	return rep
}

// routeKey names a route for Stats.ByRoute.
func routeKey(method string, segs []string) string {
	p := append([]string(nil), segs...)
	switch {
	case len(p) == 2 && p[0] == "query":
		p[1] = "{locator}"
	case len(p) == 3 && p[0] == "sobjects" && p[2] != "describe":
		p[2] = "{id}"
	case len(p) == 4 && p[0] == "sobjects":
		p[3] = "{value}"
	}
	return method + " /" + strings.Join(p, "/")
}

// route answers an authenticated, charged request; the caller holds s.mu. pq
// is the prepared query of a GET /query.
func (s *Server) route(r *http.Request, version string, segs []string, body []byte, pq *preparedQuery) reply {
	m := r.Method
	switch {
	case len(segs) == 1 && segs[0] == "limits":
		if m != http.MethodGet {
			return methodNotAllowed(m, "GET")
		}
		return reply{status: 200, body: map[string]any{
			"DailyApiRequests": map[string]int{"Max": s.opts.DailyLimit, "Remaining": max(0, s.opts.DailyLimit-s.used)},
		}}
	case len(segs) == 1 && segs[0] == "query":
		if m != http.MethodGet {
			return methodNotAllowed(m, "GET")
		}
		s.stats.Queries++
		return s.query(pq)
	case len(segs) == 2 && segs[0] == "query":
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
		switch len(segs) {
		case 2:
			if m != http.MethodPost {
				return methodNotAllowed(m, "POST")
			}
			return s.create(version, o, body)
		case 3:
			if segs[2] == "describe" {
				if m != http.MethodGet {
					return methodNotAllowed(m, "GET")
				}
				return reply{status: 200, body: o.describe()}
			}
			switch m {
			case http.MethodGet:
				return s.get(version, o, segs[2], r.URL.Query().Get("fields"))
			case http.MethodPatch:
				return s.update(o, segs[2], body)
			case http.MethodDelete:
				return s.delete(o, segs[2])
			}
			return methodNotAllowed(m, "GET,PATCH,DELETE")
		case 4:
			switch m {
			case http.MethodPatch:
				return s.upsert(version, o, segs[2], segs[3], body, r.URL.Query().Get("updateOnly") == "true")
			case http.MethodGet:
				return s.getByExternalID(version, o, segs[2], segs[3])
			}
			return methodNotAllowed(m, "GET,PATCH")
		}
	case len(segs) == 2 && segs[0] == "composite" && segs[1] == "sobjects":
		switch m {
		case http.MethodPost:
			return s.collection(version, opCreate, nil, nil, body)
		case http.MethodPatch:
			return s.collection(version, opUpdate, nil, nil, body)
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
		return s.collection(version, opUpsert, o, f, body)
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
	s.mu.Unlock()
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

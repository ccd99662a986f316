package sfsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"time"
)

// Chaos injects faults at random, for drills. Each share is a probability
// from 0 (never) to 1 (always); the zero value injects nothing.
//
// Every decision is drawn, under the server's lock, from one PCG source
// seeded with Seed, in the order the server reaches it: a token request
// draws Transient; a charged API request draws Transient; a write that is
// not a transient error then draws LateCommit; each record it writes draws
// RecordLock; and a write answered 2xx draws LostResponse. A draw is made
// only when its share is above 0. So a seed and a sequence of requests
// (one at a time) give the same faults on every run. Count-based injections
// (InjectFaults, InjectLateCommits, InjectRecordFaults,
// InjectLostResponses) take precedence and make no draw.
type Chaos struct {
	// Transient is the share of charged API requests answered, without
	// doing anything, by a transient whole-request error picked at random:
	// 503 SERVER_UNAVAILABLE, 500 UNKNOWN_EXCEPTION or 403
	// REQUEST_LIMIT_EXCEEDED (ConcurrentRequests). The token endpoint
	// answers the same share of its requests 503 with a plain-text
	// "Service Unavailable" body, as the platform's front end does.
	Transient float64
	// RecordLock is the share of records, in writes through sObject
	// Collections or single-record writes, that fail with a per-record
	// UNABLE_TO_LOCK_ROW while the call's other records succeed.
	RecordLock float64
	// LostResponse is the share of writes that commit and then drop the
	// connection.
	LostResponse float64
	// LateCommit is the share of writes answered by dropping the connection
	// at once and committed LateCommitDelay later, capped by
	// Options.MaxRequestTime; see InjectLateCommits.
	LateCommit float64
	// LateCommitDelay is how long after the drop a late commit lands; it
	// must not be negative.
	LateCommitDelay time.Duration
	// Seed seeds the randomness.
	Seed uint64
}

// chaosStream is the second PCG word; any constant does, as long as it is
// fixed.
const chaosStream = 0x5f5f5f

// SetChaos replaces the random faults in force (the zero value turns them
// off) and restarts the random sequence from c.Seed. It may be called at
// any time, concurrently with requests. A share outside [0, 1] or a
// negative LateCommitDelay panics: that is a bug in the drill.
func (s *Server) SetChaos(c Chaos) {
	for _, sh := range []struct {
		name string
		p    float64
	}{{"Transient", c.Transient}, {"RecordLock", c.RecordLock}, {"LostResponse", c.LostResponse}, {"LateCommit", c.LateCommit}} {
		if math.IsNaN(sh.p) || sh.p < 0 || sh.p > 1 {
			panic(fmt.Sprintf("sfsim: Chaos.%s = %v is not a share between 0 and 1", sh.name, sh.p))
		}
	}
	if c.LateCommitDelay < 0 {
		panic(fmt.Sprintf("sfsim: Chaos.LateCommitDelay = %v is negative", c.LateCommitDelay))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chaos = c
	s.rng = rand.New(rand.NewPCG(c.Seed, chaosStream))
}

// draw reports whether a fault of share p strikes; the caller holds s.mu.
// It consumes randomness only when p > 0.
func (s *Server) draw(p float64) bool {
	return p > 0 && s.rng.Float64() < p
}

type fault struct {
	n             int
	status        int
	code, message string
}

// transientFaults are the whole-request errors Chaos.Transient picks from:
// the transient ones of the reference's "Errors and limits".
var transientFaults = []fault{
	{status: http.StatusServiceUnavailable, code: "SERVER_UNAVAILABLE", message: "Server temporarily unavailable"},
	{status: http.StatusInternalServerError, code: "UNKNOWN_EXCEPTION", message: "An unexpected error occurred"},
	{status: http.StatusForbidden, code: "REQUEST_LIMIT_EXCEEDED", message: "ConcurrentRequests (concurrent API requests) Limit exceeded."},
}

type recordFault struct {
	n             int
	code, message string
}

type lateCommit struct {
	n     int
	delay time.Duration
}

// Fault kinds, the keys of Stats.Faults besides the codes of InjectFaults
// and InjectRecordFaults.
const (
	faultTransient        = "transient"
	faultRecordLock       = "record_lock"
	faultLostResponse     = "lost_response"
	faultLateCommit       = "late_commit"
	faultTokenUnavailable = "token_unavailable"
)

// InjectFaults makes the next n authenticated API requests fail with status
// and a single error {errorCode, message}, e.g. 503 SERVER_UNAVAILABLE or 403
// REQUEST_LIMIT_EXCEEDED "ConcurrentRequests (concurrent API requests) Limit
// exceeded.", without doing anything. Faulted requests are charged like any
// other, and counted in Stats.Faults under errorCode. Calls queue up.
func (s *Server) InjectFaults(n int, status int, errorCode, message string) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{n: n, status: status, code: errorCode, message: message})
}

// InjectLostResponses makes the next n successful API writes (POST, PATCH,
// DELETE under /services/data/; token requests are not affected) commit
// and then drop the connection before answering: the fault that makes a
// naive client create a record twice when it retries.
func (s *Server) InjectLostResponses(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lostResponses += n
}

// InjectLateCommits makes the next n API writes (POST, PATCH, DELETE under
// /services/data/ that pass authentication and are charged) answer by
// dropping the connection at once, and commit delay later in the
// background, capped at Options.MaxRequestTime after their arrival. The
// write is validated and applied against the store as it is when it
// commits, so it may then fail, or succeed where it would have failed
// before; nobody hears of the outcome. Reads are never affected. This is
// the "response lost, write still in flight" case: a client that looks the
// record up, finds nothing and creates it again makes a duplicate. Calls
// queue up; a negative delay counts as 0.
func (s *Server) InjectLateCommits(n int, delay time.Duration) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lateCommits = append(s.lateCommits, lateCommit{n: n, delay: max(delay, 0)})
}

// InjectRecordFaults makes the next n records written, through sObject
// Collections (create, update, upsert) or single-record writes (create,
// update, upsert, delete), fail with the per-record error statusCode and
// message, e.g. "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to
// this record or 1 records: 003…". The failed record is not written; the
// other records of a collection call are (unless it is allOrNone, which
// rolls them back as for any failed record). In a collection the record's
// result is {"success":false,"errors":[{"statusCode","message","fields":[]}]};
// a single-record write answers 400 [{"errorCode","message","fields":[]}].
// The API call is charged as usual. A record takes a fault when it is about
// to be written, after the request and the record were found well formed;
// a late commit's records when it commits. Faults are counted in
// Stats.Faults under statusCode. Calls queue up.
func (s *Server) InjectRecordFaults(n int, statusCode, message string) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordFaults = append(s.recordFaults, recordFault{n: n, code: statusCode, message: message})
}

// requestFault returns the whole-request error a charged request gets, if
// any: an injected one, then a Transient draw. The caller holds s.mu.
func (s *Server) requestFault() (reply, bool) {
	if len(s.faults) > 0 {
		f := s.faults[0]
		if s.faults[0].n--; s.faults[0].n == 0 {
			s.faults = s.faults[1:]
		}
		s.stats.Faults[f.code]++
		return errReply(f.status, f.code, f.message), true
	}
	if s.draw(s.chaos.Transient) {
		f := transientFaults[s.rng.IntN(len(transientFaults))]
		s.stats.Faults[faultTransient]++
		return errReply(f.status, f.code, f.message), true
	}
	return reply{}, false
}

// takeLateCommit reports whether a write is to commit late, and after how
// long; the caller holds s.mu.
func (s *Server) takeLateCommit() (time.Duration, bool) {
	if len(s.lateCommits) > 0 {
		d := s.lateCommits[0].delay
		if s.lateCommits[0].n--; s.lateCommits[0].n == 0 {
			s.lateCommits = s.lateCommits[1:]
		}
		s.stats.Faults[faultLateCommit]++
		return d, true
	}
	if s.draw(s.chaos.LateCommit) {
		s.stats.Faults[faultLateCommit]++
		return s.chaos.LateCommitDelay, true
	}
	return 0, false
}

// takeRecordFault returns the error of a record about to be written, if it
// is to fail; id is the record's id, "" for an insert. The caller holds
// s.mu.
func (s *Server) takeRecordFault(id string) *apiError {
	if len(s.recordFaults) > 0 {
		f := s.recordFaults[0]
		if s.recordFaults[0].n--; s.recordFaults[0].n == 0 {
			s.recordFaults = s.recordFaults[1:]
		}
		s.stats.Faults[f.code]++
		return &apiError{Code: f.code, Message: f.message}
	}
	if s.draw(s.chaos.RecordLock) {
		s.stats.Faults[faultRecordLock]++
		msg := "unable to obtain exclusive access to this record"
		if id != "" {
			msg += " or 1 records: " + id
		}
		return &apiError{Code: "UNABLE_TO_LOCK_ROW", Message: msg}
	}
	return nil
}

// takeLostResponse reports whether a committed write loses its answer; the
// caller holds s.mu.
func (s *Server) takeLostResponse() bool {
	switch {
	case s.lostResponses > 0:
		s.lostResponses--
	case s.draw(s.chaos.LostResponse):
	default:
		return false
	}
	s.stats.Faults[faultLostResponse]++
	return true
}

// dropConnection ends the exchange without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// HTTP/2 or a wrapped writer: net/http resets the stream or closes the
	// connection, and logs nothing.
	panic(http.ErrAbortHandler)
}

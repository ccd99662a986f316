package afworker

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Wait is one pause of the start-up check: an API answered with a transient
// fault and the check tries it again at Next.
type Wait struct {
	// API is the API waited for: "Award Force" or "Salesforce".
	API string
	// Err is the fault, as the API client reported it (the clients keep API
	// keys, secrets and tokens out of their errors; the check's requests
	// carry no user data).
	Err error
	// Attempt is the number of the attempt that failed, from 1.
	Attempt int
	// Delay is how long the check waits; Next is when it tries again.
	Delay time.Duration
	Next  time.Time
}

// Reason is the fault without the client's package prefix, e.g. "HTTP 503:
// Maintenance in progress".
func (w Wait) Reason() string {
	if w.Err == nil {
		return ""
	}
	s := w.Err.Error()
	for _, p := range []string{"awardforce: ", "salesforce: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// String describes the wait as the log and /healthz show it: "waiting for
// Award Force: HTTP 503: Maintenance in progress (attempt 3, next in 4s)".
func (w Wait) String() string {
	return w.describe(w.Delay)
}

func (w Wait) describe(in time.Duration) string {
	return fmt.Sprintf("waiting for %s: %s (attempt %d, next in %s)", w.API, w.Reason(), w.Attempt, roundDelay(in))
}

// roundDelay keeps delays readable: whole seconds from a second up,
// milliseconds below (tests shorten the backoff).
func roundDelay(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return 0
	case d >= time.Second:
		return d.Round(time.Second)
	default:
		return d.Round(time.Millisecond)
	}
}

// Status is where a worker's start-up stands, for GET /healthz: whether the
// start-up check (Preflight) still runs, what it waits for, and whether it
// passed or failed. It is safe for concurrent use; the zero value is not
// usable, call NewStatus.
type Status struct {
	mu      sync.Mutex
	state   checkState
	waits   map[string]Wait // pending waits by API
	failure string
	now     func() time.Time
}

type checkState int

const (
	checkRunning checkState = iota
	checkPassed
	checkFailed
)

// NewStatus returns the status of a start-up check that has not passed yet.
func NewStatus() *Status {
	return &Status{waits: map[string]Wait{}, now: time.Now}
}

// Waiting records a wait of the check (PreflightOptions.Status calls it).
func (s *Status) Waiting(w Wait) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits[w.API] = w
}

// answered records that api passed its part of the check.
func (s *Status) answered(api string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.waits, api)
}

// Passed records that the whole check passed.
func (s *Status) Passed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.failure = checkPassed, ""
	clear(s.waits)
}

// Failed records that the check failed for good with err.
func (s *Status) Failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.failure = checkFailed, err.Error()
	clear(s.waits)
}

// Checks describes the check in one line: "passed", "running", "failed:
// …", or what it waits for ("waiting for Award Force: HTTP 503: Maintenance
// in progress (attempt 3, next in 4s)"; both APIs, "; "-separated, when both
// fail).
func (s *Status) Checks() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case checkPassed:
		return "passed"
	case checkFailed:
		return "failed: " + s.failure
	}
	if len(s.waits) == 0 {
		return "running"
	}
	apis := make([]string, 0, len(s.waits))
	for api := range s.waits {
		apis = append(apis, api)
	}
	slices.Sort(apis)
	parts := make([]string, 0, len(apis))
	now := s.now()
	for _, api := range apis {
		w := s.waits[api]
		parts = append(parts, w.describe(w.Next.Sub(now)))
	}
	return strings.Join(parts, "; ")
}

// current returns the check's state, for the health body.
func (s *Status) current() checkState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Package awardforce is a thin typed client for the Award Force API v2.3: users, user
// profile fields and webhook signatures, the parts afsync pairs with Salesforce.
//
// One Client holds one configured resty client. Every method takes a context, resty's
// own retries stay off (Temporal owns retrying; two layers multiply), and every non-2xx
// answer becomes an *Error that the activity layer classifies with errors.As.
package awardforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/afsync/afsync/internal/sleep"
	"github.com/afsync/afsync/internal/window"
)

const (
	// DefaultBaseURL is the global Award Force API host. Regional hosts are
	// api.us.cr4ce.com, api.eu.cr4ce.com, api.au.cr4ce.com, api.ca.cr4ce.com and
	// api.hk.cr4ce.com.
	DefaultBaseURL = "https://api.cr4ce.com"
	// DefaultTimeout bounds one HTTP exchange; keep it shorter than the activity's
	// StartToClose so a hung call fails inside the attempt.
	DefaultTimeout = 20 * time.Second
	// AcceptHeader selects JSON and API version 2.3; there is no separate version header.
	// Note the literal space in "Creative Force".
	AcceptHeader = "application/vnd.Creative Force.v2.3+json"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, DefaultBaseURL when empty (AWARDFORCE_API_URL).
	BaseURL string
	// APIKey is sent as x-api-key; required (AWARDFORCE_API_KEY).
	APIKey string
	// Language, when set, is sent as x-api-language: a locale such as en_GB, a comma
	// list, or "all".
	Language string
	// Timeout bounds each request; DefaultTimeout when 0.
	Timeout time.Duration
	// HTTPClient supplies the transport; it is copied, never modified. Optional.
	HTTPClient *http.Client
	// RateLimit, when set, is the most requests the Client starts in any
	// RateWindow: Award Force's 60 a key in 60 seconds, with some margin on
	// the window. Requests wait their turn in the order they ask. A fleet's
	// budget paces its permits below the limit, but requests that a busy
	// machine sends late would otherwise land in one of Award Force's
	// windows with those sent on time, as sixty-one (a 429, and a wait of up
	// to a minute); this way the late ones go as soon as the window allows,
	// and never past it.
	RateLimit  int
	RateWindow time.Duration
}

// SettingError is a Config that New refuses: Fields names the Config
// fields to fix, so that a caller can name where they come from (the
// worker names its environment variables).
type SettingError struct {
	Fields []string
	Msg    string
}

func (e *SettingError) Error() string { return "awardforce: " + e.Msg }

// Client calls the Award Force API. It is safe for concurrent use.
type Client struct {
	rc     *resty.Client
	apiKey string // kept only to scrub it from error messages
	pace   *pacer // nil without Config.RateLimit
}

// New returns a Client for cfg, or an error naming the setting that is missing or wrong.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.APIKey) == "" {
		return nil, &SettingError{Fields: []string{"APIKey"}, Msg: "APIKey is empty"}
	}
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &SettingError{Fields: []string{"BaseURL"}, Msg: fmt.Sprintf("BaseURL %q is not an absolute http(s) URL", cfg.BaseURL)}
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("awardforce: Timeout %s is negative", cfg.Timeout)
	}
	if cfg.RateLimit < 0 || (cfg.RateLimit > 0 && cfg.RateWindow <= 0) {
		return nil, fmt.Errorf("awardforce: RateLimit %d in RateWindow %s: want a limit of 0 (none), or above 0 with a positive window", cfg.RateLimit, cfg.RateWindow)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient // resty sets the timeout on it; leave the caller's alone
		hc = &copied
	}
	rc := resty.NewWithClient(hc).
		SetBaseURL(base).
		SetTimeout(timeout).
		SetRetryCount(0).
		SetDisableWarn(true).
		SetLogger(quietLogger{}).
		SetHeader("Accept", AcceptHeader).
		SetHeader("x-api-key", cfg.APIKey).
		SetHeader("User-Agent", "afsync-awardforce")
	if cfg.Language != "" {
		rc.SetHeader("x-api-language", cfg.Language)
	}
	c := &Client{rc: rc, apiKey: cfg.APIKey}
	if cfg.RateLimit > 0 {
		c.pace = &pacer{window: window.Window{Limit: cfg.RateLimit, Span: cfg.RateWindow}}
	}
	return c, nil
}

// pacer gives requests turns, in the order they ask, so that no window
// holds more than its limit of them.
type pacer struct {
	window window.Window
	mu     sync.Mutex
	turns  []time.Time // the last turns given, oldest first
}

// wait waits for the caller's turn, or until ctx ends (the turn then goes
// unused: a gap, never a burst).
func (p *pacer) wait(ctx context.Context) error {
	return sleep.For(ctx, time.Until(p.reserve(time.Now())))
}

// reserve takes the next turn at now or later: now, unless the limit-th
// turn before it is less than a window ago.
func (p *pacer) reserve(now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	turn := now
	if free := p.window.Free(p.turns); free.After(turn) {
		turn = free
	}
	p.turns = p.window.Keep(p.turns, turn)
	return turn
}

// quietLogger silences resty, which would otherwise print transport errors (with full
// URLs, emails included) to stderr; the same errors reach the caller, who logs with slog.
type quietLogger struct{}

func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Debugf(string, ...any) {}

// request describes one API call for do.
type request struct {
	method string
	path   string            // may hold {param} placeholders
	params map[string]string // path parameters, escaped by resty
	query  url.Values
	body   any // marshalled as JSON when non-nil
}

// do performs req and returns the raw body of a 2xx answer, or an *Error. Transport
// failures come back wrapped with the route, never with the key or the body.
func (c *Client) do(ctx context.Context, req request) ([]byte, error) {
	r := c.rc.R().SetContext(ctx)
	if len(req.params) > 0 {
		r.SetPathParams(req.params)
	}
	if len(req.query) > 0 {
		r.SetQueryParamsFromValues(req.query)
	}
	if req.body != nil {
		raw, err := json.Marshal(req.body)
		if err != nil {
			return nil, fmt.Errorf("awardforce: %s %s: encode body: %w", req.method, req.path, err)
		}
		r.SetHeader("Content-Type", "application/json").SetBody(raw)
	}
	if c.pace != nil {
		if err := c.pace.wait(ctx); err != nil {
			return nil, fmt.Errorf("awardforce: %s %s: waiting for its turn: %w", req.method, req.path, err)
		}
	}
	resp, err := r.Execute(req.method, req.path)
	if err != nil {
		// *url.Error repeats the full URL, which may hold an email; the route template is
		// enough, and the cause (deadline, refused connection) stays reachable.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("awardforce: %s %s: %w", req.method, req.path, err)
	}
	if !resp.IsSuccess() {
		return nil, c.newError(resp.StatusCode(), resp.Header(), resp.Body())
	}
	return resp.Body(), nil
}

// decode unmarshals a 2xx body, naming the route on failure. The error
// wraps ErrUndecodable.
func decode(method, path string, body []byte, out any) error {
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("awardforce: %s %s: %w: %w", method, path, ErrUndecodable, err)
	}
	return nil
}

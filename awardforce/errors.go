package awardforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error is a non-2xx answer from the API. Match it with errors.As; it carries what the
// activity layer needs to classify the failure and nothing from the request.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the API's "message" (or a 503's "status", e.g. "Maintenance in
	// progress"), or the status text when the body says nothing usable.
	Message string
	// FieldErrors holds a 422's "errors": field name → messages.
	FieldErrors map[string][]string
	// RetryAfter is the parsed Retry-After header (seconds or HTTP date); 0 when absent.
	RetryAfter time.Duration
}

// Error describes the failure. It never contains the API key or the request body.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "awardforce: HTTP %d", e.StatusCode)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.FieldErrors) > 0 {
		keys := make([]string, 0, len(e.FieldErrors))
		for k := range e.FieldErrors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+": "+strings.Join(e.FieldErrors[k], " "))
		}
		b.WriteString(" (")
		b.WriteString(strings.Join(parts, "; "))
		b.WriteString(")")
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " [retry after %s]", e.RetryAfter)
	}
	return b.String()
}

// Temporary reports whether trying again later may succeed: 429 and any 5xx, which
// includes the 503 served during maintenance.
func (e *Error) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// ErrUndecodable is wrapped by the error of a call whose 2xx answer does not
// decode: a proxy's page, a truncated body. Retrying may help once or twice,
// not for hours.
var ErrUndecodable = errors.New("the response does not decode")

// maxMessage caps a message taken from a body that is not the API's JSON (a proxy's
// HTML page, say), so errors stay one readable line.
const maxMessage = 200

// newError builds an *Error from a non-2xx answer, scrubbing the API key from anything
// the server echoed back.
func (c *Client) newError(status int, h http.Header, body []byte) *Error {
	e := &Error{StatusCode: status, RetryAfter: parseRetryAfter(h.Get("Retry-After"), time.Now())}
	var wire struct {
		Message flexString      `json:"message"`
		Status  flexString      `json:"status"`
		Errors  json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &wire) == nil {
		e.Message = string(wire.Message)
		if e.Message == "" {
			e.Message = string(wire.Status)
		}
		e.FieldErrors = parseFieldErrors(wire.Errors)
	} else if text := strings.Join(strings.Fields(string(body)), " "); text != "" && !strings.HasPrefix(text, "<") {
		if len(text) > maxMessage {
			text = text[:maxMessage] + "…"
		}
		e.Message = text
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	e.Message = c.scrub(e.Message)
	if e.FieldErrors != nil {
		clean := make(map[string][]string, len(e.FieldErrors))
		for k, msgs := range e.FieldErrors {
			for i := range msgs {
				msgs[i] = c.scrub(msgs[i])
			}
			clean[c.scrub(k)] = msgs
		}
		e.FieldErrors = clean
	}
	return e
}

func (c *Client) scrub(s string) string {
	if c.apiKey == "" {
		return s
	}
	return strings.ReplaceAll(s, c.apiKey, "[redacted]")
}

// parseFieldErrors accepts {"field": ["msg", …]}, {"field": "msg"} and a bare list of
// messages (kept under ""), since the docs call errors an "array".
func parseFieldErrors(raw json.RawMessage) map[string][]string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var byField map[string]json.RawMessage
	if json.Unmarshal(raw, &byField) == nil {
		out := make(map[string][]string, len(byField))
		for k, v := range byField {
			if msgs := messages(v); len(msgs) > 0 {
				out[k] = msgs
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	if msgs := messages(raw); len(msgs) > 0 {
		return map[string][]string{"": msgs}
	}
	return nil
}

func messages(raw json.RawMessage) []string {
	var list []flexString
	if json.Unmarshal(raw, &list) == nil {
		out := make([]string, 0, len(list))
		for _, m := range list {
			if m != "" {
				out = append(out, string(m))
			}
		}
		return out
	}
	var one flexString
	if json.Unmarshal(raw, &one) == nil && one != "" {
		return []string{string(one)}
	}
	return nil
}

// parseRetryAfter reads delay-seconds or an HTTP date; anything else is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

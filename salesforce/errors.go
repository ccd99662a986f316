package salesforce

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is a failure the API or the token endpoint reported. It never holds
// the access token or the client secret.
type Error struct {
	// HTTPStatus is the response status (300 for an ambiguous upsert).
	HTTPStatus int
	// ErrorCode is the API's errorCode (e.g. REQUIRED_FIELD_MISSING), the
	// token endpoint's error (invalid_grant, invalid_client), or
	// MULTIPLE_CHOICES for an upsert whose external id matched several records.
	ErrorCode string
	// Message is the API's message; further errors in the body are appended.
	Message string
	// Fields are the fields the first error names.
	Fields []string
	// DuplicateIDs are the existing records a duplicate rule matched when
	// it refused the save (DUPLICATES_DETECTED), as Salesforce named them.
	DuplicateIDs []string
	// fromOrg is set when the body was the org's own error list or OAuth
	// error: Salesforce itself answered, so the request was processed (and
	// a write refused). A proxy's or load balancer's page leaves it unset.
	fromOrg bool
}

// Answered reports whether Salesforce itself answered with an error body, as
// opposed to a gateway page (a 502 or 504 in front of a request that may
// still be running). Only an answered write is known not to have committed.
func (e *Error) Answered() bool { return e.fromOrg }

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("salesforce: %d %s: %s", e.HTTPStatus, e.ErrorCode, e.Message)
	if len(e.Fields) > 0 {
		s += " (fields: " + strings.Join(e.Fields, ", ") + ")"
	}
	if len(e.DuplicateIDs) > 0 {
		s += " (duplicates: " + strings.Join(e.DuplicateIDs, ", ") + ")"
	}
	return s
}

// Temporary reports whether retrying later with backoff may succeed: 500,
// 503 (SERVER_UNAVAILABLE), UNABLE_TO_LOCK_ROW and REQUEST_LIMIT_EXCEEDED for
// ConcurrentRequests. Quota exhaustion is not temporary in this sense: see
// QuotaExhausted.
func (e *Error) Temporary() bool {
	switch {
	case e.HTTPStatus == http.StatusInternalServerError, e.HTTPStatus == http.StatusServiceUnavailable,
		e.HTTPStatus == http.StatusBadGateway, e.HTTPStatus == http.StatusGatewayTimeout:
		return true
	case e.ErrorCode == "SERVER_UNAVAILABLE", e.ErrorCode == "UNABLE_TO_LOCK_ROW":
		return true
	case e.ErrorCode == "REQUEST_LIMIT_EXCEEDED":
		return strings.Contains(e.Message, "ConcurrentRequests") || strings.Contains(e.Message, "ConcurrentPerOrgLongTxn")
	}
	return false
}

// QuotaExhausted reports whether the org's rolling 24-hour request allocation
// is spent (REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded."): retrying
// soon is useless, so pause and resume later.
func (e *Error) QuotaExhausted() bool {
	return e.ErrorCode == "REQUEST_LIMIT_EXCEEDED" && strings.Contains(e.Message, "TotalRequests")
}

// permanentCodes fail the same way however often the same data is sent.
var permanentCodes = map[string]bool{
	"REQUIRED_FIELD_MISSING":            true,
	"STRING_TOO_LONG":                   true,
	"INVALID_EMAIL_ADDRESS":             true,
	"INVALID_FIELD":                     true,
	"INVALID_FIELD_FOR_INSERT_UPDATE":   true,
	"INVALID_TYPE":                      true,
	"MALFORMED_ID":                      true,
	"MALFORMED_QUERY":                   true,
	"INVALID_QUERY_FILTER_OPERATOR":     true,
	"DUPLICATE_VALUE":                   true,
	"DUPLICATES_DETECTED":               true,
	"DUPLICATE_EXTERNAL_ID":             true,
	"FIELD_CUSTOM_VALIDATION_EXCEPTION": true,
	"FIELD_INTEGRITY_EXCEPTION":         true,
	"INVALID_CROSS_REFERENCE_KEY":       true,
	"ENTITY_IS_DELETED":                 true,
	"NOT_FOUND":                         true,
	"MULTIPLE_CHOICES":                  true,
	"JSON_PARSER_ERROR":                 true,
	"EXCEEDED_ID_LIMIT":                 true,
	"MISSING_ARGUMENT":                  true,
	"REQUEST_URI_TOO_LONG":              true, // 414: bound IN lists
	"METHOD_NOT_ALLOWED":                true,
	"invalid_grant":                     true,
	"invalid_client":                    true,
}

// IsPermanentCode reports whether an errorCode (or a per-record statusCode)
// means the same request can never succeed: validation, malformed input,
// missing records, duplicates and rejected credentials. Unknown codes are
// not permanent; the caller decides.
func IsPermanentCode(code string) bool { return permanentCodes[code] }

// ErrNotSent is wrapped by the error of a call that never left: no session
// could be had (the token endpoint's own error is wrapped too).
var ErrNotSent = errors.New("the request was not sent")

// notSentError reads as the error it wraps and is ErrNotSent.
type notSentError struct{ err error }

func (e notSentError) Error() string        { return e.err.Error() }
func (e notSentError) Unwrap() error        { return e.err }
func (e notSentError) Is(target error) bool { return target == ErrNotSent }

// ErrUndecodable is wrapped by the error of a call whose 2xx answer does not
// decode (a proxy's page, a truncated body): the request was carried out but
// its result is unknown.
var ErrUndecodable = errors.New("the response does not decode")

// ErrCollectionTooLarge is returned, without a request, for a collection
// call with more than MaxCollection records.
var ErrCollectionTooLarge = errors.New("salesforce: more than 200 records in one collection request")

// MaxCollection is the most records one sObject Collections request takes.
const MaxCollection = 200

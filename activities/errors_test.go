package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/salesforce"
)

func TestClassify(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	cases := []struct {
		name      string
		err       error
		wantType  string // "" means the error passes through as a plain retryable error
		retryable bool
		delay     time.Duration
	}{
		{"af 429 waits its Retry-After", &awardforce.Error{StatusCode: 429, Message: "Too Many Attempts.", RetryAfter: 17 * time.Second}, ErrTypeAwardForceRateLimited, true, 17 * time.Second},
		{"af 429 without Retry-After still waits", &awardforce.Error{StatusCode: 429}, ErrTypeAwardForceRateLimited, true, time.Second},
		{"af 503 maintenance", &awardforce.Error{StatusCode: 503, Message: "Maintenance in progress"}, ErrTypeAwardForceUnavailable, true, 0},
		{"af 500", &awardforce.Error{StatusCode: 500}, ErrTypeAwardForceUnavailable, true, 0},
		{"af 404", &awardforce.Error{StatusCode: 404, Message: "Not found"}, ErrTypeAwardForceNotFound, false, 0},
		{"af 401", &awardforce.Error{StatusCode: 401}, ErrTypeAwardForceAuth, false, 0},
		{"af 403", &awardforce.Error{StatusCode: 403}, ErrTypeAwardForceAuth, false, 0},
		{"af 422", &awardforce.Error{StatusCode: 422, FieldErrors: map[string][]string{"email": {"invalid"}}}, ErrTypeAwardForceValidation, false, 0},
		{"af 400", &awardforce.Error{StatusCode: 400}, ErrTypeAwardForceValidation, false, 0},
		{"sf quota spent pauses long", &salesforce.Error{HTTPStatus: 403, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "TotalRequests Limit exceeded."}, ErrTypeSalesforceQuotaExhausted, true, QuotaRetryDelay},
		{"sf concurrency limit is transient", &salesforce.Error{HTTPStatus: 403, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "ConcurrentRequests (concurrent API requests) Limit exceeded."}, ErrTypeSalesforceUnavailable, true, 0},
		{"sf 503", &salesforce.Error{HTTPStatus: 503, ErrorCode: "SERVER_UNAVAILABLE"}, ErrTypeSalesforceUnavailable, true, 0},
		{"sf lock", &salesforce.Error{HTTPStatus: 400, ErrorCode: "UNABLE_TO_LOCK_ROW"}, ErrTypeSalesforceUnavailable, true, 0},
		{"sf session refused twice", &salesforce.Error{HTTPStatus: 401, ErrorCode: "INVALID_SESSION_ID"}, ErrTypeSalesforceUnavailable, true, 0},
		{"sf bad grant", &salesforce.Error{HTTPStatus: 400, ErrorCode: "invalid_grant", Message: "authentication failure"}, ErrTypeSalesforceAuth, false, 0},
		{"sf bad client", &salesforce.Error{HTTPStatus: 400, ErrorCode: "invalid_client"}, ErrTypeSalesforceAuth, false, 0},
		{"sf required field", &salesforce.Error{HTTPStatus: 400, ErrorCode: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [LastName]", Fields: []string{"LastName"}}, ErrTypeSalesforceRejected, false, 0},
		{"sf duplicates", &salesforce.Error{HTTPStatus: 400, ErrorCode: "DUPLICATES_DETECTED"}, ErrTypeSalesforceRejected, false, 0},
		{"sf malformed query", &salesforce.Error{HTTPStatus: 400, ErrorCode: "MALFORMED_QUERY"}, ErrTypeSalesforceRejected, false, 0},
		{"sf upsert 300", &salesforce.Error{HTTPStatus: 300, ErrorCode: "MULTIPLE_CHOICES"}, ErrTypeSalesforceAmbiguous, false, 0},
		{"sf wrapped with %w is still classified", fmt.Errorf("creating: %w", &salesforce.Error{HTTPStatus: 400, ErrorCode: "STRING_TOO_LONG"}), ErrTypeSalesforceRejected, false, 0},
		{"sf API off for the org stops everything", &salesforce.Error{HTTPStatus: 403, ErrorCode: "API_DISABLED_FOR_ORG", Message: "The REST API is not enabled for this Organization."}, ErrTypeSalesforceOrgRefused, false, 0},
		{"sf API disabled for now", &salesforce.Error{HTTPStatus: 403, ErrorCode: "API_CURRENTLY_DISABLED"}, ErrTypeSalesforceOrgRefused, false, 0},
		{"sf no access to the object", &salesforce.Error{HTTPStatus: 403, ErrorCode: "INSUFFICIENT_ACCESS", Message: "insufficient access rights on object id"}, ErrTypeSalesforceOrgRefused, false, 0},
		{"a 2xx body that does not decode is retried a few times only", fmt.Errorf("salesforce: %w: unexpected EOF", salesforce.ErrUndecodable), ErrTypeUnexpected, true, 0},
		{"an Award Force body that does not decode too", fmt.Errorf("awardforce: GET /user: %w: bad", awardforce.ErrUndecodable), ErrTypeUnexpected, true, 0},
		{"network errors are retried", netErr, "", true, 0},
		{"timeouts are retried", context.DeadlineExceeded, "", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			var appErr *temporal.ApplicationError
			if tc.wantType == "" {
				if errors.As(got, &appErr) {
					t.Fatalf("got application error %v, want the plain error", got)
				}
				if !errors.Is(got, tc.err) {
					t.Fatalf("got %v, want %v", got, tc.err)
				}
				return
			}
			if !errors.As(got, &appErr) {
				t.Fatalf("got %T %v, want an application error", got, got)
			}
			if appErr.Type() != tc.wantType {
				t.Errorf("type %q, want %q", appErr.Type(), tc.wantType)
			}
			if appErr.NonRetryable() == tc.retryable {
				t.Errorf("non-retryable = %v, want retryable = %v", appErr.NonRetryable(), tc.retryable)
			}
			if appErr.NextRetryDelay() != tc.delay {
				t.Errorf("next retry delay %v, want %v", appErr.NextRetryDelay(), tc.delay)
			}
			if !errors.Is(got, errors.Unwrap(got)) || errors.Unwrap(got) == nil {
				t.Errorf("the API error must stay the cause")
			}
		})
	}
	if classify(nil) != nil {
		t.Error("classify(nil) must be nil")
	}
}

func TestUnexpectedErrorsAreRetriedAFewTimesOnly(t *testing.T) {
	err := classify(fmt.Errorf("salesforce: %w: <html>", salesforce.ErrUndecodable))
	for attempt := int32(1); attempt <= MaxUnexpectedAttempts; attempt++ {
		var appErr *temporal.ApplicationError
		if !errors.As(boundUnexpected(err, attempt), &appErr) || appErr.Type() != ErrTypeUnexpected {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		if want := attempt >= MaxUnexpectedAttempts; appErr.NonRetryable() != want {
			t.Errorf("attempt %d: non-retryable %v, want %v", attempt, appErr.NonRetryable(), want)
		}
	}
	// Other errors are left as they are.
	quota := classify(&salesforce.Error{HTTPStatus: 403, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "TotalRequests Limit exceeded."})
	if got := boundUnexpected(quota, 10); got != quota {
		t.Errorf("a quota error changed at attempt 10: %v", got)
	}
}

func TestARecordsStatusCodeIsClassifiedAsARequestsErrorCode(t *testing.T) {
	for _, tc := range []struct {
		code, message, ext, want string
	}{
		{"UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", "", ErrTypeSalesforceUnavailable},
		{"REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", "", ErrTypeSalesforceRejected},
		{"STRING_TOO_LONG", "Last Name: data value too large", "", ErrTypeSalesforceRejected},
		{"INSUFFICIENT_ACCESS", "insufficient access rights on object id", "", ErrTypeSalesforceOrgRefused},
		{"DUPLICATE_VALUE", "duplicate value found: AwardForce_Slug__c duplicates value on record with id: 003000000000001", "AwardForce_Slug__c", ErrTypeSalesforceUnavailable},
		{"DUPLICATE_VALUE", "duplicate value found: Email__c duplicates value on record with id: 003000000000001", "AwardForce_Slug__c", ErrTypeSalesforceRejected},
		{"DUPLICATE_VALUE", "duplicate value found: AwardForce_Slug__c duplicates value", "", ErrTypeSalesforceRejected},
		{"DUPLICATES_DETECTED", "You're creating a duplicate record. We recommend you use an existing record instead.", "AwardForce_Slug__c", ErrTypeSalesforceRejected},
		{"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "bad value for restricted picklist field: Hot", "", ErrTypeSalesforceRejected},
	} {
		if got := recordErrorType(tc.code, tc.message, tc.ext); got != tc.want {
			t.Errorf("%s %q (external id %q): %s, want %s", tc.code, tc.message, tc.ext, got, tc.want)
		}
	}
}

package activities

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/salesforce"
)

// Error types carried by the Temporal application errors that activities
// return. Workflows and ops match on these names; they are stable.
const (
	// ErrTypeAwardForceRateLimited is a 429 from Award Force; retried after Retry-After.
	ErrTypeAwardForceRateLimited = "AwardForceRateLimited"
	// ErrTypeAwardForceUnavailable is a 5xx or maintenance answer; retried.
	ErrTypeAwardForceUnavailable = "AwardForceUnavailable"
	// ErrTypeAwardForceNotFound is a 404 for the user; not retried.
	ErrTypeAwardForceNotFound = "AwardForceNotFound"
	// ErrTypeAwardForceAuth is a missing, wrong or read-only key; not retried.
	ErrTypeAwardForceAuth = "AwardForceAuth"
	// ErrTypeAwardForceValidation is a 400 or 422; not retried.
	ErrTypeAwardForceValidation = "AwardForceValidation"

	// ErrTypeSalesforceUnavailable is a transient Salesforce fault; retried.
	ErrTypeSalesforceUnavailable = "SalesforceUnavailable"
	// ErrTypeSalesforceQuotaExhausted means the org's rolling 24-hour API
	// allocation is spent; retried after a long pause.
	ErrTypeSalesforceQuotaExhausted = "SalesforceQuotaExhausted"
	// ErrTypeSalesforceAuth is a rejected OAuth grant; not retried.
	ErrTypeSalesforceAuth = "SalesforceAuth"
	// ErrTypeSalesforceRejected is Salesforce refusing the data (validation,
	// duplicates, bad field); not retried with the same data.
	ErrTypeSalesforceRejected = "SalesforceRejected"
	// ErrTypeSalesforceAmbiguous is an upsert whose external id matched several records.
	ErrTypeSalesforceAmbiguous = "SalesforceAmbiguous"
	// ErrTypeInvalidSpec is a pairing spec that the org's describe or Award
	// Force's field list refutes; not retried.
	ErrTypeInvalidSpec = "InvalidSpec"
)

// QuotaRetryDelay is how long an activity waits before trying again once
// Salesforce says the daily allocation is spent: retrying soon is useless.
const QuotaRetryDelay = 30 * time.Minute

// classify turns an API client error into the Temporal error the activity
// returns: permanent faults become non-retryable application errors with a
// named type, rate limits carry a NextRetryDelay, transient faults stay
// retryable. It is the single place where retry policy meets API semantics.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var afErr *awardforce.Error
	if errors.As(err, &afErr) {
		return classifyAwardForce(afErr)
	}
	var sfErr *salesforce.Error
	if errors.As(err, &sfErr) {
		return classifySalesforce(sfErr)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	// Network errors, timeouts and anything unknown: retry, bounded by the
	// activity's ScheduleToClose or MaximumAttempts.
	return err
}

func classifyAwardForce(e *awardforce.Error) error {
	switch {
	case e.StatusCode == http.StatusTooManyRequests:
		delay := e.RetryAfter
		if delay <= 0 {
			delay = time.Second
		}
		return temporal.NewApplicationErrorWithOptions(e.Error(), ErrTypeAwardForceRateLimited,
			temporal.ApplicationErrorOptions{Cause: e, NextRetryDelay: delay})
	case e.Temporary():
		return temporal.NewApplicationErrorWithCause(e.Error(), ErrTypeAwardForceUnavailable, e)
	case e.StatusCode == http.StatusNotFound:
		return temporal.NewNonRetryableApplicationError(e.Error(), ErrTypeAwardForceNotFound, e)
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return temporal.NewNonRetryableApplicationError(e.Error(), ErrTypeAwardForceAuth, e)
	case e.StatusCode >= 400 && e.StatusCode < 500:
		return temporal.NewNonRetryableApplicationError(e.Error(), ErrTypeAwardForceValidation, e)
	default:
		return temporal.NewApplicationErrorWithCause(e.Error(), ErrTypeAwardForceUnavailable, e)
	}
}

func classifySalesforce(e *salesforce.Error) error {
	switch {
	case e.QuotaExhausted():
		return temporal.NewApplicationErrorWithOptions(e.Error(), ErrTypeSalesforceQuotaExhausted,
			temporal.ApplicationErrorOptions{Cause: e, NextRetryDelay: QuotaRetryDelay})
	case e.Temporary():
		return temporal.NewApplicationErrorWithCause(e.Error(), ErrTypeSalesforceUnavailable, e)
	case e.ErrorCode == "INVALID_SESSION_ID":
		// The client already re-authenticated once; a second refusal may be a
		// race with a rotating session, so let Temporal try again (bounded).
		return temporal.NewApplicationErrorWithCause(e.Error(), ErrTypeSalesforceUnavailable, e)
	case e.ErrorCode == "invalid_grant" || e.ErrorCode == "invalid_client" || e.HTTPStatus == http.StatusUnauthorized:
		return temporal.NewNonRetryableApplicationError(e.Error(), ErrTypeSalesforceAuth, e)
	case e.ErrorCode == "MULTIPLE_CHOICES":
		return temporal.NewNonRetryableApplicationError(e.Error(), ErrTypeSalesforceAmbiguous, e)
	case e.HTTPStatus >= 500:
		return temporal.NewApplicationErrorWithCause(e.Error(), ErrTypeSalesforceUnavailable, e)
	default:
		return temporal.NewNonRetryableApplicationError(e.Error(), ErrTypeSalesforceRejected, e)
	}
}

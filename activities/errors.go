package activities

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
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
	// ErrTypeSalesforceOrgRefused is a refusal every record would hit: the
	// API is off for the org (API_DISABLED_FOR_ORG, API_CURRENTLY_DISABLED)
	// or the integration user may not use the object (INSUFFICIENT_ACCESS).
	// Not retried; it stops a backfill.
	ErrTypeSalesforceOrgRefused = "SalesforceOrgRefused"
	// ErrTypeSalesforceOutcomeUnknown is a write whose answer never came (a
	// timeout, a dropped connection, a gateway page): Salesforce may have
	// committed it, or may still commit it.
	ErrTypeSalesforceOutcomeUnknown = "SalesforceOutcomeUnknown"
	// ErrTypeWriteNotBegun is a Write that could not record that it began
	// (Salesforce.Begin): it made no Salesforce call.
	ErrTypeWriteNotBegun = "WriteNotBegun"
	// ErrTypeInvalidSpec is a pairing spec that the org's describe or Award
	// Force's field list refutes; not retried.
	ErrTypeInvalidSpec = "InvalidSpec"
	// ErrTypeUnexpected is an error that is no API's answer: a 2xx body that
	// does not decode, a request the client refused to build. Retried
	// MaxUnexpectedAttempts times in all, not for hours.
	ErrTypeUnexpected = "Unexpected"
)

// MaxUnexpectedAttempts bounds the attempts of an activity that keeps
// failing with an error of type ErrTypeUnexpected.
const MaxUnexpectedAttempts = 3

// orgWideCodes are Salesforce refusals that every record of the org would
// meet: going on only spends quota.
var orgWideCodes = map[string]bool{
	"API_DISABLED_FOR_ORG":   true,
	"API_CURRENTLY_DISABLED": true,
	"INSUFFICIENT_ACCESS":    true,
}

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
	if errors.Is(err, context.Canceled) || isNetwork(err) {
		// The network and timeouts: retry, bounded by the activity's
		// ScheduleToClose or MaximumAttempts.
		return err
	}
	// Anything else is no API's answer: an undecodable body, a request the
	// client would not build. Retried a few times only (see fail).
	return temporal.NewApplicationErrorWithCause(err.Error(), ErrTypeUnexpected, err)
}

// isNetwork reports whether err is a transport failure or a timeout.
func isNetwork(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// fail is classify for an activity's return: an ErrTypeUnexpected error
// becomes non-retryable once the activity has tried MaxUnexpectedAttempts
// times.
func fail(ctx context.Context, err error) error {
	attempt := int32(1)
	if activity.IsActivity(ctx) {
		attempt = activity.GetInfo(ctx).Attempt
	}
	return boundUnexpected(classify(err), attempt)
}

// boundUnexpected makes a retryable ErrTypeUnexpected error non-retryable
// at the MaxUnexpectedAttempts-th attempt.
func boundUnexpected(err error, attempt int32) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeUnexpected && !appErr.NonRetryable() && attempt >= MaxUnexpectedAttempts {
		return temporal.NewNonRetryableApplicationError(appErr.Message(), ErrTypeUnexpected, errors.Unwrap(appErr))
	}
	return err
}

// recordErrorType classifies the statusCode of one record of a collection
// call exactly as a whole request's errorCode: UNABLE_TO_LOCK_ROW is as
// transient for one record as for a request. ext is the spec's external-id
// field: a DUPLICATE_VALUE on it means another write (an earlier attempt, a
// concurrent upsert) created the record first, and the next upsert matches
// it, so it is transient too.
func recordErrorType(code, message, ext string) string {
	if code == "DUPLICATE_VALUE" && ext != "" && containsFold(message, ext) {
		return ErrTypeSalesforceUnavailable
	}
	var appErr *temporal.ApplicationError
	if errors.As(classifySalesforce(&salesforce.Error{HTTPStatus: http.StatusBadRequest, ErrorCode: code, Message: message}), &appErr) {
		return appErr.Type()
	}
	return ErrTypeSalesforceRejected
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
	case orgWideCodes[e.ErrorCode]:
		return temporal.NewNonRetryableApplicationError(e.Error(), ErrTypeSalesforceOrgRefused, e)
	case e.HTTPStatus >= 500:
		return temporal.NewApplicationErrorWithCause(e.Error(), ErrTypeSalesforceUnavailable, e)
	default:
		return temporal.NewNonRetryableApplicationError(e.Error(), ErrTypeSalesforceRejected, e)
	}
}

// containsFold reports whether s contains sub, ignoring case.
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// keepAlive heartbeats every few seconds until the returned stop is
// called, so that a worker that dies mid-call is noticed within the
// activity's heartbeat timeout rather than its StartToClose. Each
// heartbeat carries details (the server keeps the last one's). Outside an
// activity (unit tests) it does nothing.
func keepAlive(ctx context.Context, details ...any) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details...)
			}
		}
	}()
	return func() { close(done) }
}

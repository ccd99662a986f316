package workflows

// What happens to a person after a write or a failed call: answered,
// retried with backoff, held until the commit horizon (doubt), or failed.

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// settleWrite settles person i with the outcome o of its create or update.
func (r *laneRun) settleWrite(now time.Time, i int, d pairing.Decision, o activities.WriteOutcome, created bool) {
	it := r.b.items[i]
	switch {
	case o.Unknown:
		r.doubt(now, []int{i}, o.Error)
	case r.crm && strings.Contains(o.Error, "ENTITY_IS_DELETED") && it.RecordID != d.RecordID:
		// Deleted (merged?) since the lookup: look at it by id next time,
		// which follows a merge to its survivor.
		it.RecordID = d.RecordID
		r.retry(now, i, activities.ErrTypeSalesforceUnavailable, o.Error, maxRecordBackoff)
	case r.dups && len(o.DuplicateIDs) > 0:
		// An org's duplicate rule refused the record and named the records
		// this person matches: ambiguous, as when the lookup finds several.
		amb := d
		amb.Action, amb.CandidateIDs, amb.CRM = pairing.ActionAmbiguous, o.DuplicateIDs, nil
		amb.Reason = "a Salesforce duplicate rule refused the record (" + o.Error + ")"
		r.answer(i, UserSyncResult{Outcome: OutcomeAmbiguous, Decision: amb, RecordID: d.RecordID})
	case o.Error != "":
		r.refused(now, i, o.ErrorType, o.Error, o.CallFailed)
		if res := r.outcomes[i].result; res != nil {
			// Failed: the audit keeps what was decided, as UserSync's does.
			res.Decision = d
			if !created {
				res.RecordID = d.RecordID
			}
		}
	default:
		res := UserSyncResult{Outcome: outcomeOf(d), Decision: d, RecordID: d.RecordID}
		if created {
			res.RecordID = o.ID
			if !o.Created {
				res.Outcome = OutcomeUpdated // an upsert found the record by its external id
			}
			if c := r.b.spec.RecordIDChange(it.Profile, o.ID); c != nil {
				res.Decision.AwardForce = append(res.Decision.AwardForce, *c)
			}
		}
		r.written(it, now)
		r.paired(it, res.RecordID)
		r.answer(i, res)
	}
}

// refused settles person i whose record Salesforce refused, or whose call
// failed with Salesforce's own answer.
func (r *laneRun) refused(now time.Time, i int, errType, msg string, callFailed bool) {
	it := r.b.items[i]
	transient := errType == activities.ErrTypeSalesforceUnavailable || errType == activities.ErrTypeSalesforceQuotaExhausted
	if transient && it.Attempts+1 >= maxDuplicateAttempts && strings.Contains(msg, "DUPLICATE_VALUE") {
		transient = false
		errType = activities.ErrTypeSalesforceRejected
	}
	if !transient {
		r.fail(i, cmp.Or(errType, activities.ErrTypeSalesforceRejected), trimType(msg, errType))
		return
	}
	backoff := maxRecordBackoff
	if callFailed {
		backoff = maxBackoff
	}
	r.retry(now, i, errType, msg, backoff)
}

// retry puts person i back, to try again after a backoff of at most
// maxDelay (or once the allocation returns), unless it has waited maxWait
// already.
func (r *laneRun) retry(now time.Time, i int, errType, msg string, maxDelay time.Duration) {
	it := r.b.items[i]
	r.outcomes[i].back = true
	if now.Sub(it.Received) >= maxWait {
		r.outcomes[i].back = false
		r.fail(i, errType, fmt.Sprintf("still failing after %s: %s", maxWait, trimType(msg, errType)))
		return
	}
	it.Attempts++
	it.LastError = msg
	r.st.LastError = msg
	r.st.Counts.Retried++
	delay := min(time.Second<<min(it.Attempts-1, 16), maxDelay)
	if errType == activities.ErrTypeSalesforceQuotaExhausted {
		delay = r.settings.QuotaPause
		r.st.PausedUntil = now.Add(delay)
	}
	it.NotBefore = now.Add(delay)
}

// giveWay puts people back to wait, with no fault counted: their lookup
// gave way to the lane's continue-as-new (ChangeLaneYieldsLookups).
func (r *laneRun) giveWay(is []int) {
	for _, i := range is {
		r.outcomes[i].back = true
	}
}

// doubt puts people whose write has no known outcome back, to wait until
// Salesforce can no longer commit it; their identifiers wait too, so that
// nobody else creates a record for them meanwhile.
func (r *laneRun) doubt(now time.Time, is []int, msg string) {
	until := now.Add(r.settings.CommitHorizon)
	for _, i := range is {
		it := r.b.items[i]
		r.outcomes[i].back = true
		it.Doubted = r.identity
		r.st.Counts.Doubted++
		r.st.Doubt[it.who()] = until
		if k := r.b.key(it); k != "" {
			r.st.Doubt[idKey(k)] = until
		}
		it.LastError = msg
		it.NotBefore = until
	}
	r.st.LastError = msg
}

// callFailed settles people whose lookup (or fresh read) failed as a
// whole, after the activity's own retries.
func (r *laneRun) callFailed(now time.Time, is []int, err error) {
	errType, msg := "", errorMessage(err)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		errType = appErr.Type()
	}
	switch {
	case fatalErrorTypes[errType] || errType == activities.ErrTypeSalesforceRejected ||
		errType == activities.ErrTypeSalesforceAmbiguous || errType == activities.ErrTypeUnexpected:
		for _, i := range is {
			r.fail(i, errType, trimType(msg, errType))
		}
	default: // unavailable, quota, timeouts: try again later
		if errType == "" {
			errType = activities.ErrTypeSalesforceUnavailable
		}
		for _, i := range is {
			r.retry(now, i, errType, msg, maxBackoff)
		}
	}
}

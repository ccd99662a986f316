package activities

import (
	"context"
	"errors"
	"fmt"
	"net"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
)

// WriteInput is one batch of a pairing lane: the records to create and the
// records to update, of one spec, at most MaxWrite of each.
type WriteInput struct {
	Spec    pairing.Spec `json:"spec"`
	Creates []CreateItem `json:"creates,omitempty"`
	Updates []UpdateItem `json:"updates,omitempty"`
	// ReadBack asks for the updated records as Salesforce holds them after
	// the write (WriteOutcome.After): one more query.
	ReadBack bool `json:"read_back,omitempty"`
}

// MaxWrite is the most creates, and the most updates, one Write takes: two
// sObject Collections calls of each.
const MaxWrite = 2 * MaxBatch

// WriteOutcome is the fate of one record of a Write.
type WriteOutcome struct {
	WriteResult
	// Unknown is set when Salesforce's answer never came for the record's
	// call (a timeout, a dropped connection, a gateway page, a body that
	// does not decode): the write may have committed, or may still commit
	// until the org's commit horizon has passed.
	Unknown bool `json:"unknown,omitempty"`
	// CallFailed is set when the record's whole call failed (its Error is
	// the call's), as opposed to Salesforce refusing this record alone.
	CallFailed bool `json:"call_failed,omitempty"`
	// After is an updated record as Salesforce holds it right after the
	// write (the spec's fields), for specs that watch the CRM: what
	// afsync's write hides from the watch (it is the last modifier now),
	// an edit made in Salesforce between the lane's read and its write,
	// shows here. Nil when not read.
	After *pairing.CRMRecord `json:"after,omitempty"`
}

// WriteOutput is what Write did, in the order of its input.
type WriteOutput struct {
	Creates []WriteOutcome `json:"creates,omitempty"`
	Updates []WriteOutcome `json:"updates,omitempty"`
	// Calls is how many Salesforce API requests the write cost.
	Calls int `json:"calls"`
}

// WriteBegun is the heartbeat detail of a Write that has begun. Write
// records it, and waits for the server to hold it, before its first
// Salesforce call, and every later heartbeat of the Write carries it. A
// Write that failed without it made no call: its task was lost on its way
// to a worker (the server counts a task started once it hands it to a
// poll, whether or not the worker ever gets it), or the worker stopped
// first. Its people are not in doubt: the lane may write them again at
// once instead of waiting out the commit horizon.
const WriteBegun = "write-begun"

// WriteWasNotBegun reports whether err, a failed Write activity, is known to
// have made no Salesforce call: it said so (ErrTypeWriteNotBegun), or it
// timed out without ever recording WriteBegun.
func WriteWasNotBegun(err error) bool {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeWriteNotBegun {
		return true
	}
	var timeout *temporal.TimeoutError
	return errors.As(err, &timeout) && !timeout.HasLastHeartbeatDetails()
}

// begin records that the Write in ctx has begun (see WriteBegun).
func (a *Salesforce) begin(ctx context.Context) error {
	if !activity.IsActivity(ctx) {
		return nil
	}
	if a.Begin == nil {
		activity.RecordHeartbeat(ctx, WriteBegun)
		return nil
	}
	if err := a.Begin(ctx); err != nil {
		return temporal.NewApplicationError("could not record that the write began, so it made no Salesforce call: "+err.Error(), ErrTypeWriteNotBegun)
	}
	return nil
}

// Write makes one attempt at a lane's batch: sObject Collections calls of
// up to MaxBatch records, for the creates (upserts on the external id when
// the spec has one) and for the updates, sent together in one composite
// request (one API call) when there are several. It never retries and never fails
// as a whole for an API fault: every record's outcome, refused, transient
// or unknown, is in the output, so that the lane, which holds the person,
// decides what happens next. A retry that is not the lane's decision could
// create a record twice (without an external id, a create whose answer was
// lost may still commit) or write an older value after a newer one. With
// the spec's duplicate_rules: allow_save every call saves past the org's
// Alert duplicate rules; a record a rule still refuses is a permanent
// refusal of that record alone, naming the duplicates (DuplicateIDs).
func (a *Salesforce) Write(ctx context.Context, in WriteInput) (WriteOutput, error) {
	if err := a.owns(&in.Spec); err != nil {
		return WriteOutput{}, err
	}
	if len(in.Creates) > MaxWrite || len(in.Updates) > MaxWrite {
		return WriteOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d creates and %d updates in one batch; at most %d of each", len(in.Creates), len(in.Updates), MaxWrite), ErrTypeSalesforceRejected, nil)
	}
	if err := a.begin(ctx); err != nil {
		return WriteOutput{}, err
	}
	defer keepAlive(ctx, WriteBegun)()
	out := WriteOutput{Creates: make([]WriteOutcome, len(in.Creates)), Updates: make([]WriteOutcome, len(in.Updates))}
	calls := writeCalls(&in, &out)
	opts := saveOptions(&in.Spec)
	if len(calls) == 1 {
		c := calls[0]
		saved, err := a.Client.Collection(ctx, c.call, false, opts...)
		out.Calls++
		settle(c.outs, saved, err, c.call.Kind == salesforce.CollectionCreate, in.Spec.ExternalID.CRM)
	} else if len(calls) > 1 {
		// Several collection calls go in one composite request: one API call.
		reqs := make([]salesforce.CollectionCall, len(calls))
		for i, c := range calls {
			reqs[i] = c.call
		}
		answers, err := a.Client.Collections(ctx, reqs, opts...)
		out.Calls++
		for i, c := range calls {
			if err != nil {
				settle(c.outs, nil, err, false, "")
				continue
			}
			settle(c.outs, answers[i].Results, answers[i].Err, c.call.Kind == salesforce.CollectionCreate, in.Spec.ExternalID.CRM)
		}
	}
	if in.ReadBack {
		a.readBack(ctx, &in.Spec, &out)
	}
	return out, nil
}

// readBack reads the records the write updated, for their After: one query
// for all of them. It is best effort: when the read fails, After stays nil
// and the lane learns nothing more than the watch would.
func (a *Salesforce) readBack(ctx context.Context, spec *pairing.Spec, out *WriteOutput) {
	var ids []string
	for _, o := range out.Updates {
		if o.Error == "" && o.ID != "" {
			ids = append(ids, o.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	fields := spec.CRMFields()
	got := map[string]pairing.CRMRecord{}
	err := a.eachRecord(ctx, buildLookupQueries(spec.Object, "Id", fields, ids), false, &out.Calls, func(r salesforce.Record) {
		got[r.ID()] = crmRecordOf(r, fields)
	})
	if err != nil {
		return
	}
	for i := range out.Updates {
		o := &out.Updates[i]
		if rec, ok := got[o.ID]; ok && o.Error == "" {
			o.After = &rec
		}
	}
}

// writeCall is one collection call of a Write and the outcomes it settles.
type writeCall struct {
	call salesforce.CollectionCall
	outs []WriteOutcome
}

// writeCalls splits in into collection calls of up to MaxBatch records,
// creates first, each with its slice of out.
func writeCalls(in *WriteInput, out *WriteOutput) []writeCall {
	var calls []writeCall
	ext := in.Spec.ExternalID.CRM
	for start := 0; start < len(in.Creates); start += MaxBatch {
		items := in.Creates[start:min(start+MaxBatch, len(in.Creates))]
		c := writeCall{call: salesforce.CollectionCall{Kind: salesforce.CollectionCreate}, outs: out.Creates[start : start+len(items)]}
		if ext != "" {
			c.call = salesforce.CollectionCall{Kind: salesforce.CollectionUpsert, Object: in.Spec.Object, ExtField: ext}
		}
		for i, it := range items {
			c.outs[i].Slug = it.Slug
			rec := salesforce.SObject{Type: in.Spec.Object, Fields: fieldsOf(it.Values)}
			if ext != "" {
				rec.Fields[ext] = it.Slug
			}
			c.call.Records = append(c.call.Records, rec)
		}
		calls = append(calls, c)
	}
	for start := 0; start < len(in.Updates); start += MaxBatch {
		items := in.Updates[start:min(start+MaxBatch, len(in.Updates))]
		c := writeCall{call: salesforce.CollectionCall{Kind: salesforce.CollectionUpdate}, outs: out.Updates[start : start+len(items)]}
		for i, it := range items {
			c.outs[i].Slug, c.outs[i].ID = it.Slug, it.ID
			c.call.Records = append(c.call.Records, salesforce.SObject{Type: in.Spec.Object, ID: it.ID, Fields: fieldsOf(it.Values)})
		}
		calls = append(calls, c)
	}
	return calls
}

// settle records one collection call's results in outs: each record's own
// result, or the call's failure on every record.
func settle(outs []WriteOutcome, saved []salesforce.SaveResult, err error, createdByCall bool, ext string) {
	if err != nil {
		errType, unknown := callFailure(err)
		for i := range outs {
			outs[i].Error, outs[i].ErrorType, outs[i].Unknown, outs[i].CallFailed = err.Error(), errType, unknown, true
		}
		return
	}
	for i := range outs {
		applySave(&outs[i].WriteResult, saved, i, createdByCall, ext)
		outs[i].Unknown = outs[i].ErrorType == ErrTypeSalesforceOutcomeUnknown
	}
}

// callFailure classifies a write call that failed as a whole, and says
// whether the write may have committed. Salesforce's own error answer means
// it did not; a request that never left (a refused connection) did not
// either; anything else (a timeout, a reset, a gateway's page, an answer
// that does not decode) may have.
func callFailure(err error) (errType string, unknown bool) {
	var sfErr *salesforce.Error
	switch {
	case errors.As(err, &sfErr) && sfErr.Answered():
		var appErr *temporal.ApplicationError
		if errors.As(classifySalesforce(sfErr), &appErr) {
			return appErr.Type(), false
		}
		return ErrTypeSalesforceRejected, false
	case notSent(err):
		return ErrTypeSalesforceUnavailable, false
	default:
		return ErrTypeSalesforceOutcomeUnknown, true
	}
}

// notSent reports whether the request never reached Salesforce: no session
// could be had, or the connection was refused.
func notSent(err error) bool {
	var opErr *net.OpError
	return errors.Is(err, salesforce.ErrNotSent) || errors.As(err, &opErr) && opErr.Op == "dial"
}

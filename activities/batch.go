package activities

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
)

// MaxBatch is the most records one write activity takes: one sObject
// Collections call.
const MaxBatch = salesforce.MaxCollection

// CreateItem is one record to create.
type CreateItem struct {
	Slug       string           `json:"slug"`
	Identifier string           `json:"identifier"`
	Values     []pairing.Change `json:"values"`
}

// CreateRecordsInput is the input of CreateRecords.
type CreateRecordsInput struct {
	Spec  pairing.Spec `json:"spec"`
	Items []CreateItem `json:"items"`
}

// UpdateItem is one record to update.
type UpdateItem struct {
	Slug   string           `json:"slug"`
	ID     string           `json:"id"`
	Values []pairing.Change `json:"values"`
}

// UpdateRecordsInput is the input of UpdateRecords.
type UpdateRecordsInput struct {
	Object string       `json:"object"`
	Items  []UpdateItem `json:"items"`
}

// WriteResult is the fate of one record in a batch write.
type WriteResult struct {
	Slug string `json:"slug"`
	ID   string `json:"id,omitempty"`
	// Created is true when this call created the record.
	Created bool `json:"created,omitempty"`
	// Error is Salesforce's own code and message when the record was refused.
	Error string `json:"error,omitempty"`
	// ErrorType classifies Error as a whole request's error would be (one
	// of the ErrType* constants): a locked row is transient, a validation
	// rule permanent.
	ErrorType string `json:"error_type,omitempty"`
	// DuplicateIDs are the existing records Salesforce named when a
	// duplicate rule refused the record (DUPLICATES_DETECTED, a permanent
	// refusal); Error names them too.
	DuplicateIDs []string `json:"duplicate_ids,omitempty"`
}

// WriteRecordsResult is the output of CreateRecords and UpdateRecords, in
// the order of the input items.
type WriteRecordsResult struct {
	Results []WriteResult `json:"results"`
	// Calls is how many Salesforce API requests the write cost.
	Calls int `json:"calls"`
}

// CreateRecords creates up to MaxBatch records in one sObject Collections
// call. A record Salesforce refuses is reported in its result and does not
// fail the others (allOrNone is off). Like CreateRecord it is idempotent:
// with an external-id field it upserts on the slug; otherwise a retry first
// looks the identifiers up again and creates only the records still missing.
func (a *Salesforce) CreateRecords(ctx context.Context, in CreateRecordsInput) (WriteRecordsResult, error) {
	if err := a.owns(&in.Spec); err != nil {
		return WriteRecordsResult{}, err
	}
	return a.createRecords(ctx, in, activity.GetInfo(ctx).Attempt > 1)
}

func (a *Salesforce) createRecords(ctx context.Context, in CreateRecordsInput, retrying bool) (WriteRecordsResult, error) {
	if len(in.Items) > MaxBatch {
		return WriteRecordsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d records in one batch; at most %d", len(in.Items), MaxBatch), ErrTypeSalesforceRejected, nil)
	}
	out := WriteRecordsResult{Results: make([]WriteResult, len(in.Items))}
	obj, ext := in.Spec.Object, in.Spec.ExternalID.CRM
	todo := make([]int, 0, len(in.Items)) // indexes still to write
	for i, it := range in.Items {
		out.Results[i].Slug = it.Slug
		todo = append(todo, i)
	}
	if retrying && ext == "" {
		ids := make([]string, len(in.Items))
		for i, it := range in.Items {
			ids[i] = it.Identifier
		}
		found, err := a.FindRecords(ctx, FindRecordsInput{Spec: in.Spec, Identifiers: ids})
		out.Calls += found.Queries
		if err != nil {
			return out, err
		}
		todo = todo[:0]
		for i, it := range in.Items {
			switch m := found.Matches[IdentifierKey(it.Identifier)]; len(m) {
			case 0:
				todo = append(todo, i)
			case 1:
				out.Results[i].ID = m[0].ID // an earlier attempt created it
			default:
				out.Results[i].Error = "AMBIGUOUS: several records hold the identifier; not creating another"
			}
		}
	}
	if len(todo) == 0 {
		return out, nil
	}
	records := make([]salesforce.SObject, len(todo))
	for j, i := range todo {
		records[j] = salesforce.SObject{Type: obj, Fields: fieldsOf(in.Items[i].Values)}
		if ext != "" {
			records[j].Fields[ext] = in.Items[i].Slug
		}
	}
	var (
		saved []salesforce.SaveResult
		err   error
	)
	if ext != "" {
		saved, err = a.Client.UpsertCollection(ctx, obj, ext, records, false, saveOptions(&in.Spec)...)
	} else {
		saved, err = a.Client.CreateCollection(ctx, records, false, saveOptions(&in.Spec)...)
	}
	out.Calls++
	if err != nil {
		return out, fail(ctx, err)
	}
	for j, i := range todo {
		applySave(&out.Results[i], saved, j, ext == "", ext)
	}
	return out, nil
}

// UpdateRecords updates up to MaxBatch records by id in one sObject
// Collections call, only the fields each item names. Refused records are
// reported in their results. Updating twice is harmless, so retries are safe.
// Its input carries no spec, so duplicate rules are respected.
func (a *Salesforce) UpdateRecords(ctx context.Context, in UpdateRecordsInput) (WriteRecordsResult, error) {
	if len(in.Items) > MaxBatch {
		return WriteRecordsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d records in one batch; at most %d", len(in.Items), MaxBatch), ErrTypeSalesforceRejected, nil)
	}
	out := WriteRecordsResult{Results: make([]WriteResult, len(in.Items))}
	if len(in.Items) == 0 {
		return out, nil
	}
	records := make([]salesforce.SObject, len(in.Items))
	for i, it := range in.Items {
		out.Results[i] = WriteResult{Slug: it.Slug, ID: it.ID}
		records[i] = salesforce.SObject{Type: in.Object, ID: it.ID, Fields: fieldsOf(it.Values)}
	}
	saved, err := a.Client.UpdateCollection(ctx, records, false)
	out.Calls++
	if err != nil {
		return out, fail(ctx, err)
	}
	for i := range in.Items {
		applySave(&out.Results[i], saved, i, false, "")
	}
	return out, nil
}

// applySave copies the j-th collection result into r. createdByCall says
// that a success means a new record (a plain create); an upsert says so
// itself. ext is the external-id field of an upsert.
func applySave(r *WriteResult, saved []salesforce.SaveResult, j int, createdByCall bool, ext string) {
	if j >= len(saved) {
		r.Error = "MISSING_RESULT: Salesforce returned fewer results than records"
		r.ErrorType = ErrTypeSalesforceOutcomeUnknown
		return
	}
	s := saved[j]
	if !s.Success {
		r.Error = recordErrorText(s.Errors)
		r.ErrorType = ErrTypeSalesforceRejected
		if len(s.Errors) > 0 {
			r.ErrorType = recordErrorType(s.Errors[0].StatusCode, s.Errors[0].Message, ext)
		}
		r.DuplicateIDs = salesforce.DuplicateIDs(s.Errors)
		return
	}
	if s.ID != "" {
		r.ID = s.ID
	}
	r.Created = s.Created || createdByCall
}

func recordErrorText(errs []salesforce.RecordError) string {
	if len(errs) == 0 {
		return "UNKNOWN: Salesforce refused the record without a reason"
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.StatusCode + ": " + e.Message
		if len(e.Fields) > 0 {
			parts[i] += " (" + strings.Join(e.Fields, ", ") + ")"
		}
		if ids := e.DuplicateResult.RecordIDs(); len(ids) > 0 {
			parts[i] += " (duplicates: " + strings.Join(ids, ", ") + ")"
		}
	}
	return strings.Join(parts, "; ")
}

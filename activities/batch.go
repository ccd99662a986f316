package activities

import (
	"strings"

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

// UpdateItem is one record to update.
type UpdateItem struct {
	Slug   string           `json:"slug"`
	ID     string           `json:"id"`
	Values []pairing.Change `json:"values"`
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

// Package workflows holds afsync's Temporal workflows and their contract:
// task queues, workflow IDs, search attributes, inputs and results. The
// worker and the starter CLI import these names; none is typed twice.
package workflows

import (
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
)

// Task queues. Award Force activities have a queue of their own so that the
// server can rate-limit them for the whole fleet (Award Force allows 60
// requests a minute per API key); workflows and Salesforce activities share
// the main queue.
const (
	// TaskQueue carries workflow tasks and Salesforce activities.
	TaskQueue = "afsync"
	// AwardForceTaskQueue carries only Award Force activities.
	AwardForceTaskQueue = "afsync-awardforce"
)

// Search attributes that afsync sets on its workflows so that ops can filter
// syncs in the Temporal UI (for example `AfsyncOutcome = "failed"`). The
// worker registers them on its namespace at start.
var (
	// OutcomeKey is the outcome of a user sync (see Outcome).
	OutcomeKey = temporal.NewSearchAttributeKeyKeyword("AfsyncOutcome")
	// RecordIDKey is the Salesforce record id a user is paired with.
	RecordIDKey = temporal.NewSearchAttributeKeyKeyword("AfsyncRecordId")
)

// SearchAttributeKeys lists every custom search attribute afsync uses.
func SearchAttributeKeys() []temporal.SearchAttributeKey {
	return []temporal.SearchAttributeKey{OutcomeKey, RecordIDKey}
}

// Outcome is what a user sync ended with, as shown in the UI's search
// attribute and in the starter's output.
type Outcome string

// Outcomes of a user sync.
const (
	OutcomeCreated   Outcome = "created"
	OutcomeUpdated   Outcome = "updated"
	OutcomeUnchanged Outcome = "unchanged"
	OutcomeSkipped   Outcome = "skipped"
	OutcomeAmbiguous Outcome = "ambiguous"
	OutcomeFailed    Outcome = "failed"
)

// UserSyncWorkflowID is the workflow ID of the sync of one Award Force user.
// It is derived from the slug, never from the email, so that no PII shows in
// workflow lists.
func UserSyncWorkflowID(slug string) string { return "afsync-user-" + slug }

// UserSyncInput starts a UserSync workflow. A single struct keeps later
// additions backward compatible.
type UserSyncInput struct {
	// Slug is the Award Force user's slug.
	Slug string `json:"slug"`
	// Trigger says why the sync runs; it selects which of the spec's options apply.
	Trigger pairing.Trigger `json:"trigger"`
	// Spec is the pairing spec to apply. It travels in the input so that the
	// history records exactly what a sync was asked to do.
	Spec pairing.Spec `json:"spec"`
}

// UserSyncResult is the audit record of one user sync.
type UserSyncResult struct {
	// Slug is the Award Force user's slug.
	Slug string `json:"slug"`
	// Outcome summarises what happened.
	Outcome Outcome `json:"outcome"`
	// Decision is what Decide chose, with every field's before → after.
	Decision pairing.Decision `json:"decision"`
	// RecordID is the paired Salesforce record, when there is one.
	RecordID string `json:"record_id,omitempty"`
	// Error is Salesforce's or Award Force's own message when a write failed.
	Error string `json:"error,omitempty"`
}

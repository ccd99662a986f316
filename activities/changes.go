package activities

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
)

// ChangesInput asks what changed in the CRM in a window.
type ChangesInput struct {
	Spec pairing.Spec `json:"spec"`
	// Start and End bound the window; Salesforce wants it at least a
	// minute wide and no more than 30 days back.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Deletions asks for the records deleted in the window too.
	Deletions bool `json:"deletions,omitempty"`
}

// CRMChange is a record someone other than afsync changed, deleted or
// merged in the window.
type CRMChange struct {
	RecordID string `json:"record_id"`
	// Slug is the Award Force slug the record holds in the spec's external
	// id, when it has one.
	Slug string `json:"slug,omitempty"`
	// Identifier is the record's unique-identifier value (usually an email).
	Identifier string `json:"identifier,omitempty"`
	// Deleted and MergedInto say the record is gone, and where to.
	Deleted    bool   `json:"deleted,omitempty"`
	MergedInto string `json:"merged_into,omitempty"`
	// Modified is when the record last changed.
	Modified time.Time `json:"modified"`
}

// ChangesResult is what changed in a window.
type ChangesResult struct {
	// Changes are the records others changed, by record id.
	Changes []CRMChange `json:"changes,omitempty"`
	// Echoes counts the records afsync itself changed last: not changes to
	// bring back.
	Echoes int `json:"echoes"`
	// Covered is the latest moment the answer is complete for: the next
	// window starts there and misses nothing.
	Covered time.Time `json:"covered"`
	// Calls is how many Salesforce requests it cost.
	Calls int `json:"calls"`
}

// ChangedRecords asks Salesforce which records of the spec's object were
// created, updated (GET …/updated/) and, with Deletions, deleted (GET
// …/deleted/) in the window, then reads them through queryAll (deleted and
// merged ones too): who changed them last, their identifier and external
// id. Records afsync changed last are echoes, counted and left out.
func (a *Salesforce) ChangedRecords(ctx context.Context, in ChangesInput) (ChangesResult, error) {
	defer keepAlive(ctx)()
	obj, err := a.describe(ctx, in.Spec.Object)
	if err != nil {
		return ChangesResult{}, err
	}
	var res ChangesResult
	updated, err := a.Client.Updated(ctx, in.Spec.Object, in.Start, in.End)
	res.Calls++
	if err != nil {
		return res, fail(ctx, err)
	}
	res.Covered = updated.LatestDateCovered
	ids := updated.IDs
	if in.Deletions {
		deleted, err := a.Client.Deleted(ctx, in.Spec.Object, in.Start, in.End)
		res.Calls++
		if err != nil {
			return res, fail(ctx, err)
		}
		if deleted.LatestDateCovered.Before(res.Covered) {
			res.Covered = deleted.LatestDateCovered
		}
		ids = append(ids, deleted.IDs...)
	}
	if len(ids) == 0 {
		return res, nil
	}
	me, err := a.Client.UserID(ctx)
	if err != nil {
		return res, fail(ctx, err)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	idField, ext := in.Spec.UniqueIdentifier.CRM, in.Spec.ExternalID.CRM
	fields := []string{"Id", idField}
	if ext != "" {
		fields = append(fields, ext)
	}
	selected := withSystemFields(obj, fields, true)
	_, merges := obj.Field("MasterRecordId")
	if err := a.eachRecord(ctx, buildLookupQueries(in.Spec.Object, "Id", selected, ids), true, &res.Calls, func(r salesforce.Record) {
		deleted := r.String("IsDeleted") == "true"
		if !deleted && r.String("LastModifiedById") == me {
			res.Echoes++
			return
		}
		c := CRMChange{RecordID: r.ID(), Identifier: strings.TrimSpace(r.String(idField)), Deleted: deleted, Modified: r.Time("LastModifiedDate")}
		if ext != "" {
			c.Slug = strings.TrimSpace(r.String(ext))
		}
		if merges {
			c.MergedInto = r.String("MasterRecordId")
		}
		res.Changes = append(res.Changes, c)
	}); err != nil {
		return res, err
	}
	slices.SortFunc(res.Changes, func(a, b CRMChange) int { return strings.Compare(a.RecordID, b.RecordID) })
	return res, nil
}

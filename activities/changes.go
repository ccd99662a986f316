package activities

import (
	"context"
	"fmt"
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

// ChangedRecords asks Salesforce what changed in the window, in two
// requests whatever happened: GET …/updated/ for how far the answer is
// complete (latestDateCovered: a write still in flight holds it back), then
// one queryAll for the records whose SystemModstamp falls between the
// window's start and that mark and that someone other than afsync changed
// last (LastModifiedById), and every deleted or merged one (whether a
// deletion moves LastModifiedById is not documented, so a deletion counts
// whoever made it: afsync never deletes). afsync's own
// writes, a backfill's thousands among them, cost nothing to tell apart:
// they are counted (the updated ids the query did not return) and left out.
func (a *Salesforce) ChangedRecords(ctx context.Context, in ChangesInput) (ChangesResult, error) {
	if err := a.owns(&in.Spec); err != nil {
		return ChangesResult{}, err
	}
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
	if res.Covered.Before(in.Start) {
		return res, nil // nothing is complete yet past the start
	}
	me, err := a.Client.UserID(ctx)
	if err != nil {
		return res, fail(ctx, err)
	}
	idField, ext := in.Spec.UniqueIdentifier.CRM, in.Spec.ExternalID.CRM
	fields := []string{"Id", idField}
	if ext != "" {
		fields = append(fields, ext)
	}
	selected := withSystemFields(obj, fields, true)
	_, merges := obj.Field("MasterRecordId")
	q := fmt.Sprintf("SELECT %s FROM %s WHERE SystemModstamp >= %s AND SystemModstamp <= %s AND (LastModifiedById != %s OR IsDeleted = true)",
		strings.Join(selected, ", "), in.Spec.Object, salesforce.DateTime(in.Start), salesforce.DateTime(res.Covered.Add(time.Second)), salesforce.Quote(me))
	others := map[string]bool{}
	if err := a.eachRecord(ctx, []string{q}, true, &res.Calls, func(r salesforce.Record) {
		c := CRMChange{RecordID: r.ID(), Identifier: strings.TrimSpace(r.String(idField)), Deleted: r.String("IsDeleted") == "true", Modified: r.Time("LastModifiedDate")}
		if ext != "" {
			c.Slug = strings.TrimSpace(r.String(ext))
		}
		if merges {
			c.MergedInto = r.String("MasterRecordId")
		}
		others[c.RecordID] = true
		res.Changes = append(res.Changes, c)
	}); err != nil {
		return res, err
	}
	for _, id := range updated.IDs {
		if !others[id] {
			res.Echoes++
		}
	}
	slices.SortFunc(res.Changes, func(a, b CRMChange) int { return strings.Compare(a.RecordID, b.RecordID) })
	return res, nil
}

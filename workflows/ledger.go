package workflows

// The identity ledger: who is paired with which record, written down for
// life, for specs whose records do not carry the slug (no external id).
//
// A record with an external id carries its person's slug for life; a spec
// without one has nothing on either side that says whose a record is once
// the lane has forgotten (its memory of pairings is bounded, LaneState.Paired)
// and the person's last sync is gone (the namespace's retention). Without
// the ledger an email changed after that made a second record, and a
// newcomer registering the freed address took the old owner's record.
//
// Each pairing is one small workflow, PairedRecord (ID
// afsync-paired-<object>-<slug>), open for the person's life and idle:
// its record is its AfsyncRecordId search attribute. It holds no PII (a
// slug and a record id) and costs one start and one workflow task per
// person, again only when their record changes (a merge). A lane batch
// asks Temporal's visibility once each way (RecallPairings):
//
//   - before its lookup, the records of the people it does not follow by a
//     record id already: an address changed long after the pairing is
//     followed to the record, which is updated, not duplicated;
//   - after it, who owns the records its people's identifiers found: a
//     record another person is paired with is never given to a newcomer
//     who registered the address that person freed.
//
// After its writes the lane records the pairings the ledger did not hold
// (RememberPairings) before it answers. Visibility is eventually
// consistent; what was paired in the last seconds is in the lane's own
// memory, which lasts far longer.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// PairedRecordSignal tells a PairedRecord workflow the person's record
// (an 18-character id) now.
const PairedRecordSignal = "paired-record"

// pairedRecordSignalsPerRun bounds a PairedRecord run's history; a person's
// record rarely changes, so few runs ever continue as new.
const pairedRecordSignalsPerRun = 100

// PairedRecordWorkflowID names the ledger entry of the person slug for
// records of object.
func PairedRecordWorkflowID(object, slug string) string {
	return "afsync-paired-" + strings.ToLower(object) + "-" + slug
}

// PairedRecordInput starts a ledger entry, or continues it.
type PairedRecordInput struct {
	Object   string `json:"object"`
	Slug     string `json:"slug"`
	RecordID string `json:"record_id"`
}

// PairedRecord is one person's entry in the identity ledger: it waits,
// for the person's life, and keeps the record they are paired with in its
// AfsyncRecordId search attribute, where visibility finds it by slug
// (workflow ID) and by record.
func PairedRecord(ctx workflow.Context, in PairedRecordInput) error {
	if got, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(RecordIDKey); got != in.RecordID && in.RecordID != "" {
		if err := workflow.UpsertTypedSearchAttributes(ctx, RecordIDKey.ValueSet(in.RecordID)); err != nil {
			return err
		}
	}
	ch := workflow.GetSignalChannel(ctx, PairedRecordSignal)
	for range pairedRecordSignalsPerRun {
		var id string
		ch.Receive(ctx, &id)
		if id == "" || id == in.RecordID {
			continue
		}
		in.RecordID = id
		if err := workflow.UpsertTypedSearchAttributes(ctx, RecordIDKey.ValueSet(id)); err != nil {
			return err
		}
	}
	// The signals that came meanwhile go with the next run.
	for {
		var id string
		if !ch.ReceiveAsync(&id) {
			break
		}
		if id != "" {
			in.RecordID = id
		}
	}
	return workflow.NewContinueAsNewError(ctx, PairedRecord, in)
}

// Pairing is one person paired with one record.
type Pairing struct {
	Slug     string `json:"slug"`
	RecordID string `json:"record_id"`
}

// RecallInput asks the ledger of object's records for the records of
// Slugs and the owners of Records.
type RecallInput struct {
	Object  string   `json:"object"`
	Slugs   []string `json:"slugs,omitempty"`
	Records []string `json:"records,omitempty"`
}

// Recalled is what the ledger holds of a RecallInput's people and records.
type Recalled struct {
	// Records are the records of the slugs asked, by slug.
	Records map[string]string `json:"records,omitempty"`
	// Owners are the people paired with the records asked, by record; a
	// merge may leave two with one.
	Owners map[string][]string `json:"owners,omitempty"`
}

// RememberInput writes pairings into the ledger of object's records.
type RememberInput struct {
	Object   string    `json:"object"`
	Pairings []Pairing `json:"pairings"`
}

// RecallPairings reads the ledger for in's slugs and records, one
// visibility query for both.
func (l *Coordinator) RecallPairings(ctx context.Context, in RecallInput) (Recalled, error) {
	out := Recalled{Records: map[string]string{}, Owners: map[string][]string{}}
	var terms []string
	if ids := quotedIDs(in.Slugs, func(s string) string { return PairedRecordWorkflowID(in.Object, s) }); ids != "" {
		terms = append(terms, "WorkflowId IN ("+ids+")")
	}
	if ids := quotedIDs(in.Records, normalID); ids != "" {
		terms = append(terms, RecordIDKey.GetName()+" IN ("+ids+")")
	}
	if len(terms) == 0 {
		return out, nil
	}
	query := fmt.Sprintf("WorkflowType = 'PairedRecord' AND ExecutionStatus = 'Running' AND (%s)", strings.Join(terms, " OR "))
	prefix := PairedRecordWorkflowID(in.Object, "")
	var token []byte
	for {
		resp, err := l.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return Recalled{}, err
		}
		for _, e := range resp.GetExecutions() {
			slug, ok := strings.CutPrefix(e.GetExecution().GetWorkflowId(), prefix)
			p := e.GetSearchAttributes().GetIndexedFields()[RecordIDKey.GetName()]
			var id string
			if !ok || p == nil || converter.GetDefaultDataConverter().FromPayload(p, &id) != nil || id == "" {
				continue
			}
			out.Records[slug] = id
			out.Owners[id] = append(out.Owners[id], slug)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

// RememberPairings writes in's pairings into the ledger: a person's entry
// starts with their record, or is told the new one.
func (l *Coordinator) RememberPairings(ctx context.Context, in RememberInput) error {
	const inFlight = 8
	sem := make(chan struct{}, inFlight)
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for _, p := range in.Pairings {
		id := normalID(p.RecordID)
		opts := client.StartWorkflowOptions{
			ID:                       PairedRecordWorkflowID(in.Object, p.Slug),
			TaskQueue:                TaskQueue,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			TypedSearchAttributes:    temporal.NewSearchAttributes(RecordIDKey.ValueSet(id)),
			StaticSummary:            fmt.Sprintf("Award Force user %s is paired with Salesforce %s %s (identity ledger)", p.Slug, in.Object, id),
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := l.Client.SignalWithStartWorkflow(ctx, opts.ID, PairedRecordSignal, id, opts, PairedRecord,
				PairedRecordInput{Object: in.Object, Slug: p.Slug, RecordID: id})
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("remember that %s is paired with %s: %w", p.Slug, id, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// quotedIDs is the comma-separated list of each value's id, quoted for a
// visibility query; values that are not plain ids (letters, digits, - and
// _) are left out.
func quotedIDs(values []string, id func(string) string) string {
	var b strings.Builder
	for _, v := range values {
		if v == "" || strings.ContainsFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("'" + id(v) + "'")
	}
	return b.String()
}

// ledgerOptions bound the lane's ledger calls: retried for a minute, then
// the batch's people wait and try again.
func ledgerOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: 5 * time.Second},
	})
}

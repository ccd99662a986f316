package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// A syncRecord is what one workflow did for one person: a UserSync run
// (a single sync, a webhook's, a CRM change's, a retry) or the backfill
// chunk that held them. find and report --since print these.
type syncRecord struct {
	// When the workflow ended (started, while it runs).
	When time.Time `json:"when"`
	// Trigger is what asked for the sync: a UserSync's trigger, or
	// "backfill" for a chunk.
	Trigger string `json:"trigger"`
	// Status is the workflow's: completed, failed, running, continued (a
	// second pass carries on in the next run), terminated, …
	Status string `json:"status"`
	// Result is the person's audit, when the workflow left one.
	Result *workflows.UserSyncResult `json:"result,omitempty"`
	// WorkflowID and RunID name the workflow; Link opens it in the UI.
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Link       string `json:"link,omitempty"`
}

// changedFields lists the fields r's decision changed, as target.field.
func (r syncRecord) changedFields() []string {
	if r.Result == nil {
		return nil
	}
	var out []string
	for _, c := range r.Result.Decision.CRM {
		out = append(out, "salesforce."+c.Field)
	}
	for _, c := range r.Result.Decision.AwardForce {
		out = append(out, "awardforce."+c.Field)
	}
	return out
}

// syncReader reads afsync's workflows from Temporal's visibility and
// histories.
type syncReader struct {
	c client.Client
	// names are the integration's whose syncs these are.
	names     workflows.Names
	dc        converter.DataConverter
	namespace string
	uiURL     string
}

func newSyncReader(c client.Client, copts client.Options, names workflows.Names, uiURL string) *syncReader {
	dc := copts.DataConverter
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	return &syncReader{c: c, names: names, dc: dc, namespace: copts.Namespace, uiURL: strings.TrimRight(uiURL, "/")}
}

// link is the UI page of a workflow run.
func (s *syncReader) link(id, runID string) string {
	if s.uiURL == "" {
		return ""
	}
	ns := s.namespace
	if ns == "" {
		ns = client.DefaultNamespace
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", s.uiURL, url.PathEscape(ns), url.PathEscape(id), url.PathEscape(runID))
}

// list returns every execution of the integration the visibility query
// matches (its workflows run on its task queue).
func (s *syncReader) list(ctx context.Context, query string) ([]*workflowpb.WorkflowExecutionInfo, error) {
	query = fmt.Sprintf("TaskQueue = '%s' AND %s", s.names.TaskQueue(), query)
	var out []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := s.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("listing workflows (%s): %w", query, err)
		}
		out = append(out, resp.GetExecutions()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

// since is the visibility clause for executions that ended (or, running,
// started) at or after t; empty for the zero time.
func sinceClause(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	at := t.UTC().Format(time.RFC3339Nano)
	return fmt.Sprintf(" AND (CloseTime >= '%s' OR ExecutionStatus = 'Running')", at)
}

// userSyncs reads the UserSync runs the query matches.
func (s *syncReader) userSyncs(ctx context.Context, query string) ([]syncRecord, error) {
	infos, err := s.list(ctx, query)
	if err != nil {
		return nil, err
	}
	// Each run costs two reads (its input, its result): a few at a time,
	// in the list's order.
	out := make([]syncRecord, len(infos))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readsAtOnce)
	for i, info := range infos {
		g.Go(func() error {
			r, err := s.userSync(gctx, info)
			out[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// readsAtOnce bounds the runs find and report read at the same time.
const readsAtOnce = 8

// userSync reads one UserSync run: its trigger (from its input) and, once
// it ended, its audit.
func (s *syncReader) userSync(ctx context.Context, info *workflowpb.WorkflowExecutionInfo) (syncRecord, error) {
	id, runID := info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId()
	r := syncRecord{When: when(info), Status: statusName(info.GetStatus()), WorkflowID: id, RunID: runID, Link: s.link(id, runID)}
	in, err := s.input(ctx, id, runID)
	if err != nil {
		return r, err
	}
	r.Trigger = string(in.Trigger)
	var res workflows.UserSyncResult
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		if err := s.c.GetWorkflow(ctx, id, runID).Get(ctx, &res); err != nil {
			return r, fmt.Errorf("reading sync %s: %w", id, err)
		}
		r.Result = &res
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		err := s.c.GetWorkflow(ctx, id, runID).Get(ctx, &res)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeSyncFailed && appErr.HasDetails() && appErr.Details(&res) == nil {
			r.Result = &res
		} else if err != nil {
			r.Result = &workflows.UserSyncResult{Slug: in.Slug, Outcome: workflows.OutcomeFailed, Error: rootMessage(err)}
		}
	}
	return r, nil
}

// input decodes a UserSync run's input from the first event of its history.
func (s *syncReader) input(ctx context.Context, id, runID string) (workflows.UserSyncInput, error) {
	var in workflows.UserSyncInput
	it := s.c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return in, fmt.Errorf("sync %s has no history", id)
	}
	ev, err := it.Next()
	if err != nil {
		return in, fmt.Errorf("reading the history of sync %s: %w", id, err)
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return in, fmt.Errorf("sync %s: its history does not start with the workflow's start", id)
	}
	if err := s.dc.FromPayloads(attrs.GetInput(), &in); err != nil {
		return in, fmt.Errorf("decoding the input of sync %s: %w", id, withHint(err))
	}
	return in, nil
}

// chunks reads the finished backfill chunks the query matches (dry runs
// left out: they wrote nothing) and calls fn with each one's audit.
func (s *syncReader) chunks(ctx context.Context, query string, fn func(info *workflowpb.WorkflowExecutionInfo, res *workflows.ChunkResult)) error {
	infos, err := s.list(ctx, query)
	if err != nil {
		return err
	}
	for _, info := range infos {
		id := info.GetExecution().GetWorkflowId()
		if strings.Contains(id, "-dry-run/") || info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			continue // a dry run's, or one that left no audit (running, failed)
		}
		var res workflows.ChunkResult
		if err := s.c.GetWorkflow(ctx, id, info.GetExecution().GetRunId()).Get(ctx, &res); err != nil {
			return fmt.Errorf("reading chunk %s: %w", id, withHint(err))
		}
		fn(info, &res)
	}
	return nil
}

// chunkRecord is a chunk's record of one of its users.
func (s *syncReader) chunkRecord(info *workflowpb.WorkflowExecutionInfo, u workflows.UserSyncResult) syncRecord {
	id, runID := info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId()
	return syncRecord{When: when(info), Trigger: string(pairing.TriggerBackfill), Status: statusName(info.GetStatus()),
		Result: &u, WorkflowID: id, RunID: runID, Link: s.link(id, runID)}
}

// newestFirst sorts records by time, newest first.
func newestFirst(rs []syncRecord) {
	slices.SortStableFunc(rs, func(a, b syncRecord) int { return b.When.Compare(a.When) })
}

func when(info *workflowpb.WorkflowExecutionInfo) time.Time {
	if t := info.GetCloseTime(); t != nil && !t.AsTime().IsZero() && info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return t.AsTime()
	}
	return info.GetStartTime().AsTime()
}

// statusName is a workflow status as people say it: completed, failed,
// running, continued, …
func statusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	}
	return strings.ToLower(s.String()) // Completed, Failed, Running, …
}

// rootMessage is the innermost message of a workflow error chain.
func rootMessage(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// syncsSince returns every sync that ended at or after from: the UserSync
// runs and the users of the backfill chunks (dry runs left out), newest
// first.
func syncsSince(ctx context.Context, r *syncReader, from time.Time) ([]syncRecord, error) {
	closed := fmt.Sprintf(" AND CloseTime >= '%s'", from.UTC().Format(time.RFC3339Nano))
	found, err := r.userSyncs(ctx, "WorkflowType = 'UserSync'"+closed)
	if err != nil {
		return nil, err
	}
	err = r.chunks(ctx, "WorkflowType = 'BackfillChunk'"+closed, func(info *workflowpb.WorkflowExecutionInfo, res *workflows.ChunkResult) {
		for _, u := range res.Users {
			found = append(found, r.chunkRecord(info, u))
		}
	})
	if err != nil {
		return nil, err
	}
	newestFirst(found)
	return found, nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/sfsim"
	"github.com/afsync/afsync/workflows"
)

// BurstResult is the burst benchmark's JSON line.
type BurstResult struct {
	Registrations int     `json:"registrations"`
	OverSeconds   float64 `json:"over_seconds"`
	// Latency from a registration's webhook to its record in Salesforce.
	P50Seconds float64 `json:"p50_seconds"`
	P95Seconds float64 `json:"p95_seconds"`
	MaxSeconds float64 `json:"max_seconds"`
	// LastAfterBurstSeconds is from the last webhook to the last record.
	LastAfterBurstSeconds float64 `json:"last_after_burst_seconds"`
	PairedOnce            bool    `json:"paired_once"`
	// SalesforceCalls and AwardForceRequests are the burst's alone when no
	// backfill runs; with one they are everything's, given beside.
	SalesforceCalls          int     `json:"salesforce_calls"`
	SalesforceCallsPer1k     float64 `json:"salesforce_calls_per_1000_registrations,omitempty"`
	AwardForceRequests       int     `json:"award_force_requests"`
	AwardForceRequestsPerHit float64 `json:"award_force_requests_per_webhook,omitempty"`
	// With a concurrent backfill: its users, time and ratio to the Award
	// Force bound.
	BackfillUsers        int     `json:"backfill_users,omitempty"`
	BackfillSeconds      float64 `json:"backfill_seconds,omitempty"`
	BackfillRatioToBound float64 `json:"backfill_ratio_to_award_force_bound,omitempty"`
	AwardForce429s       int     `json:"award_force_429s"`
	// With --outage: how long Salesforce refused every call, then from its
	// recovery to the last record, and the registrants paired a second in
	// between (all of them were waiting).
	OutageSeconds  float64 `json:"outage_seconds,omitempty"`
	DrainSeconds   float64 `json:"drain_seconds,omitempty"`
	DrainPerSecond float64 `json:"drain_per_second,omitempty"`
	// FirstAfterRecoverySeconds is from the recovery to the first record:
	// the retries' back-off still running.
	FirstAfterRecoverySeconds float64 `json:"first_after_recovery_seconds,omitempty"`
	// How long the worker took to answer each webhook (the sender's view),
	// and how many the sender gave up on.
	WebhookAnswerP95Millis float64 `json:"webhook_answer_p95_ms"`
	WebhookAnswerMaxMillis float64 `json:"webhook_answer_max_ms"`
	WebhooksFailed         int     `json:"webhooks_failed"`
	AwardForceLimitPerMin  int     `json:"award_force_limit_per_minute"`
	Partitions             int     `json:"task_queue_partitions"`
	CPUs                   int     `json:"cpus"`
	// LaneRuns counts the lane's runs, QueueWorkflows its queue's
	// segments; Lane is its status at the end.
	LaneRuns int `json:"lane_runs"`
	// LaneMostEvents is the longest lane run's history, in events.
	LaneMostEvents int                  `json:"lane_most_events"`
	QueueWorkflows int                  `json:"queue_workflows"`
	Lane           workflows.LaneCounts `json:"lane"`
}

// runBurst plays a registration burst on the sandbox, delivered to the
// worker as signed webhooks, optionally during a backfill of the seeded
// users, and measures how soon each registrant is in Salesforce.
func runBurst(ctx context.Context, o *options, st *benchStack, out io.Writer) error {
	st.sb.SetWebhookURL("http://" + st.httpAddr + "/webhooks/awardforce")
	var backfill chan error
	var progress workflows.Progress
	backfillStart := time.Now()
	if o.burstDuringBackfill {
		spec := pairing.Default()
		run, err := st.c.ExecuteWorkflow(ctx, workflows.BackfillStartOptions(workflows.BackfillWorkflowID(spec, false), spec, false),
			workflows.Backfill, workflows.BackfillInput{Spec: *spec, Concurrency: o.concurrency, PagesPerChunk: o.pagesPerChunk, PairEvery: o.pairEvery})
		if err != nil {
			return err
		}
		backfill = make(chan error, 1)
		go func() { backfill <- run.Get(ctx, &progress) }()
		fmt.Fprintf(out, "backfilling %d users; the burst starts in 10 s…\n", o.users)
		time.Sleep(10 * time.Second)
	}
	var restored chan time.Time
	if o.outage > 0 {
		st.sb.Salesforce.SetChaos(sfsim.Chaos{Transient: 1})
		restored = make(chan time.Time, 1)
		time.AfterFunc(o.outage, func() {
			st.sb.Salesforce.SetChaos(sfsim.Chaos{})
			restored <- time.Now()
		})
		fmt.Fprintf(out, "Salesforce refuses every call for %s from now…\n", o.outage)
	}
	fmt.Fprintf(out, "%d registrations over %s…\n", o.burst, o.burstOver)
	res := st.sb.Burst(ctx, sandbox.Burst{Registrations: o.burst, Over: o.burstOver, Seed: o.seed})
	lastWebhook := res.RegisteredAt[len(res.RegisteredAt)-1]

	// Wait for every registrant's record.
	written, records, err := awaitRecords(ctx, st.sb, res, 10*time.Minute+o.outage)
	if err != nil {
		return err
	}
	if backfill != nil {
		if err := <-backfill; err != nil {
			return err
		}
	}
	backfillSeconds := time.Since(backfillStart).Seconds()
	latencies := make([]float64, len(written))
	last := time.Time{}
	for i, w := range written {
		latencies[i] = w.Sub(res.RegisteredAt[i]).Seconds()
		if w.After(last) {
			last = w
		}
	}
	slices.Sort(latencies)
	af, sf := st.sb.AwardForce.Stats(), st.sb.Salesforce.Stats()
	r := BurstResult{
		Registrations: o.burst, OverSeconds: o.burstOver.Seconds(),
		P50Seconds: round(quantile(latencies, 0.5), 2), P95Seconds: round(quantile(latencies, 0.95), 2),
		MaxSeconds: round(latencies[len(latencies)-1], 2), LastAfterBurstSeconds: round(last.Sub(lastWebhook).Seconds(), 2),
		PairedOnce:      !slices.ContainsFunc(records, func(n int) bool { return n != 1 }),
		SalesforceCalls: sf.APICalls, AwardForceRequests: af.Requests, AwardForce429s: af.RateLimited,
		AwardForceLimitPerMin: o.afLimit, Partitions: max(o.partitions, 0), CPUs: cpus(),
	}
	if r.Partitions == 0 {
		r.Partitions = 4
	}
	answers := st.sb.AwardForce.WebhookAnswerTimes()
	ms := make([]float64, len(answers))
	for i, d := range answers {
		ms[i] = float64(d.Microseconds()) / 1000
	}
	slices.Sort(ms)
	r.WebhookAnswerP95Millis, r.WebhooksFailed = round(quantile(ms, 0.95), 1), st.sb.AwardForce.Stats().Webhooks.Failed
	if len(ms) > 0 {
		r.WebhookAnswerMaxMillis = round(ms[len(ms)-1], 1)
	}
	if restored != nil {
		at := <-restored
		r.OutageSeconds, r.DrainSeconds = o.outage.Seconds(), round(last.Sub(at).Seconds(), 2)
		drained, first := 0, last
		for _, w := range written {
			if !w.Before(at.Truncate(time.Second)) {
				drained++
				if w.Before(first) {
					first = w
				}
			}
		}
		r.FirstAfterRecoverySeconds = round(first.Sub(at).Seconds(), 2)
		if r.DrainSeconds > 0 {
			r.DrainPerSecond = round(float64(drained)/r.DrainSeconds, 1)
		}
	}
	if backfill == nil {
		r.SalesforceCallsPer1k = round(float64(sf.APICalls)*1000/float64(o.burst), 1)
		r.AwardForceRequestsPerHit = round(float64(af.Requests)/float64(o.burst), 3)
	} else {
		r.BackfillUsers, r.BackfillSeconds = progress.Seen, round(backfillSeconds, 2)
		if o.afLimit > 0 {
			bound := float64(o.afLimit) / 60 * 100 // users/s: one list request per 100 users
			r.BackfillRatioToBound = round(float64(progress.Seen)/backfillSeconds/bound, 3)
		}
	}
	fmt.Fprintf(out, "\n%d registrations over %s: p50 %.2fs, p95 %.2fs, max %.2fs from webhook to Salesforce; the last record %.2fs after the last webhook\n",
		r.Registrations, o.burstOver, r.P50Seconds, r.P95Seconds, r.MaxSeconds, r.LastAfterBurstSeconds)
	fmt.Fprintf(out, "paired once each: %v; Salesforce calls %d; Award Force requests %d (429s %d)\n", r.PairedOnce, r.SalesforceCalls, r.AwardForceRequests, r.AwardForce429s)
	fmt.Fprintf(out, "webhooks answered in p95 %.1f ms, max %.1f ms; %d given up on\n", r.WebhookAnswerP95Millis, r.WebhookAnswerMaxMillis, r.WebhooksFailed)
	if restored != nil {
		fmt.Fprintf(out, "after %s of Salesforce refusing every call: the backlog drained in %.2fs, %.1f people a second (the first record %.2fs after the recovery)\n",
			o.outage, r.DrainSeconds, r.DrainPerSecond, r.FirstAfterRecoverySeconds)
	}
	if backfill != nil {
		fmt.Fprintf(out, "backfill beside it: %d users in %.2fs (%.1f%% of the Award Force bound)\n", r.BackfillUsers, r.BackfillSeconds, 100*r.BackfillRatioToBound)
	}
	if err := laneFacts(ctx, st, &r); err != nil {
		return err
	}
	fmt.Fprintf(out, "the lane: %d runs (the longest %d events), %d queue workflows, %d batches (%d people put back after a fault, %d fresh reads)\n",
		r.LaneRuns, r.LaneMostEvents, r.QueueWorkflows, r.Lane.Batches, r.Lane.Retried, r.Lane.FreshReads)
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(line))
	if !r.PairedOnce {
		return fmt.Errorf("a registrant has more than one record")
	}
	return nil
}

// laneFacts counts lane 0's runs and queue workflows, and reads its counts.
func laneFacts(ctx context.Context, st *benchStack, r *BurstResult) error {
	count := func(query string) (int, error) {
		resp, err := st.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		return int(resp.GetCount()), err
	}
	var err error
	if r.LaneRuns, err = count(fmt.Sprintf("WorkflowId = '%s'", workflows.LaneWorkflowID(0))); err != nil {
		return err
	}
	if r.LaneMostEvents, err = longestRun(ctx, st.c, workflows.LaneWorkflowID(0)); err != nil {
		return err
	}
	if r.QueueWorkflows, err = count("WorkflowType = 'LaneQueue'"); err != nil {
		return err
	}
	r.Lane, err = laneCounts(ctx, st.c)
	return err
}

// longestRun is the most events of a run of workflow id.
func longestRun(ctx context.Context, c client.Client, id string) (int, error) {
	most := 0
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", id), NextPageToken: token})
		if err != nil {
			return 0, err
		}
		for _, e := range resp.GetExecutions() {
			d, err := c.DescribeWorkflowExecution(ctx, id, e.GetExecution().GetRunId())
			if err != nil {
				return 0, err
			}
			most = max(most, int(d.GetWorkflowExecutionInfo().GetHistoryLength()))
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return most, nil
		}
	}
}

func countZero(xs []int) int {
	n := 0
	for _, x := range xs {
		if x == 0 {
			n++
		}
	}
	return n
}

// quantile is the q-quantile of sorted xs (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// awaitRecords waits, up to within, until each of res's registrants has a
// record in sb's org, and returns when each was created and how many
// records each has.
func awaitRecords(ctx context.Context, sb *sandbox.Sandbox, res sandbox.BurstResult, within time.Duration) (written []time.Time, records []int, err error) {
	emails := make(map[string]int, len(res.Registered)) // email → index
	for i, slug := range res.Registered {
		u, _ := sb.AwardForce.User(slug)
		emails[strings.ToLower(u.Email)] = i
	}
	written = make([]time.Time, len(res.Registered))
	records = make([]int, len(res.Registered))
	deadline := time.Now().Add(within)
	for {
		clear(records)
		for _, rec := range sb.Salesforce.Records("Contact") {
			email, _ := rec["Email"].(string)
			i, ok := emails[strings.ToLower(email)]
			if !ok {
				continue
			}
			records[i]++
			created, _ := rec["CreatedDate"].(string)
			if t, err := time.Parse("2006-01-02T15:04:05.000-0700", created); err == nil {
				written[i] = t
			}
		}
		if !slices.Contains(records, 0) {
			return written, records, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("after %s, %d registrants have no record", within, countZero(records))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
	"github.com/afsync/afsync/workflows"
)

// fleetSpec pairs Contacts and maps a profile field, so that a backfill
// reads each user's profile (one Award Force request a user): each
// integration's pace is its own key's rate limit, the bound the benchmark
// compares it with.
const fleetSpec = `object: Contact
unique_identifier: {awardforce: email, crm: Email}
fields:
  - {awardforce: first_name, crm: FirstName}
  - {awardforce: last_name, crm: LastName}
  - {awardforce: JobTitle, crm: Title}
`

// IntegrationsResult is the JSON line of --integrations.
type IntegrationsResult struct {
	Integrations int `json:"integrations"`
	// UsersEach is each integration's users, AwardForceLimitPerMin each
	// key's limit.
	UsersEach             int `json:"users_each"`
	AwardForceLimitPerMin int `json:"award_force_limit_per_minute"`
	// Outages is how many integrations had their org refuse every call
	// until the others had finished; they are not in the ratios.
	Outages int `json:"outages"`
	// Dependents is how many of them depend on the others (one org and
	// lane for several accounts).
	Dependents int `json:"dependents,omitempty"`
	// RatioMin, RatioMedian and RatioMax are the other integrations'
	// backfill rates over their own Award Force bound (their requests at
	// their key's limit), each from when its backfill was asked for (the
	// benchmark asks for them one after the other).
	RatioMin    float64 `json:"ratio_to_bound_min,omitempty"`
	RatioMedian float64 `json:"ratio_to_bound_median,omitempty"`
	RatioMax    float64 `json:"ratio_to_bound_max,omitempty"`
	// Where the worst (lowest-ratio) integration's time went: LeadSeconds
	// from its backfill's start to its first Award Force request,
	// PaceRatio its requests from the first to the last over its key's
	// limit (1: exactly the limit), TailSeconds from its last request to
	// its backfill's end.
	Worst *TimeSplit `json:"worst,omitempty"`
	// Seconds is until the last healthy integration's backfill ended;
	// DrainSeconds, after the outages ended, until theirs did.
	Seconds      float64 `json:"seconds"`
	DrainSeconds float64 `json:"drain_seconds,omitempty"`
	// AwardForce429s and NewDuplicates are summed over every account and
	// org (0 and 0: within every limit, nobody paired twice).
	AwardForce429s int `json:"award_force_429s"`
	NewDuplicates  int `json:"new_duplicates"`
	Failed         int `json:"failed"`
	// With --burst, instead of backfills: BurstEach registrations into
	// each integration as signed webhooks over BurstOverSeconds, all at
	// once; each healthy integration's p95 from registration to record
	// (P95Min, P95Median, P95Max) and the median of their p50s.
	BurstEach        int     `json:"burst_each,omitempty"`
	BurstOverSeconds float64 `json:"burst_over_seconds,omitempty"`
	P50Median        float64 `json:"p50_seconds_median,omitempty"`
	P95Min           float64 `json:"p95_seconds_min,omitempty"`
	P95Median        float64 `json:"p95_seconds_median,omitempty"`
	P95Max           float64 `json:"p95_seconds_max,omitempty"`
	// NotPairedOnce counts the integrations where a registrant has no
	// record or several (0: everyone paired once).
	NotPairedOnce       int     `json:"not_paired_once"`
	PeakWorkerMemoryMiB float64 `json:"peak_worker_memory_mib"`
	// CPU seconds until the last healthy backfill ended: the worker's, the
	// dev server's, and the sandboxes' and the benchmark's.
	WorkerCPUSeconds  float64 `json:"worker_cpu_seconds"`
	ServerCPUSeconds  float64 `json:"server_cpu_seconds"`
	SandboxCPUSeconds float64 `json:"sandbox_cpu_seconds"`
	CPUs              int     `json:"cpus"`
}

// TimeSplit is where an integration's backfill time went.
type TimeSplit struct {
	Integration string  `json:"integration"`
	Ratio       float64 `json:"ratio_to_bound"`
	LeadSeconds float64 `json:"lead_seconds"`
	PaceRatio   float64 `json:"pace_ratio"`
	TailSeconds float64 `json:"tail_seconds"`
	// AwardForce429s are the requests its key's limit refused.
	AwardForce429s int `json:"award_force_429s"`
}

// splitTime is where m's time went: its Award Force account saw af, its
// key allows perMinute.
func splitTime(m *fleetMember, af afsim.Stats, perMinute int, ratio float64) *TimeSplit {
	s := &TimeSplit{Integration: m.names.Integration(), Ratio: round(ratio, 3),
		LeadSeconds: round(af.First.Sub(m.started).Seconds(), 2),
		TailSeconds: round((m.elapsed - af.Last.Sub(m.started)).Seconds(), 2), AwardForce429s: af.RateLimited}
	if span := af.Last.Sub(af.First); span > 0 && af.Requests > 1 {
		s.PaceRatio = round(float64(af.Requests-1)/span.Minutes()/float64(perMinute), 3)
	}
	return s
}

// fleetMember is one integration of the fleet benchmark.
type fleetMember struct {
	names workflows.Names
	sb    *sandbox.Sandbox
	// org is the sandbox whose Salesforce org it writes to: sb, or the
	// one of the integration it depends on.
	org    *sandbox.Sandbox
	before []map[string]any
	run    client.WorkflowRun
	// started is when the benchmark asked for its backfill (they are
	// asked one after the other); elapsed from then until it ended.
	started time.Time
	elapsed time.Duration
	result  workflows.Progress
	err     error
	done    chan struct{} // closed once elapsed, result and err are set
}

// runIntegrations measures --integrations accounts, each with its own
// sandbox (an Award Force account, a Salesforce org) of --users users and
// key limit --awardforce-limit, served by one worker process from one
// registry: every backfill starts at once, and each one's rate is compared
// with its own bound; the first --outage-in orgs refuse every call until
// the others are done (isolation), then recover and drain.
func runIntegrations(ctx context.Context, o *options, out io.Writer) error {
	if o.afLimit <= 0 {
		return fmt.Errorf("--integrations needs --awardforce-limit (e.g. 60): each integration is measured against its key's limit")
	}
	if o.outageIn >= o.integrations {
		return fmt.Errorf("--outage-in %d: want fewer than --integrations %d, so that some are measured", o.outageIn, o.integrations)
	}
	if o.dependents < 0 || o.dependents >= o.integrations || o.dependents > 0 && (o.outageIn > 0 || o.burst > 0) {
		return fmt.Errorf("--dependents %d: want fewer than --integrations %d, and neither --outage-in nor --burst", o.dependents, o.integrations)
	}
	authenticated := o.integrations - o.dependents
	b := &benchStack{}
	defer b.close()
	if o.keep {
		defer func() {
			if b.srv != nil {
				fmt.Fprintf(out, "keeping the dev server at %s (temporal --address %s workflow list) until interrupted\n", b.srv.Address, b.srv.Address)
				<-ctx.Done()
			}
		}()
	}
	tmp, workerBin, err := b.prepare(ctx, o, out)
	if err != nil {
		return err
	}
	specPath := filepath.Join(tmp, "fleet-spec.yaml")
	specYAML := fleetSpec
	if o.dependents > 0 {
		// One address in two accounts on one org is one person: a record
		// each would read as a new duplicate.
		specYAML = "across_integrations: one_record\n" + specYAML
	}
	if err := os.WriteFile(specPath, []byte(specYAML), 0o600); err != nil {
		return err
	}
	spec, err := pairing.Load(specPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seeding %d accounts of %d users…\n", o.integrations, o.users)
	fleet := make([]*fleetMember, o.integrations)
	var reg strings.Builder
	reg.WriteString("integrations:\n")
	for i := range fleet {
		sb, err := sandbox.Start(sandbox.Options{
			Seed:                 sandbox.SeedOptions{Users: o.users, Seed: o.seed + uint64(i)},
			Latency:              o.latency,
			AwardForceRateLimit:  o.afLimit,
			SalesforceDailyLimit: 10_000_000,
		})
		if err != nil {
			return err
		}
		b.closers = append(b.closers, sb.Close)
		m := &fleetMember{names: workflows.NamesOf(fmt.Sprintf("i%03d", i+1)), sb: sb, org: sb}
		fleet[i] = m
		env := sb.Env()
		fmt.Fprintf(&reg, "  - id: %s\n    awardforce_api_url: %s\n    awardforce_api_key: ${BENCH_AF_KEY}\n    awardforce_rate_limit: %d\n"+
			"    awardforce_webhook_signing_key: ${BENCH_WEBHOOK_KEY}\n    spec: %s\n",
			m.names.Integration(), env[config.EnvAwardForceAPIURL], o.afLimit, specPath)
		if i >= authenticated {
			auth := fleet[(i-authenticated)%authenticated]
			m.names, m.org = m.names.DependentOn(auth.names), auth.sb
			fmt.Fprintf(&reg, "    depends_on: %s\n", auth.names.Integration())
			continue
		}
		fmt.Fprintf(&reg, "    salesforce_login_url: %s\n    salesforce_client_id: %s\n    salesforce_client_secret: ${BENCH_SF_SECRET}\n",
			env[config.EnvSalesforceLoginURL], env[config.EnvSalesforceClientID])
	}
	registry := filepath.Join(tmp, "integrations.yaml")
	if err := os.WriteFile(registry, []byte(reg.String()), 0o600); err != nil {
		return err
	}
	names := make([]workflows.Names, len(fleet))
	for i, m := range fleet {
		names[i] = m.names
	}
	fmt.Fprintf(out, "starting one worker for %d integrations…\n", len(fleet))
	if err := b.spawnWorker(ctx, workerBin, []string{config.EnvIntegrations + "=" + registry,
		"BENCH_AF_KEY=" + sandbox.APIKey, "BENCH_SF_SECRET=" + sandbox.ClientSecret, "BENCH_WEBHOOK_KEY=" + sandbox.WebhookSigningKey}, names); err != nil {
		return err
	}
	for _, m := range fleet {
		m.sb.SetWebhookURL("http://" + b.httpAddr + "/webhooks/awardforce/" + m.names.Integration())
	}
	// Let the start-up checks' requests leave the rate-limit windows, then
	// count only the backfills'.
	time.Sleep(time.Minute + time.Second)
	for i, m := range fleet {
		m.sb.AwardForce.ResetStats()
		m.sb.Salesforce.ResetStats()
		m.before = m.sb.Salesforce.Records("Contact")
		if i < o.outageIn {
			m.sb.Salesforce.SetChaos(sfsim.Chaos{Transient: 1})
		}
	}

	if o.burst > 0 {
		return runFleetBursts(ctx, o, b, fleet, out)
	}
	fmt.Fprintf(out, "backfilling %d accounts at once (%d of them with their org down)…\n", len(fleet), o.outageIn)
	pids := []int{b.worker.Process.Pid, b.srv.Pid(), os.Getpid()}
	cpuBefore := cpuSeconds(pids)
	start := time.Now()
	for _, m := range fleet {
		m.done = make(chan struct{})
		m.started = time.Now()
		if m.run, err = b.c.ExecuteWorkflow(ctx, m.names.BackfillStartOptions(m.names.Backfill(spec, false), spec, false),
			workflows.Backfill, workflows.BackfillInput{Spec: *spec, PairEvery: o.pairEvery}); err != nil {
			return err
		}
	}
	for _, m := range fleet {
		go func() {
			defer close(m.done)
			m.err = m.run.Get(ctx, &m.result)
			m.elapsed = time.Since(m.started)
		}()
	}
	done := make([]chan struct{}, len(fleet))
	for i, m := range fleet {
		done[i] = m.done
	}
	last, drain, cpuAfter := awaitFleet(fleet, o.outageIn, done, start, pids)
	peak, err := peakMemoryMiB(b.worker.Process.Pid)
	if err != nil {
		return err
	}

	r := IntegrationsResult{Integrations: len(fleet), UsersEach: o.users, AwardForceLimitPerMin: o.afLimit, Outages: o.outageIn, Dependents: o.dependents,
		Seconds: round(last.Seconds(), 2), PeakWorkerMemoryMiB: round(peak, 1), CPUs: cpus(),
		WorkerCPUSeconds: round(cpuAfter[0]-cpuBefore[0], 1), ServerCPUSeconds: round(cpuAfter[1]-cpuBefore[1], 1), SandboxCPUSeconds: round(cpuAfter[2]-cpuBefore[2], 1)}
	if o.outageIn > 0 {
		r.DrainSeconds = round(drain.Seconds(), 2)
	}
	var ratios []float64
	worst := 0.0
	for i, m := range fleet {
		if m.err != nil {
			return fmt.Errorf("%s's backfill: %w", m.names.Integration(), m.err)
		}
		af := m.sb.AwardForce.Stats()
		r.AwardForce429s += af.RateLimited
		if m.org == m.sb { // a dependent's people are in the org it depends on
			r.NewDuplicates += newDuplicates(m.before, m.sb.Salesforce.Records("Contact"))
		}
		r.Failed += m.result.Failed
		if i >= o.outageIn {
			// The bound: its requests at its key's limit.
			bound := time.Duration(float64(af.Requests) / float64(o.afLimit) * float64(time.Minute))
			ratio := bound.Seconds() / m.elapsed.Seconds()
			ratios = append(ratios, ratio)
			if r.Worst == nil || ratio < worst {
				r.Worst, worst = splitTime(m, af, o.afLimit, ratio), ratio
			}
		}
	}
	slices.Sort(ratios)
	r.RatioMin, r.RatioMedian, r.RatioMax = round(ratios[0], 3), round(ratios[len(ratios)/2], 3), round(ratios[len(ratios)-1], 3)
	fmt.Fprintf(out, "\n%d integrations of %d users at %d requests a minute each: the last healthy one done in %.1f s\n",
		r.Integrations, r.UsersEach, r.AwardForceLimitPerMin, r.Seconds)
	fmt.Fprintf(out, "rate over each one's Award Force bound: min %.3f, median %.3f, max %.3f\n", r.RatioMin, r.RatioMedian, r.RatioMax)
	if w := r.Worst; w != nil {
		fmt.Fprintf(out, "the slowest, %s: first Award Force request %.2f s after its backfill started, then %.3f× its key's limit (%d refused with a 429), done %.2f s after its last\n",
			w.Integration, w.LeadSeconds, w.PaceRatio, w.AwardForce429s, w.TailSeconds)
	}
	if o.outageIn > 0 {
		fmt.Fprintf(out, "%d integrations' orgs were down meanwhile; their backlog drained %.1f s after they came back\n", o.outageIn, r.DrainSeconds)
	}
	fmt.Fprintf(out, "CPU until then: worker %.1f s, Temporal dev server %.1f s, sandboxes and bench %.1f s, of %.1f s × %d cores\n",
		r.WorkerCPUSeconds, r.ServerCPUSeconds, r.SandboxCPUSeconds, r.Seconds, r.CPUs)
	fmt.Fprintf(out, "Award Force 429s: %d; emails with a new duplicate: %d; failed: %d; peak worker memory: %.1f MiB\n",
		r.AwardForce429s, r.NewDuplicates, r.Failed, r.PeakWorkerMemoryMiB)
	return printJSON(out, r)
}

// runFleetBursts plays --burst registrations into every integration at
// once, as signed webhooks over --burst-over, and measures each healthy
// one's latency from registration to record; the first --outage-in orgs
// come back once the others' records are all there, and their backlog
// drains.
func runFleetBursts(ctx context.Context, o *options, b *benchStack, fleet []*fleetMember, out io.Writer) error {
	fmt.Fprintf(out, "%d registrations into each of %d integrations over %s (%d of them with their org down)…\n", o.burst, len(fleet), o.burstOver, o.outageIn)
	type burst struct {
		res     sandbox.BurstResult
		written []time.Time
		records []int
		err     error
		done    chan struct{}
	}
	bursts := make([]*burst, len(fleet))
	pids := []int{b.worker.Process.Pid, b.srv.Pid(), os.Getpid()}
	cpuBefore := cpuSeconds(pids)
	start := time.Now()
	for i, m := range fleet {
		bu := &burst{done: make(chan struct{})}
		bursts[i] = bu
		go func() {
			defer close(bu.done)
			bu.res = m.sb.Burst(ctx, sandbox.Burst{Registrations: o.burst, Over: o.burstOver, Seed: o.seed + uint64(i)})
			bu.written, bu.records, bu.err = awaitRecords(ctx, m.sb, bu.res, 10*time.Minute)
		}()
	}
	done := make([]chan struct{}, len(bursts))
	for i, bu := range bursts {
		done[i] = bu.done
	}
	last, drain, cpuAfter := awaitFleet(fleet, o.outageIn, done, start, pids)

	r := IntegrationsResult{Integrations: len(fleet), UsersEach: o.users, AwardForceLimitPerMin: o.afLimit, Outages: o.outageIn, Dependents: o.dependents,
		BurstEach: o.burst, BurstOverSeconds: o.burstOver.Seconds(), Seconds: round(last.Seconds(), 2), CPUs: cpus(),
		WorkerCPUSeconds: round(cpuAfter[0]-cpuBefore[0], 1), ServerCPUSeconds: round(cpuAfter[1]-cpuBefore[1], 1), SandboxCPUSeconds: round(cpuAfter[2]-cpuBefore[2], 1)}
	if o.outageIn > 0 {
		r.DrainSeconds = round(drain.Seconds(), 2)
	}
	var p50s, p95s []float64
	for i, bu := range bursts {
		if bu.err != nil {
			return fmt.Errorf("%s: %w", fleet[i].names.Integration(), bu.err)
		}
		if slices.ContainsFunc(bu.records, func(n int) bool { return n != 1 }) {
			r.NotPairedOnce++
		}
		r.AwardForce429s += fleet[i].sb.AwardForce.Stats().RateLimited
		if i < o.outageIn {
			continue
		}
		lat := make([]float64, len(bu.written))
		for k, w := range bu.written {
			lat[k] = w.Sub(bu.res.RegisteredAt[k]).Seconds()
		}
		slices.Sort(lat)
		p50s, p95s = append(p50s, quantile(lat, 0.5)), append(p95s, quantile(lat, 0.95))
	}
	slices.Sort(p50s)
	slices.Sort(p95s)
	r.P50Median = round(p50s[len(p50s)/2], 2)
	r.P95Min, r.P95Median, r.P95Max = round(p95s[0], 2), round(p95s[len(p95s)/2], 2), round(p95s[len(p95s)-1], 2)
	peak, err := peakMemoryMiB(b.worker.Process.Pid)
	if err != nil {
		return err
	}
	r.PeakWorkerMemoryMiB = round(peak, 1)
	fmt.Fprintf(out, "\n%d integrations, %d registrations each over %s: registration to record, p50 (median of the integrations) %.2f s, p95 min %.2f s, median %.2f s, max %.2f s\n",
		r.Integrations, r.BurstEach, o.burstOver, r.P50Median, r.P95Min, r.P95Median, r.P95Max)
	if o.outageIn > 0 {
		fmt.Fprintf(out, "%d integrations' orgs were down meanwhile; their backlog was in Salesforce %.1f s after they came back\n", o.outageIn, r.DrainSeconds)
	}
	fmt.Fprintf(out, "CPU until the healthy ones were done: worker %.1f s, Temporal dev server %.1f s, sandboxes and bench %.1f s, of %.1f s × %d cores\n",
		r.WorkerCPUSeconds, r.ServerCPUSeconds, r.SandboxCPUSeconds, r.Seconds, r.CPUs)
	fmt.Fprintf(out, "Award Force 429s: %d; integrations with someone not paired exactly once: %d; peak worker memory: %.1f MiB\n",
		r.AwardForce429s, r.NotPairedOnce, r.PeakWorkerMemoryMiB)
	return printJSON(out, r)
}

// awaitFleet waits until the healthy members' work is done (done[i] closed
// for fleet[i], the first down of them with their org down), notes how long
// that took since start and the CPU of pids by then, brings the downed
// orgs back and waits for their work too: drain is how long that took.
func awaitFleet(fleet []*fleetMember, down int, done []chan struct{}, start time.Time, pids []int) (last, drain time.Duration, cpu []float64) {
	for _, d := range done[down:] {
		<-d
	}
	last, cpu = time.Since(start), cpuSeconds(pids)
	restored := time.Now()
	for _, m := range fleet[:down] {
		m.sb.Salesforce.SetChaos(sfsim.Chaos{})
	}
	for _, d := range done[:down] {
		<-d
	}
	return last, time.Since(restored), cpu
}

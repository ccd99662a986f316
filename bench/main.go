// Command bench measures a backfill end to end on the real Temporal dev
// server: the sandbox seeded with --users users (30% already in Salesforce,
// some stale), with added latency and rate limits set by flags, and the real
// worker in its own process. It prints a summary and, last, one JSON line:
//
//	go run ./bench --users 10000 --latency 2ms --awardforce-limit 0
//	go run ./bench --users 10000 --awardforce-limit 60
//
// Ratios and API-call counts are stable on noisy machines; absolute times
// are not, so report them side by side.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/workflows"
)

type options struct {
	users         int
	latency       time.Duration
	afLimit       int
	concurrency   int
	pagesPerChunk int
	pairEvery     int
	seed          uint64
	serverArgs    []string
	keep          bool
	partitions    int
	baseline      int
	// versus, when above 0, times a plain versus-way loop first, in the
	// same run, and reports afsync's rate beside it.
	versus int
	// repeat, when above 1, makes the backfill (with its loop) that many
	// times, each on a fresh dev server and sandbox, and sums the runs up
	// (repeats): one run's ratio is noisy on a shared machine.
	repeat int
	// results are the backfills' results so far, for repeat.
	results []Result
	// burst, when above 0, measures a registration burst instead of a
	// backfill (burstDuringBackfill: both at once).
	burst               int
	burstOver           time.Duration
	burstDuringBackfill bool
	// outage, when above 0, has Salesforce refuse every call (a transient
	// error each) from the burst's start for that long: the backlog, then
	// its drain.
	outage time.Duration
	// crmChanges, when above 0, measures changes made in Salesforce
	// flowing back to Award Force instead.
	crmChanges int
	crmOver    time.Duration
	crmIdle    time.Duration
	crmEvery   time.Duration
	// integrations, when above 0, measures that many integrations on one
	// worker, each with a sandbox of its own; the first outageIn have their
	// org down until the others are done.
	integrations int
	outageIn     int
	// dependents, with integrations, makes the last that many depend on
	// the others (depends_on, round-robin): they share those orgs and lanes.
	dependents int
}

// Result is the benchmark's JSON line.
type Result struct {
	Users                int     `json:"users"`
	Seconds              float64 `json:"seconds"`
	UsersPerSecond       float64 `json:"users_per_second"`
	AwardForceBound      float64 `json:"award_force_bound_users_per_second,omitempty"`
	RatioToAwardForce    float64 `json:"ratio_to_award_force_bound,omitempty"`
	SalesforceCallsPer1k float64 `json:"salesforce_calls_per_1000_users"`
	AwardForceCallsPer1k float64 `json:"award_force_calls_per_1000_users"`
	AwardForce429s       int     `json:"award_force_429s"`
	HistoryEventsPerUser float64 `json:"history_events_per_user"`
	LargestHistoryKiB    float64 `json:"largest_history_kib"`
	// LargestEventKiB is the largest event of the backfill's, its chunks'
	// and the lanes' histories (a continue-as-new input among them); the
	// lanes ran LaneRuns runs of LaneEvents events in all.
	LargestEventKiB float64 `json:"largest_event_kib"`
	LaneRuns        int     `json:"lane_runs"`
	LaneEvents      int     `json:"lane_events"`
	// LedgerNotAsked counts the people and records lane 0 did not ask
	// the identity ledger about (its filter vouching that no page holds
	// them).
	LedgerNotAsked int `json:"ledger_not_asked"`
	// NewDuplicates counts the emails holding more Contacts after the
	// backfill than before it (0: everyone paired once).
	NewDuplicates       int     `json:"new_duplicates"`
	PeakWorkerMemoryMiB float64 `json:"peak_worker_memory_mib"`
	Created             int     `json:"created"`
	Updated             int     `json:"updated"`
	Unchanged           int     `json:"unchanged"`
	Skipped             int     `json:"skipped"`
	Ambiguous           int     `json:"ambiguous"`
	Failed              int     `json:"failed"`
	// LoopUsersPerSecond is the plain loop's rate in the same run
	// (--versus), RatioToLoop afsync's to it.
	LoopUsersPerSecond    float64 `json:"loop_users_per_second,omitempty"`
	RatioToLoop           float64 `json:"ratio_to_loop,omitempty"`
	LatencyMillis         float64 `json:"latency_ms"`
	AwardForceLimitPerMin int     `json:"award_force_limit_per_minute"`
	Partitions            int     `json:"task_queue_partitions"`
	Concurrency           int     `json:"concurrency"`
	PagesPerChunk         int     `json:"pages_per_chunk"`
	CPUs                  int     `json:"cpus"`
}

func main() {
	o := &options{}
	cmd := &cobra.Command{
		Use:          "bench",
		Short:        "Measure a sandbox backfill on the real Temporal dev server",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.repeat > 1 {
				return repeats(cmd.Context(), o, cmd.OutOrStdout())
			}
			return run(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.users, "users", 10000, "Award Force users to seed and backfill")
	f.DurationVar(&o.latency, "latency", 2*time.Millisecond, "latency the sandbox adds to every request")
	f.IntVar(&o.afLimit, "awardforce-limit", 0, "Award Force requests per minute (sandbox and worker); 0 = none, 60 = Award Force's real limit")
	f.IntVar(&o.concurrency, "concurrency", workflows.DefaultConcurrency, "backfill chunks at once")
	f.IntVar(&o.pagesPerChunk, "pages-per-chunk", workflows.DefaultPagesPerChunk, "Award Force pages per chunk")
	f.IntVar(&o.pairEvery, "pair-every", workflows.DefaultPairEvery, "profile reads a chunk makes before it hands the users read to the lanes (when the spec maps profile fields)")
	f.Uint64Var(&o.seed, "seed", 42, "sandbox data seed")
	f.IntVar(&o.burst, "burst", 0, "instead of a backfill, measure N registrations arriving as signed webhooks over --burst-over (with --integrations: N into each integration, all at once)")
	f.DurationVar(&o.burstOver, "burst-over", 10*time.Second, "with --burst: how long the registrations take to arrive")
	f.BoolVar(&o.burstDuringBackfill, "burst-during-backfill", false, "with --burst: run a backfill of --users users at the same time")
	f.DurationVar(&o.outage, "outage", 0, "with --burst: Salesforce answers every call with a transient error (503, 500 or ConcurrentRequests) for this long from the burst's start, then recovers; measures how fast the backlog drains")
	f.IntVar(&o.crmChanges, "crm-changes", 0, "instead of a backfill, pair --users users, then measure N edits made in Salesforce flowing back to Award Force")
	f.DurationVar(&o.crmOver, "crm-over", time.Minute, "with --crm-changes: how long the edits take")
	f.DurationVar(&o.crmIdle, "crm-idle", 5*time.Minute, "with --crm-changes: how long to count the watch's calls on an idle org first")
	f.DurationVar(&o.crmEvery, "crm-every", time.Minute, "with --crm-changes: crm_changes.every")
	f.IntVar(&o.integrations, "integrations", 0, "instead of one backfill, run N integrations on one worker (a registry of N sandbox accounts and orgs of --users users each, at --awardforce-limit each), all backfilling at once, and compare each one's rate with its key's bound")
	f.IntVar(&o.outageIn, "outage-in", 0, "with --integrations: the first N integrations' orgs refuse every call until the others are done (isolation), then recover")
	f.IntVar(&o.dependents, "dependents", 0, "with --integrations: the last N integrations depend on the others (depends_on, round-robin), sharing their orgs and pairing lanes; every spec then says across_integrations: one_record")
	f.IntVar(&o.baseline, "baseline", 0, "instead of afsync, time a plain N-way per-user loop without durability (the yardstick)")
	f.IntVar(&o.versus, "versus", 0, "time a plain N-way per-user loop first, on a sandbox of its own, then afsync's backfill, and report the ratio (issue 14: 1.2x at 10,000 users)")
	f.IntVar(&o.repeat, "repeat", 1, "make the backfill (with --versus, its loop too) N times, each on a fresh dev server and sandbox, and print every run's ratio, the median and how many reach 1.2x")
	f.IntVar(&o.partitions, "partitions", 0, "task-queue partitions on the dev server (0: the server's default, four, as on Temporal Cloud)")
	f.BoolVar(&o.keep, "keep", false, "keep the dev server and the worker after the run, until interrupted, to read their histories")
	f.StringArrayVar(&o.serverArgs, "server-arg", nil, "extra argument for `temporal server start-dev` (repeatable), e.g. --server-arg=--dynamic-config-value --server-arg=KEY=VALUE")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o *options, out io.Writer) error {
	if o.integrations > 0 {
		return runIntegrations(ctx, o, out)
	}
	if o.baseline > 0 {
		r, err := runLoop(ctx, o, o.baseline, out)
		if err != nil {
			return err
		}
		return printJSON(out, r)
	}
	var loop loopResult
	if o.versus > 0 && o.burst == 0 && o.crmChanges == 0 {
		// The loop first, alone on the machine, then afsync.
		var err error
		if loop, err = runLoop(ctx, o, o.versus, out); err != nil {
			return err
		}
	}
	st, err := startBench(ctx, o, out)
	if err != nil {
		return err
	}
	defer st.close()
	if o.keep {
		defer func() {
			fmt.Fprintf(out, "keeping the dev server at %s (temporal --address %s workflow list) until interrupted\n", st.srv.Address, st.srv.Address)
			<-ctx.Done()
		}()
	}
	if o.burst > 0 {
		return runBurst(ctx, o, st, out)
	}
	if o.crmChanges > 0 {
		return runCRM(ctx, o, st, out)
	}
	srv, sb, worker, c := st.srv, st.sb, st.worker, st.c
	spec := pairing.Default()
	contactsBefore := sb.Salesforce.Records("Contact")
	fmt.Fprintln(out, "backfilling…")
	pids := []int{worker.Process.Pid, srv.Pid(), os.Getpid()}
	cpuBefore := cpuSeconds(pids)
	start := time.Now()
	run, err := c.ExecuteWorkflow(ctx, workflows.BackfillStartOptions(workflows.BackfillWorkflowID(spec, false), spec, false), workflows.Backfill, workflows.BackfillInput{Spec: *spec, Concurrency: o.concurrency, PagesPerChunk: o.pagesPerChunk, PairEvery: o.pairEvery})
	if err != nil {
		return err
	}
	var p workflows.Progress
	if err := run.Get(ctx, &p); err != nil {
		return err
	}
	elapsed := time.Since(start).Seconds()
	cpuAfter := cpuSeconds(pids)
	peak, err := peakMemoryMiB(worker.Process.Pid)
	if err != nil {
		return err
	}
	h, err := historyEvents(ctx, c, run.GetID(), &p)
	if err != nil {
		return err
	}
	events, largest := h.events, h.largest
	lane, err := laneCounts(ctx, c)
	if err != nil {
		return err
	}
	af, sf := sb.AwardForce.Stats(), sb.Salesforce.Stats()
	r := Result{
		Users: p.Seen, Seconds: round(elapsed, 2), UsersPerSecond: round(float64(p.Seen)/elapsed, 1),
		SalesforceCallsPer1k: round(float64(sf.APICalls)*1000/float64(p.Seen), 2),
		AwardForceCallsPer1k: round(float64(af.Requests)*1000/float64(p.Seen), 2),
		AwardForce429s:       af.RateLimited,
		HistoryEventsPerUser: round(float64(events)/float64(p.Seen), 3),
		LargestHistoryKiB:    round(float64(largest)/1024, 1),
		PeakWorkerMemoryMiB:  round(peak, 1),
		Created:              p.Created, Updated: p.Updated, Unchanged: p.Unchanged, Skipped: p.Skipped, Ambiguous: p.Ambiguous, Failed: p.Failed,
		LargestEventKiB: round(float64(h.largestEvent)/1024, 1), LaneRuns: h.laneRuns, LaneEvents: h.laneEvents,
		LedgerNotAsked: lane.LedgerNotAsked,
		NewDuplicates:  newDuplicates(contactsBefore, sb.Salesforce.Records("Contact")),
		LatencyMillis:  float64(o.latency.Microseconds()) / 1000, AwardForceLimitPerMin: o.afLimit, Partitions: cmp.Or(o.partitions, 4),
		Concurrency: o.concurrency, PagesPerChunk: o.pagesPerChunk, CPUs: cpus(),
	}
	defer func() { o.results = append(o.results, r) }()
	if loop.UsersPerSecond > 0 {
		r.LoopUsersPerSecond = loop.UsersPerSecond
		r.RatioToLoop = round(r.UsersPerSecond/loop.UsersPerSecond, 2)
	}
	if o.afLimit > 0 {
		// Without profile fields a backfill needs one list request per 100 users.
		r.AwardForceBound = float64(o.afLimit) / 60 * 100
		r.RatioToAwardForce = round(r.UsersPerSecond/r.AwardForceBound, 3)
	}
	fmt.Fprintf(out, "\n%d users in %.2fs: %.1f users/s", r.Users, r.Seconds, r.UsersPerSecond)
	if r.AwardForceBound > 0 {
		fmt.Fprintf(out, " (%.1f%% of the Award Force bound of %.0f users/s)", 100*r.RatioToAwardForce, r.AwardForceBound)
	}
	fmt.Fprintf(out, "\nSalesforce calls: %d (%.2f per 1,000 users); Award Force calls: %d (%.2f per 1,000), 429s: %d\n",
		sf.APICalls, r.SalesforceCallsPer1k, af.Requests, r.AwardForceCallsPer1k, af.RateLimited)
	fmt.Fprintf(out, "Salesforce calls by route: %s\n", byRoute(sf.ByRoute))
	fmt.Fprintf(out, "history events: %d (%.3f per user), largest history %.1f KiB; peak worker memory: %.1f MiB\n",
		events, r.HistoryEventsPerUser, r.LargestHistoryKiB, r.PeakWorkerMemoryMiB)
	fmt.Fprintf(out, "lanes: %d runs, %d events, %d people and records not asked of the identity ledger; the largest event anywhere %.1f KiB; emails with a new duplicate: %d\n",
		r.LaneRuns, r.LaneEvents, r.LedgerNotAsked, r.LargestEventKiB, r.NewDuplicates)
	fmt.Fprintf(out, "CPU during the backfill: worker %.1f s, Temporal dev server %.1f s, sandbox and bench %.1f s, of %.1f s × %d cores\n",
		cpuAfter[0]-cpuBefore[0], cpuAfter[1]-cpuBefore[1], cpuAfter[2]-cpuBefore[2], elapsed, cpus())
	h.timings.print(out)
	if r.RatioToLoop > 0 {
		fmt.Fprintf(out, "beside the plain %d-way loop in the same run (%.1f users/s): %.2f×\n", o.versus, r.LoopUsersPerSecond, r.RatioToLoop)
	}
	return printJSON(out, r)
}

// printJSON prints v as the benchmark's JSON line.
func printJSON(out io.Writer, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(line))
	return nil
}

// benchStack is the benchmark's world: the dev server, the sandbox, the
// worker in its own process serving its HTTP endpoints, and a client.
type benchStack struct {
	srv      *devserver.Server
	sb       *sandbox.Sandbox
	worker   *exec.Cmd
	c        client.Client
	httpAddr string
	// specPath is the worker's pairing spec ("" for the default).
	specPath string
	closers  []func()
}

func (b *benchStack) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// startBench builds and starts everything, waits for the worker to poll
// and, under a rate limit, for the start-up check's requests to leave
// Award Force's window, then zeroes the simulators' counters.
func startBench(ctx context.Context, o *options, out io.Writer) (_ *benchStack, err error) {
	b := &benchStack{}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	tmp, workerBin, err := b.prepare(ctx, o, out)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "seeding %d users…\n", o.users)
	if b.sb, err = sandbox.Start(sandbox.Options{
		Seed:                sandbox.SeedOptions{Users: o.users, Seed: o.seed},
		Latency:             o.latency,
		AwardForceRateLimit: o.afLimit,
		// A real org's allocation would not survive a plain loop; the
		// benchmark only counts calls.
		SalesforceDailyLimit: 10_000_000,
	}); err != nil {
		return nil, err
	}
	b.closers = append(b.closers, b.sb.Close)
	if o.crmChanges > 0 {
		if b.specPath, err = writeCRMSpec(tmp, o.crmEvery); err != nil {
			return nil, err
		}
	}
	env := []string{config.EnvAwardForceRateLimit + "=" + strconv.Itoa(o.afLimit), config.EnvConfig + "=" + b.specPath}
	for k, v := range b.sb.Env() {
		env = append(env, k+"="+v)
	}
	if err := b.spawnWorker(ctx, workerBin, env, []workflows.Names{workflows.DefaultNames}); err != nil {
		return nil, err
	}
	// Let the preflight's requests leave the rate-limit window, then count
	// only what the benchmark does.
	if o.afLimit > 0 {
		time.Sleep(time.Minute + time.Second)
	}
	b.sb.AwardForce.ResetStats()
	b.sb.Salesforce.ResetStats()
	return b, nil
}

// prepare builds the worker into a temporary directory (removed on close)
// and starts the dev server: it returns the directory and the worker's
// path.
func (b *benchStack) prepare(ctx context.Context, o *options, out io.Writer) (tmp, workerBin string, err error) {
	if tmp, err = os.MkdirTemp("", "afsync-bench-"); err != nil {
		return "", "", err
	}
	b.closers = append(b.closers, func() { os.RemoveAll(tmp) })
	workerBin = filepath.Join(tmp, "worker")
	fmt.Fprintln(out, "building the worker…")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", workerBin, "./worker").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./worker (run from the repository root): %v\n%s", err, out)
	}
	if b.srv, err = devserver.Start(ctx, devserver.Options{UIPort: -1, SearchAttributes: workflows.SearchAttributeKeys(), ExtraArgs: o.serverArgs, Partitions: o.partitions}); err != nil {
		return "", "", err
	}
	b.closers = append(b.closers, func() { _ = b.srv.Stop() })
	return tmp, workerBin, nil
}

// spawnWorker runs the worker in its own process with env (and Temporal's
// address, an HTTP address of its own), dials the dev server, and waits
// until the worker polls the task queues of every integration named.
func (b *benchStack) spawnWorker(ctx context.Context, workerBin string, env []string, names []workflows.Names) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	b.httpAddr = l.Addr().String()
	l.Close()
	b.worker = exec.CommandContext(ctx, workerBin, "--log-level", "warn")
	b.worker.Env = append(append(os.Environ(), config.EnvTemporalAddress+"="+b.srv.Address, config.EnvTemporalNamespace+"="+b.srv.Namespace,
		config.EnvHTTPAddr+"="+b.httpAddr), env...)
	b.worker.Stdout, b.worker.Stderr = os.Stderr, os.Stderr
	// A bench stopped by a signal takes its worker with it.
	b.worker.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := b.worker.Start(); err != nil {
		return err
	}
	b.closers = append(b.closers, func() { _ = b.worker.Process.Kill(); _ = b.worker.Wait() })
	copts, err := config.Temporal{Address: b.srv.Address, Namespace: b.srv.Namespace}.ClientOptions(nil)
	if err != nil {
		return err
	}
	if b.c, err = client.DialContext(ctx, copts); err != nil {
		return err
	}
	b.closers = append(b.closers, b.c.Close)
	for _, n := range names {
		if err := waitForPollers(ctx, b.c, n); err != nil {
			return err
		}
	}
	return nil
}

// waitForPollers waits until a worker polls the integration's task queues.
func waitForPollers(ctx context.Context, c client.Client, n workflows.Names) error {
	deadline := time.Now().Add(2 * time.Minute)
	for _, q := range []string{n.TaskQueue(), n.CoordinatorTaskQueue(), n.AwardForceTaskQueue()} {
		for {
			d, err := c.DescribeTaskQueue(ctx, q, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
			if err == nil && len(d.GetPollers()) > 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the worker never polled %s", q)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// historyEvents counts the events of every run of the backfill and of every
// chunk, and finds the largest single history in bytes.
// histories measures the backfill's runs and chunks (events, the
// largest history) and, beside them, every run of the lanes: the largest
// event of all (a continue-as-new input among them) and the lanes' runs.
type histories struct {
	events, largest, largestEvent, laneRuns, laneEvents int
	timings                                             timings
}

func historyEvents(ctx context.Context, c client.Client, id string, p *workflows.Progress) (h histories, err error) {
	runs := func(wid string) ([]string, error) {
		var ids []string
		var token []byte
		for {
			resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", wid), NextPageToken: token})
			if err != nil {
				return nil, err
			}
			for _, e := range resp.GetExecutions() {
				ids = append(ids, e.GetExecution().GetRunId())
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				return ids, nil
			}
		}
	}
	h.timings = timings{}
	count := func(kind, wid, rid string) (int, error) {
		it := c.GetWorkflowHistory(ctx, wid, rid, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		size, n := 0, 0
		clock := h.timings.clock(kind)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return 0, err
			}
			clock.see(ev)
			n++
			size += proto.Size(ev)
			h.largestEvent = max(h.largestEvent, proto.Size(ev))
		}
		h.largest = max(h.largest, size)
		return n, nil
	}
	backfill, err := runs(id)
	if err != nil {
		return h, err
	}
	for _, rid := range backfill {
		n, err := count("backfill", id, rid)
		if err != nil {
			return h, err
		}
		h.events += n
	}
	for _, cid := range workflows.ChunkIDs(p) {
		n, err := count("chunk", cid, "")
		if err != nil {
			return h, err
		}
		h.events += n
	}
	for lane := range workflows.LaneCount {
		lid := workflows.LaneWorkflowID(lane)
		lruns, err := runs(lid)
		if err != nil {
			return h, err
		}
		for _, rid := range lruns {
			n, err := count("lane", lid, rid)
			if err != nil {
				return h, err
			}
			h.laneRuns++
			h.laneEvents += n
		}
	}
	return h, nil
}

// newDuplicates counts the emails that hold more Contacts than before.
func newDuplicates(before, after []map[string]any) int {
	count := func(recs []map[string]any) map[string]int {
		m := map[string]int{}
		for _, r := range recs {
			if email, _ := r["Email"].(string); email != "" {
				m[strings.ToLower(email)]++
			}
		}
		return m
	}
	was, n := count(before), 0
	for email, k := range count(after) {
		if k > max(was[email], 1) {
			n++
		}
	}
	return n
}

// cpuSeconds reads each process's user and system CPU time so far from
// /proc (0 when it cannot): fields 14 and 15 of /proc/<pid>/stat, in clock
// ticks of 1/100 s.
func cpuSeconds(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // from field 3, the state
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[i] = (ut + st) / 100
	}
	return out
}

// peakMemoryMiB reads the process's peak resident set (VmHWM) from /proc.
func peakMemoryMiB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

func cpus() int { return runtime.NumCPU() }

// byRoute lists calls by route, most first.
func byRoute(calls map[string]int) string {
	routes := slices.Collect(maps.Keys(calls))
	slices.SortFunc(routes, func(a, b string) int { return cmp.Or(calls[b]-calls[a], strings.Compare(a, b)) })
	parts := make([]string, len(routes))
	for i, r := range routes {
		parts[i] = fmt.Sprintf("%s %d", r, calls[r])
	}
	return strings.Join(parts, ", ")
}

// laneCounts is what lane 0 tallied (LaneQuery).
func laneCounts(ctx context.Context, c client.Client) (workflows.LaneCounts, error) {
	v, err := c.QueryWorkflow(ctx, workflows.LaneWorkflowID(0), "", workflows.LaneQuery)
	if err != nil {
		return workflows.LaneCounts{}, fmt.Errorf("query lane 0: %w", err)
	}
	var status workflows.LaneStatus
	if err := v.Get(&status); err != nil {
		return workflows.LaneCounts{}, err
	}
	return status.Counts, nil
}

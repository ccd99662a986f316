// Package drill runs afsync's chaos drill: the whole product on the
// embedded default (a real Temporal dev server, the sandbox simulators, the
// real worker), a backfill and a second backfill started beside it, signed
// webhooks for registrations and profile edits, manual syncs, transient
// faults, lost and late-committing writes, short Salesforce sessions, and
// the worker killed several times. Once everything is quiet it checks what
// afsync promises (see Report) and says what it found. `make chaos` runs it
// (cmd: ./chaos); the tests run a small one.
package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/afworker"
	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
	"github.com/afsync/afsync/workflows"
)

// Options shapes a drill. Zero values take the defaults of DefaultOptions.
type Options struct {
	// Users are the Award Force users seeded before the drill (a share of
	// them already in Salesforce, some stale, a few duplicated).
	Users int
	// Registrations are new users who register during the backfill, each
	// announced by a signed membership_registered webhook.
	Registrations int
	// Edits are profile edits of existing users during the backfill, each
	// announced by a signed user_updated webhook (a tenth sent twice).
	Edits int
	// ManualSyncs are `starter sync`s of existing users during the backfill.
	ManualSyncs int
	// EmailChanges are paired users who change their address once the
	// backfills are through (a signed webhook each); every second freed
	// address is registered by a newcomer two seconds later, and as many
	// newcomers register and fix their last name a second or two later.
	EmailChanges int
	// Kills is how many times the worker is killed mid-run and restarted.
	Kills int
	// Transient is the share of API calls (both APIs) answered by a
	// transient error, and of records refused with UNABLE_TO_LOCK_ROW.
	Transient float64
	// Lost is the share of Salesforce writes whose answer is lost, half of
	// them committing before, half after the connection drops; when it is
	// not 0, the first two writes of the run and of the identity churn lose
	// theirs too (one of each kind), whatever the draws.
	Lost float64
	// SessionTTL is how long a Salesforce session lives.
	SessionTTL time.Duration
	// CommitHorizon is how long the simulated org may commit a write after
	// its answer was lost (its longest request).
	CommitHorizon time.Duration
	// Latency is added to every simulated request.
	Latency time.Duration
	// Seed makes the data and the faults reproducible.
	Seed uint64
	// TemporalCLI is the temporal binary; empty means devserver.Find().
	TemporalCLI string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// DefaultOptions is what `make chaos` runs.
func DefaultOptions() Options {
	return Options{
		Users: 3000, Registrations: 300, Edits: 300, ManualSyncs: 50, EmailChanges: 100, Kills: 3,
		Transient: 0.3, Lost: 0.2, SessionTTL: 20 * time.Second, CommitHorizon: 3 * time.Second,
		Latency: 2 * time.Millisecond, Seed: 1,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Users == 0 {
		o.Users = d.Users
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = d.SessionTTL
	}
	if o.CommitHorizon == 0 {
		o.CommitHorizon = d.CommitHorizon
	}
	if o.Seed == 0 {
		o.Seed = d.Seed
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Report is what a drill found. OK holds when afsync kept its promises:
// every Award Force user with an email has exactly one Contact (seeded
// duplicates stay as they were, ambiguous, never a third), every mapped
// field of it holds the user's latest value, and no user was reported
// failed.
type Report struct {
	Users int `json:"users"`
	// Records counts, for users with an email, how many have 0, 1 and more
	// Contacts (seeded duplicates apart).
	WithoutRecord int `json:"without_record"`
	WithOne       int `json:"with_one_record"`
	WithSeveral   int `json:"with_several_records"`
	// Ambiguous are the seeded duplicates, left as they were.
	Ambiguous int `json:"ambiguous_untouched"`
	// AmbiguousWritten counts seeded duplicates whose count changed.
	AmbiguousWritten int `json:"ambiguous_written"`
	// StaleFields counts mapped fields that do not hold the latest value.
	StaleFields int `json:"stale_fields"`
	// Failed counts users some sync reported failed.
	Failed   int      `json:"failed"`
	Failures []string `json:"failures,omitempty"`
	// Faults are the faults the simulators injected, by kind.
	SalesforceFaults map[string]int `json:"salesforce_faults"`
	AwardForceFaults int            `json:"award_force_faults"`
	Kills            int            `json:"kills"`
	// Registrations and Edits are what people did in Award Force; Webhooks
	// the events the sandbox delivered for them (and WebhooksFailed those
	// it gave up on); Replays the deliveries sent a second time.
	Registrations  int `json:"registrations"`
	Edits          int `json:"edits"`
	Webhooks       int `json:"webhooks"`
	WebhooksFailed int `json:"webhooks_failed"`
	Replays        int `json:"replays"`
	ManualSyncs    int `json:"manual_syncs"`
	// EmailChanges, Reused and Corrections are the identity churn: changed
	// addresses, freed addresses registered again, and registrations fixed
	// seconds later. TakenOver counts freed addresses whose records are not
	// exactly their newcomer's (none when nobody took the address).
	EmailChanges int `json:"email_changes"`
	Reused       int `json:"reused_addresses"`
	Corrections  int `json:"corrections"`
	// SameSecondEdits counts people who edited their profile twice within
	// one second (one `updated`, two sets of values); CRMAddressEdits those
	// whose address someone changed in Salesforce before they edited their
	// profile in Award Force (the address is put back).
	SameSecondEdits int           `json:"same_second_edits"`
	CRMAddressEdits int           `json:"crm_address_edits"`
	TakenOver       int           `json:"freed_addresses_wrong"`
	SalesforceCalls int           `json:"salesforce_calls"`
	Elapsed         time.Duration `json:"elapsed"`
	// Problems lists the broken promises, one line each.
	Problems []string `json:"problems,omitempty"`
}

// OK reports whether every promise held.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Run runs one drill and returns what it found; an error means the drill
// itself could not run.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	bin := o.TemporalCLI
	if bin == "" {
		var err error
		if bin, err = devserver.Find(); err != nil {
			return nil, fmt.Errorf("the drill needs the Temporal CLI (`make temporal-cli`): %w", err)
		}
	}
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(o.Log, "%6.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	say("starting Temporal, the sandbox (%d users) and the worker", o.Users)
	stack, err := devstack.Start(ctx, devstack.Options{
		Temporal: devserver.Options{Binary: bin, UIPort: -1},
		Sandbox: sandbox.Options{
			Seed:                     sandbox.SeedOptions{Users: o.Users, Seed: o.Seed},
			Latency:                  o.Latency,
			SalesforceSessionTTL:     o.SessionTTL,
			SalesforceMaxRequestTime: o.CommitHorizon,
		},
		Getenv:     func(string) string { return "" },
		KillWorker: true,
	})
	if err != nil {
		return nil, err
	}
	defer stack.Stop()
	d := &drill{o: o, stack: stack, say: say, rng: rand.New(rand.NewPCG(o.Seed, 0xd1)), report: &Report{}}
	d.before = contacts(stack.Sandbox.Salesforce)
	if err := d.serveWebhooks(); err != nil {
		return nil, err
	}
	defer d.webhooks.Close()

	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	sf.SetChaos(sfsim.Chaos{
		Transient: o.Transient, RecordLock: o.Transient,
		LostResponse: o.Lost / 2, LateCommit: o.Lost / 2, LateCommitDelay: o.CommitHorizon / 2,
		Seed: o.Seed,
	})
	af.SetChaos(afsim.Chaos{Unavailable: o.Transient, Seed: o.Seed})
	d.loseAnswers()
	say("faults on: %.0f%% transient, %.0f%% of writes lose their answer", 100*o.Transient, 100*o.Lost)

	watch, stopWatch := context.WithCancel(ctx)
	go d.watch(watch)
	err = d.run(ctx)
	if err == nil && o.EmailChanges > 0 {
		err = d.churn(ctx)
	}
	stopWatch()
	if err != nil {
		return nil, err
	}
	say("quiet; checking")
	sf.SetChaos(sfsim.Chaos{})
	af.SetChaos(afsim.Chaos{})
	d.check(ctx)
	d.report.Webhooks = af.Stats().Webhooks.Delivered
	if d.report.WebhooksFailed = af.Stats().Webhooks.Failed; d.report.WebhooksFailed > 0 {
		d.report.Problems = append(d.report.Problems, fmt.Sprintf("%d webhooks could not be delivered", d.report.WebhooksFailed))
	}
	d.report.SalesforceFaults = sf.Stats().Faults
	d.report.AwardForceFaults = af.Stats().Faults
	d.report.SalesforceCalls = sf.Stats().APICalls
	d.report.Elapsed = time.Since(start).Round(time.Millisecond)
	return d.report, nil
}

type drill struct {
	o        Options
	stack    *devstack.Stack
	say      func(string, ...any)
	rng      *rand.Rand
	report   *Report
	before   map[string]int
	webhooks *http.Server
	hookURL  string
	// freed maps the addresses people gave up to the newcomer who took
	// each ("" when nobody did).
	freed map[string]string
	mu    sync.Mutex // guards rng and report counters during the run
	errs  []error
}

func (d *drill) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.errs = append(d.errs, err)
}

// serveWebhooks serves the worker's HTTP endpoints, webhook included, on a
// free port, as a worker with AFSYNC_HTTP_ADDR does, and points the
// sandbox's user events at it.
func (d *drill) serveWebhooks() error {
	h, err := afworker.HTTPHandler(d.stack.Client, d.stack.Config, d.stack.Spec, nil, nil)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.webhooks = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.webhooks.Serve(l) }()
	d.hookURL = "http://" + l.Addr().String() + "/webhooks/awardforce"
	d.stack.Sandbox.SetWebhookURL(d.hookURL)
	return nil
}

// replay delivers a user event again, signed as the sandbox signs it, as a
// sender that retries a delivery it thinks was lost does.
func (d *drill) replay(event, slug string) {
	body := d.stack.Sandbox.AwardForce.Payload(event, "ui", slug)
	req, _ := http.NewRequest(http.MethodPost, d.hookURL, bytes.NewReader(body))
	req.Header.Set("Signature", afsim.Sign(body, sandbox.WebhookSigningKey))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.fail(fmt.Errorf("replaying a webhook: %w", err))
		return
	}
	resp.Body.Close()
	d.mu.Lock()
	d.report.Replays++
	d.mu.Unlock()
}

// run is the messy part: two backfills, webhooks, manual syncs and kills at
// once; it returns when everything afsync started has ended.
func (d *drill) run(ctx context.Context) error {
	c, spec := d.stack.Client, d.stack.Spec
	af := d.stack.Sandbox.AwardForce
	existing := af.Users()

	startBackfill := func(id string) (client.WorkflowRun, error) {
		return c.ExecuteWorkflow(ctx, workflows.BackfillStartOptions(id, spec, false), workflows.Backfill,
			workflows.BackfillInput{Spec: *spec, PagesPerChunk: 2, Concurrency: 2})
	}
	first, err := startBackfill(workflows.BackfillWorkflowID(spec, false))
	if err != nil {
		return err
	}
	d.say("backfill %s started", first.GetID())

	var wg sync.WaitGroup
	// A second backfill, as `starter backfill --new` or a schedule starts
	// one, a little later.
	var second client.WorkflowRun
	wg.Go(func() {
		time.Sleep(2 * time.Second)
		run, err := startBackfill(workflows.BackfillWorkflowID(spec, false) + "-drill")
		if err != nil {
			d.fail(err)
			return
		}
		second = run
		d.say("a second backfill %s started beside it", run.GetID())
	})
	// Registrations, each announced by the sandbox as a signed webhook.
	wg.Go(func() {
		res := d.stack.Sandbox.Burst(ctx, sandbox.Burst{Registrations: d.o.Registrations, Over: time.Duration(d.o.Registrations) * 20 * time.Millisecond, Seed: d.o.Seed})
		d.mu.Lock()
		d.report.Registrations = len(res.Registered)
		d.mu.Unlock()
	})
	// Profile edits, a tenth of them delivered twice.
	wg.Go(func() {
		for i := range d.o.Edits {
			u := existing[d.intn(len(existing))]
			mobile := d.intn(3) == 0
			af.Edit(u.Slug, func(u *afsim.User) {
				u.LastName = fmt.Sprintf("%s-e%d", strings.SplitN(u.LastName, "-e", 2)[0], i)
				if mobile {
					u.Mobile = fmt.Sprintf("+4479%08d", i) // E.164 and unique, as Award Force requires
				}
			})
			if i%10 == 0 {
				d.replay(afsim.EventUpdated, u.Slug)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	// Manual syncs.
	wg.Go(func() {
		for range d.o.ManualSyncs {
			u := existing[d.intn(len(existing))]
			if _, err := workflows.StartUserSync(ctx, c, workflows.DefaultNames, spec, workflows.SyncRequest{Slug: u.Slug, Trigger: pairing.TriggerManual}); err != nil {
				d.fail(fmt.Errorf("starter sync %s: %w", u.Slug, err))
			}
			d.mu.Lock()
			d.report.ManualSyncs++
			d.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	})
	// Kills.
	wg.Go(func() {
		for k := range d.o.Kills {
			time.Sleep(time.Duration(1500+d.intn(1500)) * time.Millisecond)
			d.stack.StopWorker()
			d.say("worker killed (%d of %d)", k+1, d.o.Kills)
			time.Sleep(time.Second)
			if err := d.stack.StartWorker(); err != nil {
				d.fail(err)
				return
			}
			d.mu.Lock()
			d.report.Kills++
			d.mu.Unlock()
		}
	})
	wg.Wait()
	if err := errors.Join(d.errs...); err != nil {
		return err
	}
	d.report.Edits = d.o.Edits
	d.say("%d registrations, %d profile edits (%d delivered twice), %d manual syncs, %d kills; waiting for the backfills",
		d.report.Registrations, d.report.Edits, d.report.Replays, d.report.ManualSyncs, d.report.Kills)
	for _, run := range []client.WorkflowRun{first, second} {
		if run == nil {
			continue
		}
		var p workflows.Progress
		if err := run.Get(ctx, &p); err != nil {
			d.report.Problems = append(d.report.Problems, fmt.Sprintf("backfill %s: %v", run.GetID(), err))
			continue
		}
		d.say("backfill %s: %d seen, %d created, %d updated, %d failed", run.GetID(), p.Seen, p.Created, p.Updated, p.Failed)
		for _, f := range p.Failures {
			d.failed(f.Slug + ": " + f.Error)
		}
		for _, fc := range p.FailedChunks {
			d.report.Problems = append(d.report.Problems, "a backfill chunk failed: "+fc)
		}
	}
	return d.waitQuiet(ctx)
}

func (d *drill) intn(n int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rng.IntN(n)
}

func (d *drill) failed(what string) {
	d.report.Failed++
	if len(d.report.Failures) < 20 {
		d.report.Failures = append(d.report.Failures, what)
	}
}

// watch says, every ten seconds, how many user syncs run and what the
// lanes hold, until ctx ends.
func (d *drill) watch(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		open, _ := d.stack.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: "WorkflowType = 'UserSync' AND ExecutionStatus = 'Running'",
		})
		var lanes []string
		for n := range workflows.LaneCount {
			v, err := d.stack.Client.QueryWorkflow(ctx, workflows.LaneWorkflowID(n), "", workflows.LaneQuery)
			if err != nil {
				continue
			}
			var st workflows.LaneStatus
			if v.Get(&st) == nil {
				lanes = append(lanes, fmt.Sprintf("lane %d: %d waiting, %d queued, %d in flight, %d in doubt, %d retried", n, st.Waiting, st.Queued, st.InFlight, st.InDoubt, st.Counts.Retried))
			}
		}
		d.say("%d user syncs running; %s", open.GetCount(), strings.Join(lanes, "; "))
		if n := open.GetCount(); n > 0 && n <= 3 {
			d.describeStragglers(ctx)
		}
	}
}

// describeStragglers says what the last running user syncs wait for.
func (d *drill) describeStragglers(ctx context.Context) {
	resp, err := d.stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: "WorkflowType = 'UserSync' AND ExecutionStatus = 'Running'",
	})
	if err != nil {
		return
	}
	for _, e := range resp.GetExecutions() {
		desc, err := d.stack.Client.DescribeWorkflowExecution(ctx, e.GetExecution().GetWorkflowId(), "")
		if err != nil {
			continue
		}
		var pending []string
		for _, a := range desc.GetPendingActivities() {
			pending = append(pending, fmt.Sprintf("%s attempt %d (%s)", a.GetActivityType().GetName(), a.GetAttempt(), a.GetLastFailure().GetMessage()))
		}
		d.say("  %s: pending %v", e.GetExecution().GetWorkflowId(), pending)
	}
}

// waitQuiet waits until no user sync runs and every lane is idle.
func (d *drill) waitQuiet(ctx context.Context) error {
	c := d.stack.Client
	deadline := time.Now().Add(10 * time.Minute)
	for {
		open, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: "WorkflowType = 'UserSync' AND ExecutionStatus = 'Running'",
		})
		if err != nil {
			return err
		}
		busy := 0
		for n := range workflows.LaneCount {
			v, err := c.QueryWorkflow(ctx, workflows.LaneWorkflowID(n), "", workflows.LaneQuery)
			if err != nil {
				continue // a lane never started
			}
			var st workflows.LaneStatus
			if err := v.Get(&st); err == nil {
				busy += st.Waiting + st.InFlight + st.InDoubt + st.Queued
			}
		}
		if open.GetCount() == 0 && busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not quiet after 10 minutes: %d user syncs running, %d people in the lanes", open.GetCount(), busy)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// churn runs a person's life on paired users, with the faults still on
// and one more worker kill: address changes, freed addresses registered
// by newcomers, registrations corrected seconds later.
func (d *drill) churn(ctx context.Context) error {
	af := d.stack.Sandbox.AwardForce
	d.freed = map[string]string{}
	var movers []afsim.User
	for _, u := range af.Users() {
		if len(movers) == d.o.EmailChanges {
			break
		}
		if key := strings.ToLower(u.Email); u.Email != "" && !u.Deleted && d.before[key] <= 1 {
			movers = append(movers, u)
		}
	}
	d.loseAnswers()
	d.say("identity churn: %d address changes, %d freed addresses registered again, %d registrations corrected", len(movers), len(movers)/2, len(movers)/2)
	var wg sync.WaitGroup
	if err := d.quickEdits(&wg, movers); err != nil {
		return err
	}
	for i, u := range movers {
		old := u.Email
		moved := fmt.Sprintf("moved%d.%s", i, old)
		af.Edit(u.Slug, func(u *afsim.User) { u.Email = moved })
		d.mu.Lock()
		d.freed[strings.ToLower(old)] = ""
		d.report.EmailChanges++
		d.mu.Unlock()
		if i%2 == 0 {
			wg.Go(func() { // a newcomer takes the freed address
				time.Sleep(2 * time.Second)
				n := af.Register(afsim.User{Email: old, FirstName: "Newcomer", LastName: fmt.Sprintf("Took%d", i)})
				d.mu.Lock()
				d.freed[strings.ToLower(old)] = n.Slug
				d.report.Reused++
				d.mu.Unlock()
			})
		} else {
			wg.Go(func() { // someone registers, then fixes a typo
				n := af.Register(afsim.User{Email: fmt.Sprintf("typo%d@drill.example.org", i), FirstName: "Tia", LastName: fmt.Sprintf("Tpyo%d", i)})
				time.Sleep(time.Duration(1000+d.intn(1000)) * time.Millisecond)
				af.Edit(n.Slug, func(u *afsim.User) { u.LastName = fmt.Sprintf("Typo%d", i) })
				d.mu.Lock()
				d.report.Corrections++
				d.mu.Unlock()
			})
		}
		if i == len(movers)/2 && d.o.Kills > 0 {
			d.stack.StopWorker()
			d.say("worker killed during the churn")
			if err := d.stack.StartWorker(); err != nil {
				return err
			}
			d.mu.Lock()
			d.report.Kills++
			d.mu.Unlock()
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	return d.waitQuiet(ctx)
}

// loseAnswers makes the next two writes lose their answer, one committed
// before the connection drops and one after, whatever the draws give: a
// drill with few writes (batches make few) meets both at each phase.
func (d *drill) loseAnswers() {
	if d.o.Lost <= 0 {
		return
	}
	sf := d.stack.Sandbox.Salesforce
	sf.InjectLostResponses(1)
	sf.InjectLateCommits(1, d.o.CommitHorizon/2)
}

// quickEdits has paired people other than movers edit their profile twice
// within one second, and others have their address changed in Salesforce
// by someone before they edit their profile in Award Force (their address
// must be put back on their record).
func (d *drill) quickEdits(wg *sync.WaitGroup, movers []afsim.User) error {
	af, sf := d.stack.Sandbox.AwardForce, d.stack.Sandbox.Salesforce
	moving := map[string]bool{}
	for _, u := range movers {
		moving[u.Slug] = true
	}
	records := map[string][]map[string]any{}
	for _, rec := range sf.Records("Contact") {
		email, _ := rec["Email"].(string)
		records[strings.ToLower(email)] = append(records[strings.ToLower(email)], rec)
	}
	var quick, crm []afsim.User
	for _, u := range af.Users() {
		key := strings.ToLower(u.Email)
		if moving[u.Slug] || u.Email == "" || u.Deleted || d.before[key] > 1 || len(records[key]) != 1 {
			continue
		}
		switch {
		case len(quick) < len(movers)/2:
			quick = append(quick, u)
		case len(crm) < len(movers)/2:
			crm = append(crm, u)
		}
	}
	d.say("%d people edit twice within one second; %d have their address changed in Salesforce, then edit in Award Force", len(quick), len(crm))
	for i, u := range quick {
		wg.Go(func() {
			base := strings.SplitN(u.LastName, "-q", 2)[0]
			a, _ := af.Edit(u.Slug, func(u *afsim.User) { u.LastName = fmt.Sprintf("%s-q%da", base, i) })
			b, _ := af.Edit(u.Slug, func(u *afsim.User) { u.LastName = fmt.Sprintf("%s-q%db", base, i) })
			if a.Updated.Equal(b.Updated) {
				d.mu.Lock()
				d.report.SameSecondEdits++
				d.mu.Unlock()
			}
		})
	}
	for i, u := range crm {
		id, _ := records[strings.ToLower(u.Email)][0]["Id"].(string)
		if err := sf.EditAs("Contact", id, map[string]any{"Email": fmt.Sprintf("crm%d.%s", i, u.Email)}); err != nil {
			return fmt.Errorf("editing %s in Salesforce: %w", id, err)
		}
		wg.Go(func() {
			time.Sleep(time.Duration(500+d.intn(1000)) * time.Millisecond)
			af.Edit(u.Slug, func(u *afsim.User) { u.LastName = fmt.Sprintf("%s-c%d", strings.SplitN(u.LastName, "-c", 2)[0], i) })
			d.mu.Lock()
			d.report.CRMAddressEdits++
			d.mu.Unlock()
		})
	}
	return nil
}

// check compares the org with Award Force, user by user.
func (d *drill) check(ctx context.Context) {
	af, sf := d.stack.Sandbox.AwardForce, d.stack.Sandbox.Salesforce
	r := d.report
	byEmail := map[string][]map[string]any{}
	for _, rec := range sf.Records("Contact") {
		email, _ := rec["Email"].(string)
		byEmail[strings.ToLower(email)] = append(byEmail[strings.ToLower(email)], rec)
	}
	// A freed address is held by its newcomer's record alone, or by none:
	// never by the record of the person who gave it up.
	for addr, newcomer := range d.freed {
		recs := byEmail[addr]
		want := 0
		if newcomer != "" {
			want = 1
		}
		ok := len(recs) == want
		if ok && want == 1 {
			u, _ := af.User(newcomer)
			ok = recs[0]["FirstName"] == u.FirstName && recs[0]["LastName"] == u.LastName
		}
		if !ok {
			r.TakenOver++
			ids := make([]any, len(recs))
			for i, rec := range recs {
				ids[i] = rec["Id"]
			}
			r.Problems = append(r.Problems, fmt.Sprintf("freed address %s: records %v, want %d (the newcomer %q's own)", addr, ids, want, newcomer))
		}
	}
	for _, u := range af.Users() {
		r.Users++
		if u.Email == "" {
			continue
		}
		key := strings.ToLower(u.Email)
		recs := byEmail[key]
		if n := d.before[key]; n > 1 {
			r.Ambiguous++
			if len(recs) != n {
				r.AmbiguousWritten++
				r.Problems = append(r.Problems, fmt.Sprintf("%s: seeded with %d duplicates, now %d records", u.Slug, n, len(recs)))
			}
			continue
		}
		switch len(recs) {
		case 0:
			r.WithoutRecord++
			r.Problems = append(r.Problems, fmt.Sprintf("%s: no record", u.Slug))
			continue
		case 1:
			r.WithOne++
		default:
			r.WithSeveral++
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %d records", u.Slug, len(recs)))
			continue
		}
		rec := recs[0]
		for field, want := range map[string]string{"FirstName": u.FirstName, "LastName": u.LastName, "Phone": u.Mobile} {
			if got, _ := rec[field].(string); want != "" && got != want {
				r.StaleFields++
				if r.StaleFields <= 20 {
					r.Problems = append(r.Problems, fmt.Sprintf("%s: %s holds %q, the latest is %q", u.Slug, field, got, want))
				}
				if r.StaleFields <= 3 {
					d.say("trail of %s:\n%s", u.Slug, d.trail(ctx, u.Slug))
				}
			}
		}
	}
	// Users some single sync reported failed (the backfills' are counted
	// already); visibility lags a moment behind.
	time.Sleep(2 * time.Second)
	resp, err := d.stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: workflows.OutcomeKey.GetName() + " = 'failed'",
	})
	if err == nil {
		for _, e := range resp.GetExecutions() {
			if e.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
				d.failed(e.GetExecution().GetWorkflowId())
			}
		}
	}
	if r.Failed > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d users reported failed: %s", r.Failed, strings.Join(r.Failures, "; ")))
	}
}

// trail lists the events of the lanes, their queues and the person's own
// syncs that name slug, each with what follows its first mention: what a
// broken promise is diagnosed from.
func (d *drill) trail(ctx context.Context, slug string) string {
	var b strings.Builder
	query := fmt.Sprintf("WorkflowType = 'PairingLane' OR WorkflowType = 'LaneQueue' OR WorkflowId = '%s'", workflows.UserSyncWorkflowID(slug))
	var token []byte
	for {
		resp, err := d.stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			fmt.Fprintf(&b, "listing workflows: %v\n", err)
			return b.String()
		}
		for _, e := range resp.GetExecutions() {
			x := e.GetExecution()
			head := fmt.Sprintf("%s %s (%s, started %s)\n", x.GetWorkflowId(), x.GetRunId(), e.GetStatus(), e.GetStartTime().AsTime().Format("15:04:05.000"))
			it := d.stack.Client.GetWorkflowHistory(ctx, x.GetWorkflowId(), x.GetRunId(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					break
				}
				text := ev.String()
				at := strings.Index(text, slug)
				if at < 0 && x.GetWorkflowId() != workflows.UserSyncWorkflowID(slug) {
					continue
				}
				at = max(at-200, 0)
				fmt.Fprintf(&b, "%s  %d %s %s %.600s\n", head, ev.GetEventId(), ev.GetEventTime().AsTime().Format("15:04:05.000"), ev.GetEventType(), text[at:])
				head = ""
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return b.String()
		}
	}
}

// contacts counts the Contacts of each email (lower-cased).
func contacts(sf *sfsim.Server) map[string]int {
	m := map[string]int{}
	for _, rec := range sf.Records("Contact") {
		email, _ := rec["Email"].(string)
		m[strings.ToLower(email)]++
	}
	return m
}

// Package devstack starts afsync's embedded default on one machine: the
// official Temporal dev server, the sandbox simulators and the worker. It is
// what `worker --dev` runs, and what the integration tests run.
package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/afworker"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/internal/metrics"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/workflows"
)

// Options configures the stack.
type Options struct {
	// Temporal configures the dev server (ports, SQLite file, binary).
	Temporal devserver.Options
	// Sandbox configures the simulators and their seed.
	Sandbox sandbox.Options
	// AwardForceRatePerMinute is the worker's fleet-wide Award Force cap;
	// 0 uses the sandbox's own limit (none when the sandbox has none).
	AwardForceRatePerMinute float64
	// Getenv supplies the rest of the configuration (AFSYNC_CONFIG, …); the
	// sandbox's URLs and credentials take precedence. Nil means os.Getenv.
	Getenv config.Getenv
	// Logger is handed to the SDK and logs the boot (the start-up check's
	// waits among them); nil discards them.
	Logger *slog.Logger
	// KillWorker makes StopWorker stop the worker at once, cancelling running
	// activities as a crash would (the integration tests use it).
	KillWorker bool
	// HTTPAddr, when set, is where the worker serves /healthz, /metrics,
	// the webhook and the codec server (`worker --dev`); the sandbox then
	// delivers its user events there. Empty serves nothing
	// (AFSYNC_HTTP_ADDR is not read).
	HTTPAddr string
	// Preflight tunes the start-up check's backoff (afworker.Boot).
	Preflight afworker.PreflightOptions
	// QuotaPause shortens how long the pairing lanes pause on a spent
	// Salesforce allocation (tests; zero keeps the worker's default).
	QuotaPause time.Duration
	// LaneHold and LaneQueueSegment make the lanes hold fewer people, and
	// their queue workflows fewer each; LaneBatchesPerRun makes them
	// continue as new sooner (tests; zero keeps the defaults).
	LaneHold, LaneQueueSegment, LaneBatchesPerRun int
	// Integrations are the ids of further integrations the worker serves
	// beside the default one, each with a sandbox of its own (an Award
	// Force account and a Salesforce org, seeded as Sandbox says: the same
	// people in every account) and a webhook signing key of its own.
	Integrations []string
	// DependsOn makes some integrations dependent (depends_on), whether
	// served from the start (Integrations) or later (Serve): by id, the
	// integration whose Salesforce org (its sandbox's) and lanes they
	// share; "default" is the default integration. Their own sandbox's org
	// stays unused.
	DependsOn map[string]string
}

// Integration is one of the stack's further integrations.
type Integration struct {
	Names workflows.Names
	// Sandbox is its own Award Force account and Salesforce org; a
	// dependent integration's org is Org.
	Sandbox *sandbox.Sandbox
	// Org is the sandbox whose Salesforce org it writes to: its own, or
	// the one of the integration it depends on.
	Org *sandbox.Sandbox
	// Config is its configuration, pointing at its sandbox.
	Config config.Config
}

// Stack is a running embedded default.
type Stack struct {
	Server  *devserver.Server
	Sandbox *sandbox.Sandbox
	Client  client.Client
	Worker  *afworker.Worker
	// Metrics records the SDK's and afsync's metrics; serve Metrics.HTTP.
	Metrics *metrics.Metrics
	// Config is the worker's configuration, pointing at the sandbox.
	Config config.Config
	// Spec is the worker's pairing spec (AFSYNC_CONFIG or the default).
	Spec *pairing.Spec
	// Node is the booted worker process (afworker.Boot): Client, Metrics,
	// the start-up check's Status, the HTTP endpoints.
	Node *afworker.Node
	// Integrations are the further integrations served by the same worker
	// process (Options.Integrations, then Serve's).
	Integrations []*Integration

	opts    Options
	started map[string]*Integration // every integration given a sandbox, served or not
}

// Start brings the stack up in order: Temporal, the sandbox, the worker
// (afworker.Boot, as `worker` boots: its start-up check waits through
// transient API faults and fails at once on permanent ones). On error,
// whatever was started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	s := &Stack{opts: opts, started: map[string]*Integration{}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	opts.Temporal.SearchAttributes = workflows.SearchAttributeKeys()
	if s.Server, err = devserver.Start(ctx, opts.Temporal); err != nil {
		return nil, err
	}
	if s.Sandbox, err = sandbox.Start(opts.Sandbox); err != nil {
		return nil, err
	}
	if s.Config, err = configFor(s.Sandbox, s.Sandbox, opts); err != nil {
		return nil, err
	}
	if s.Spec, err = s.Config.Spec(); err != nil {
		return nil, err
	}
	s.Config.HTTPAddr = opts.HTTPAddr
	served, ins, err := s.served(opts.Integrations)
	if err != nil {
		return nil, err
	}
	s.Integrations = ins
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	copts, err := config.Temporal{Address: s.Server.Address, Namespace: s.Server.Namespace}.ClientOptions(logger)
	if err != nil {
		return nil, err
	}
	if s.Node, err = afworker.Boot(ctx, afworker.BootOptions{
		Config: s.Config, Integrations: served,
		Temporal: copts, TemporalSetting: "the dev server",
		Preflight: opts.Preflight,
		Logger:    opts.Logger,
	}); err != nil {
		return nil, err
	}
	s.Client, s.Metrics, s.Worker = s.Node.Client, s.Node.Metrics, s.Node.Worker()
	s.pointWebhooks()
	return s, nil
}

// pointWebhooks makes each sandbox deliver its registrations and profile
// edits as Award Force's would: webhooks signed with its integration's
// key, at its integration's path, on the address the worker got (a test's
// "127.0.0.1:0" becomes a port).
func (s *Stack) pointWebhooks() {
	if s.Node.HTTPAddr == "" {
		return
	}
	if s.Config.WebhookSigningKey != "" {
		s.Sandbox.SetWebhookURL("http://" + s.Node.HTTPAddr + "/webhooks/awardforce")
	}
	for _, in := range s.Integrations {
		in.Sandbox.SetWebhookURL("http://" + s.Node.HTTPAddr + "/webhooks/awardforce/" + in.Names.Integration())
	}
}

// served is what the worker serves for the default integration and ids,
// and ids' integrations, starting the sandbox of an id named for the first
// time.
func (s *Stack) served(ids []string) ([]afworker.Served, []*Integration, error) {
	out := []afworker.Served{{Names: workflows.DefaultNames, Config: s.Config, Spec: s.Spec}}
	var ins []*Integration
	for _, id := range ids {
		in, ok := s.started[id]
		if !ok {
			var err error
			if in, err = s.startIntegration(id); err != nil {
				return nil, nil, err
			}
		}
		ins = append(ins, in)
		out = append(out, afworker.Served{Names: in.Names, Config: in.Config, Spec: s.Spec})
	}
	return out, ins, nil
}

// WriteRegistry writes, into dir, the registry of the integrations the
// stack serves (integrations.yaml: the default one and each further one,
// pointing at their sandboxes, the rate limit and spec the worker runs
// with) and their secrets (dir/secrets, one file each, referred to as
// file:), so that a starter given AFSYNC_INTEGRATIONS can address each:
// `starter --integration grants …`. It returns the registry's path.
func (s *Stack) WriteRegistry(dir string) (string, error) {
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# The dev stack's integrations (worker --dev --integrations): its sandboxes' URLs and\n# credentials, not real ones. Written at each start.\nintegrations:\n")
	entry := func(id, dependsOn string, sb *sandbox.Sandbox, c config.Config) error {
		secret := func(name, value string) (string, error) {
			path := filepath.Join(secrets, id+"-"+name)
			return "file:secrets/" + id + "-" + name, os.WriteFile(path, []byte(value+"\n"), 0o600)
		}
		env := sb.Env()
		fmt.Fprintf(&b, "  - id: %s\n    awardforce_api_url: %s\n", id, env[config.EnvAwardForceAPIURL])
		secrets := [][3]string{
			{"awardforce_api_key", "awardforce-key", env[config.EnvAwardForceAPIKey]},
			{"awardforce_webhook_signing_key", "webhook-key", c.WebhookSigningKey},
		}
		if dependsOn != "" {
			fmt.Fprintf(&b, "    depends_on: %s\n", dependsOn)
		} else {
			fmt.Fprintf(&b, "    salesforce_login_url: %s\n    salesforce_client_id: %s\n", env[config.EnvSalesforceLoginURL], env[config.EnvSalesforceClientID])
			secrets = append(secrets, [3]string{"salesforce_client_secret", "salesforce-secret", env[config.EnvSalesforceClientSecret]})
		}
		for _, kv := range secrets {
			if kv[2] == "" {
				continue
			}
			ref, err := secret(kv[1], kv[2])
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "    %s: %s\n", kv[0], ref)
		}
		fmt.Fprintf(&b, "    awardforce_rate_limit: %s\n", strconv.FormatFloat(c.AwardForceRatePerMinute, 'f', -1, 64))
		if c.SpecPath != "" {
			spec, err := filepath.Abs(c.SpecPath)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "    spec: %s\n", spec)
		}
		return nil
	}
	if err := entry(workflows.DefaultIntegration, "", s.Sandbox, s.Config); err != nil {
		return "", err
	}
	for _, in := range s.Integrations {
		dependsOn := ""
		if in.Names.Dependent() {
			dependsOn = in.Names.Org()
		}
		if err := entry(in.Names.Integration(), dependsOn, in.Sandbox, in.Config); err != nil {
			return "", err
		}
	}
	path := filepath.Join(dir, "integrations.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// Serve makes the running worker serve the default integration and ids
// instead, without a restart (afworker.Node.Reload, as `worker` does when
// its registry changes): an id named for the first time gets a sandbox of
// its own, as Options.Integrations do; one left out is no longer served
// (its sandbox runs on, and is served again if named again).
func (s *Stack) Serve(ctx context.Context, ids []string) (afworker.Reloaded, error) {
	served, ins, err := s.served(ids)
	if err != nil {
		return afworker.Reloaded{}, err
	}
	r, err := s.Node.Reload(ctx, served)
	if err != nil && r.None() {
		return r, err // refused: the worker serves what it served
	}
	s.Integrations = ins
	s.pointWebhooks()
	s.Worker = s.Node.Worker()
	return r, err
}

// configFor is the worker's configuration for the sandbox sb, writing to
// org's Salesforce org: their URLs and credentials, the rest from
// opts.Getenv, with opts' settings applied.
func configFor(sb, org *sandbox.Sandbox, opts Options) (config.Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	sandboxEnv, orgEnv := sb.Env(), org.Env()
	for _, k := range []string{config.EnvSalesforceLoginURL, config.EnvSalesforceClientID, config.EnvSalesforceClientSecret} {
		sandboxEnv[k] = orgEnv[k]
	}
	c, err := config.FromEnv(func(k string) string {
		if v, ok := sandboxEnv[k]; ok {
			return v
		}
		return getenv(k)
	})
	if err != nil {
		return c, err
	}
	if opts.KillWorker {
		c.StopTimeout = 0
	}
	c.AwardForceRatePerMinute = opts.AwardForceRatePerMinute
	if c.AwardForceRatePerMinute == 0 {
		c.AwardForceRatePerMinute = float64(opts.Sandbox.AwardForceRateLimit)
	}
	c.QuotaPause = opts.QuotaPause
	c.LaneHold, c.LaneQueueSegment, c.LaneBatchesPerRun = opts.LaneHold, opts.LaneQueueSegment, opts.LaneBatchesPerRun
	if d := opts.Sandbox.SalesforceMaxRequestTime; d > 0 {
		// The simulated org commits a request at most this long after it
		// arrived: the worker need not wait longer before looking again.
		c.CommitHorizon = d
	}
	return c, nil
}

// startIntegration starts integration id's sandbox (its own signing key)
// and configures it as the default integration's is.
func (s *Stack) startIntegration(id string) (*Integration, error) {
	sbOpts := s.opts.Sandbox
	sbOpts.WebhookSigningKey = sandbox.WebhookSigningKey + "-" + id
	// Free ports: the default's sandbox may listen on fixed ones
	// (`worker --dev`); each further one's URLs are in the dev registry.
	sbOpts.AwardForceAddr, sbOpts.SalesforceAddr = "", ""
	sb, err := sandbox.Start(sbOpts)
	if err != nil {
		return nil, fmt.Errorf("integration %s's sandbox: %w", id, err)
	}
	in := &Integration{Names: workflows.NamesOf(id), Sandbox: sb, Org: sb}
	s.started[id] = in // Stop closes it
	if dep := s.opts.DependsOn[id]; dep != "" {
		if in.Org, err = s.org(dep); err != nil {
			return nil, fmt.Errorf("integration %s: depends_on %s: %w", id, dep, err)
		}
		in.Names = workflows.NamesFor(id, dep)
	}
	if in.Config, err = configFor(sb, in.Org, s.opts); err != nil {
		return nil, err
	}
	return in, nil
}

// org is the sandbox of integration id's Salesforce org, starting its
// integration if need be.
func (s *Stack) org(id string) (*sandbox.Sandbox, error) {
	if id == workflows.DefaultIntegration {
		return s.Sandbox, nil
	}
	if s.opts.DependsOn[id] != "" {
		return nil, fmt.Errorf("%s is itself dependent", id)
	}
	in, ok := s.started[id]
	if !ok {
		var err error
		if in, err = s.startIntegration(id); err != nil {
			return nil, err
		}
	}
	return in.Org, nil
}

// StartWorker starts a worker with the stack's configuration (again, after
// StopWorker: the integration tests kill and restart it mid-run).
func (s *Stack) StartWorker() error {
	if err := s.Node.StartWorker(); err != nil {
		return err
	}
	s.Worker = s.Node.Worker()
	return nil
}

// StopWorker stops the worker, leaving Temporal and the sandbox running.
func (s *Stack) StopWorker() {
	if s.Node != nil {
		s.Node.StopWorker()
	}
	s.Worker = nil
}

// Stop tears everything down: the worker process (afworker.Node.Close),
// then the sandbox and the dev server.
func (s *Stack) Stop() {
	if s.Node != nil {
		s.Node.Close() // the worker, the HTTP endpoints, the client, the metrics
	}
	if s.Sandbox != nil {
		s.Sandbox.Close()
	}
	for _, in := range s.started {
		in.Sandbox.Close()
	}
	if s.Server != nil {
		_ = s.Server.Stop()
	}
}

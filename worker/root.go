package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/afsync/afsync/internal/afworker"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/internal/logging"
	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/workflows"
)

// options are the worker's flags; they override the environment.
type options struct {
	temporal config.Temporal
	specPath string
	afRate   float64
	logLevel string
	httpAddr string
	// reloadEvery is how often the registry is read again (0: on SIGHUP
	// only).
	reloadEvery time.Duration

	dev       bool
	devDir    string
	devPort   int
	devUIPort int
	sandbox   sandbox.Flags
	// devIntegrations are further integrations --dev serves, each with a
	// sandbox of its own.
	devIntegrations []string
	// devDependsOn makes some of them dependent: id → the integration
	// whose org they share.
	devDependsOn map[string]string

	out io.Writer
}

func newRootCmd() *cobra.Command {
	o := &options{}
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the afsync Temporal worker (pairs Award Force users with Salesforce records)",
		Long: `Run the afsync Temporal worker.

It connects to Temporal with the SDK's standard settings (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*; requests are gzipped
beyond loopback only: AFSYNC_TEMPORAL_COMPRESSION=auto|gzip|none), to Award
Force with AWARDFORCE_API_URL and AWARDFORCE_API_KEY, and to Salesforce with
SALESFORCE_LOGIN_URL, SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET (or
SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY_FILE for the JWT bearer flow).
The pairing spec is AFSYNC_CONFIG (the built-in default when unset). On start
it registers its search attributes, serves its HTTP endpoints, then checks the
credentials and the spec before it polls: a rejected key stops it at once, an
outage of either API is waited out (with backoff; /healthz says what it waits
for) while webhooks are received.

With --dev it runs the embedded default instead: the Temporal dev server
(UI on http://127.0.0.1:8233, history kept in --dev-dir), the sandbox APIs
seeded with realistic users, and the worker pointed at them.`,
		Example: `  worker --dev                      # everything on this machine
  AFSYNC_CONFIG=pairing.yaml worker # production: a Temporal cluster and the real APIs`,
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out = cmd.OutOrStdout()
			if !cmd.Flags().Changed("awardforce-rate") {
				o.afRate = -1
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if o.dev {
				return runDev(ctx, o)
			}
			return runWorker(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.temporal.Address, "address", "", "Temporal frontend host:port (overrides TEMPORAL_ADDRESS)")
	f.StringVar(&o.temporal.Namespace, "namespace", "", "Temporal namespace (overrides TEMPORAL_NAMESPACE)")
	f.StringVar(&o.specPath, "config", "", "pairing spec file (overrides AFSYNC_CONFIG)")
	f.Float64Var(&o.afRate, "awardforce-rate", config.DefaultAwardForceRate, "Award Force requests per minute for the whole fleet; 0 = no cap (overrides AWARDFORCE_RATE_LIMIT)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&o.httpAddr, "http-addr", "", "serve /healthz, /metrics and the Award Force webhook here (overrides AFSYNC_HTTP_ADDR; --dev default 127.0.0.1:8234); the codec server listens on AFSYNC_CODEC_ADDR (--dev default 127.0.0.1:8235)")
	f.DurationVar(&o.reloadEvery, "reload-every", 30*time.Second, "with a registry (AFSYNC_INTEGRATIONS): read it again this often, and on SIGHUP, serving what it lists without a restart; 0 = on SIGHUP only")
	f.BoolVar(&o.dev, "dev", false, "start the embedded default: Temporal dev server + UI, sandbox APIs, worker")
	f.StringVar(&o.devDir, "dev-dir", ".afsync", "with --dev: where the dev server keeps its SQLite history")
	f.IntVar(&o.devPort, "dev-port", 7233, "with --dev: Temporal frontend port")
	f.IntVar(&o.devUIPort, "dev-ui-port", 8233, "with --dev: Temporal UI port")
	f.StringSliceVar(&o.devIntegrations, "integrations", nil, "with --dev: further integrations beside the default one (e.g. grants,fellows), each an Award Force account and a Salesforce org of its own in the sandbox; their registry is written to --dev-dir/integrations.yaml for the starter")
	f.StringToStringVar(&o.devDependsOn, "depends-on", nil, "with --dev: makes some of --integrations dependent (depends_on): id=other (e.g. grants=default) shares other's Salesforce org and its pairing lane instead of an org of its own")
	o.sandbox.Register(f, "sandbox-", "with --dev: ")
	cmd.AddCommand(newCmdHealthcheck())
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return logging.New(os.Stderr, l), nil
}

// integrations loads the integrations the worker serves (the registry, or
// the environment as the default one) with the flags applied, and their
// specs. The first's configuration holds the process's own settings.
func (o *options) integrations(getenv config.Getenv) ([]afworker.Served, error) {
	reg, err := config.LoadRegistry(getenv)
	if err != nil {
		return nil, err
	}
	ins, err := reg.Servable()
	if err != nil {
		return nil, err
	}
	if o.specPath != "" && len(ins) > 1 {
		return nil, fmt.Errorf("--config: %s gives each of its %d integrations its spec (key spec); drop the flag", reg.Path, len(ins))
	}
	var out []afworker.Served
	for _, in := range ins {
		s := afworker.Served{Names: workflows.NamesFor(in.ID, in.DependsOn), Config: in.Config}
		if o.specPath != "" {
			s.Config.SpecPath = o.specPath
		}
		if o.afRate >= 0 {
			s.Config.AwardForceRatePerMinute = o.afRate
		}
		if o.httpAddr != "" {
			s.Config.HTTPAddr = o.httpAddr
		}
		if s.Spec, err = s.Config.Spec(); err != nil {
			return nil, s.Named(err)
		}
		out = append(out, s)
	}
	return out, nil
}

func runWorker(ctx context.Context, o *options) error {
	logger, err := newLogger(o.logLevel)
	if err != nil {
		return err
	}
	served, err := o.integrations(nil)
	if err != nil {
		return err
	}
	copts, err := o.temporal.ClientOptions(logger)
	if err != nil {
		return err
	}
	// Temporal, then the HTTP endpoints (webhooks are received from here
	// on), then the start-up check, which waits while the APIs fail, then
	// polling.
	node, err := afworker.Boot(ctx, afworker.BootOptions{
		Config: served[0].Config, Integrations: served,
		Temporal: copts, TemporalSetting: config.EnvTemporalAddress + " or --address",
		Logger: logger,
	})
	if err != nil {
		if ctx.Err() != nil { // SIGTERM or Ctrl-C, e.g. while waiting for the APIs
			logger.Info("Stopped while starting", "reason", err.Error())
			return nil
		}
		return err
	}
	defer node.Close()
	if os.Getenv(config.EnvIntegrations) != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go followRegistry(ctx, func() ([]afworker.Served, error) { return o.integrations(nil) }, node, o.reloadEvery, hup, logger)
		logger.Info("Following the registry of integrations", "file", os.Getenv(config.EnvIntegrations), "every", o.reloadEvery.String(), "signal", "SIGHUP")
	}
	select {
	case <-ctx.Done():
		logger.Info("Stopping worker")
		return nil
	case <-node.Done(): // its HTTP server failed
		return node.Err()
	}
}

func runDev(ctx context.Context, o *options) error {
	for id := range o.devDependsOn {
		if !slices.Contains(o.devIntegrations, id) {
			return fmt.Errorf("--depends-on %s=%s: %s is not one of --integrations (%s); add it there", id, o.devDependsOn[id], id, strings.Join(o.devIntegrations, ","))
		}
	}
	logger, err := newLogger(o.logLevel)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.devDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	serverLog, err := os.OpenFile(filepath.Join(dir, "temporal.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer serverLog.Close()
	httpAddr := o.httpAddr
	if httpAddr == "" {
		httpAddr = "127.0.0.1:8234"
	}
	var extra []string
	codecAddr := os.Getenv(config.EnvCodecAddr)
	if os.Getenv(config.EnvCodecKey) != "" {
		// The UI decrypts payloads through the worker's codec server, on
		// its own address, apart from the webhook.
		if codecAddr == "" {
			codecAddr = "127.0.0.1:8235"
		}
		extra = append(extra, "--ui-codec-endpoint", "http://"+codecAddr+"/codec")
	}
	cfgEnv := func(k string) string {
		switch {
		case k == config.EnvConfig && o.specPath != "":
			return o.specPath
		case k == config.EnvCodecAddr:
			return codecAddr
		}
		return os.Getenv(k)
	}
	fmt.Fprintf(o.out, "Starting the Temporal dev server (%s)…\n", devserver.PinnedVersion)
	stack, err := devstack.Start(ctx, devstack.Options{
		Temporal: devserver.Options{
			Port: o.devPort, UIPort: o.devUIPort,
			DBFile:    filepath.Join(dir, "temporal.db"),
			Log:       serverLog,
			ExtraArgs: extra,
		},
		Sandbox:                 o.sandbox.Options(),
		AwardForceRatePerMinute: max(o.afRate, 0),
		Getenv:                  cfgEnv,
		Logger:                  logger,
		HTTPAddr:                httpAddr,
		Integrations:            o.devIntegrations,
		DependsOn:               o.devDependsOn,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // Ctrl-C while starting
		}
		return err
	}
	defer stack.Stop()
	sum := stack.Sandbox.Summary
	fmt.Fprintf(o.out, `
afsync dev stack is up.
  Temporal UI         %s
  Temporal frontend   %s (namespace %s; history in %s)
  Award Force sandbox %s  (%d users, %d without email)
  Salesforce sandbox  %s  (%d already paired: %d stale, %d email case only, %d duplicated)
  Webhooks            the sandbox's registrations and profile edits → http://%s/webhooks/awardforce
Try:  go run ./starter sync <slug-or-email>
      go run ./starter sandbox burst --registrations 200 --over 10s   (a registration deadline, as webhooks)
Stop: Ctrl-C
`, stack.Server.UIURL, stack.Server.Address, stack.Server.Namespace, filepath.Join(o.devDir, "temporal.db"),
		stack.Sandbox.AwardForceURL, sum.Users, sum.NoEmail,
		stack.Sandbox.SalesforceURL, sum.Existing, sum.Stale, sum.CaseOnly, sum.Duplicates, httpAddr)
	if err := printDevIntegrations(o, stack, dir, httpAddr); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-stack.Server.Done():
		return fmt.Errorf("the Temporal dev server exited; see %s", serverLog.Name())
	case <-stack.Node.Done(): // its HTTP server failed
		return stack.Node.Err()
	}
	fmt.Fprintln(o.out, "Stopping…")
	return nil
}

// printDevIntegrations writes the dev stack's registry and says how to
// address its further integrations.
func printDevIntegrations(o *options, stack *devstack.Stack, dir, httpAddr string) error {
	if len(stack.Integrations) == 0 {
		// No further integration: a registry of an earlier run is stale.
		if err := os.Remove(filepath.Join(dir, "integrations.yaml")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	path, err := stack.WriteRegistry(dir)
	if err != nil {
		return fmt.Errorf("writing the dev registry: %w", err)
	}
	rel := filepath.Join(o.devDir, filepath.Base(path))
	fmt.Fprintf(o.out, "Integrations (registry %s):\n", rel)
	fmt.Fprintf(o.out, "  %-18s Award Force sandbox %s, Salesforce sandbox %s, webhooks http://%s/webhooks/awardforce\n",
		"default", stack.Sandbox.AwardForceURL, stack.Sandbox.SalesforceURL, httpAddr)
	for _, in := range stack.Integrations {
		id, org := in.Names.Integration(), in.Org.SalesforceURL
		if in.Names.Dependent() {
			org += " (" + in.Names.Org() + "'s, depends_on)"
		}
		fmt.Fprintf(o.out, "  %-18s Award Force sandbox %s, Salesforce sandbox %s, webhooks http://%s/webhooks/awardforce/%s\n",
			id, in.Sandbox.AwardForceURL, org, httpAddr, id)
	}
	fmt.Fprintf(o.out, "Address one:  %s=%s go run ./starter backfill --integration %s\n", config.EnvIntegrations, rel, stack.Integrations[0].Names.Integration())
	fmt.Fprintf(o.out, "In the UI:    AfsyncIntegration = \"%s\"\n", stack.Integrations[0].Names.Integration())
	return nil
}

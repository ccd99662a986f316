package deploy

// The monitoring files of deploy/ are checked with the parsers of the
// programs that read them (Prometheus's rule and config packages, its PromQL
// parser, Alertmanager's config package), and every metric their queries
// name is looked for on the /metrics of a real worker: booted as `worker`
// boots, on a real Temporal dev server and the sandbox, made to sync, to
// refuse a webhook and to lose Temporal.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/dns" // registers dns_sd_configs, as the prometheus binary does
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/internal/devserver/devservertest"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/internal/metrics"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

const (
	rulesFile        = "prometheus/alerts.yml"
	prometheusFile   = "prometheus/prometheus.yml"
	alertmanagerFile = "alertmanager/alertmanager.yml"
	dashboardFile    = "grafana/dashboards/afsync.json"
	datasourceFile   = "grafana/provisioning/datasources/prometheus.yml"
	providerFile     = "grafana/provisioning/dashboards/afsync.yml"

	// workerJob is the scrape job of the workers in prometheus.yml.
	workerJob = "afsync-worker"
)

// prometheusSeries are the series Prometheus itself makes for each target,
// which queries may name beside the worker's own.
var prometheusSeries = []string{"up"}

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = []string{"job", "instance"}

// pendingWiring names the metrics the alerts and the dashboard use that the
// worker does not record yet, with where they must be recorded. Once one is
// exported the test fails until it is dropped from here.
var pendingWiring = map[string]string{}

var promqlParser = parser.NewParser(parser.Options{})

// grafanaVariables stand in for Grafana's built-in variables, which PromQL
// does not parse, and for the dashboard's own: $integration as "All"
// (its allValue), which must match what a worker exports.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$integration", ".*")

// query is a PromQL expression of the alerts or the dashboard.
type query struct{ where, expr string }

func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	return groups
}

func alertQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{where: rulesFile + ": " + r.Alert + " (" + r.Labels["severity"] + ")", expr: r.Expr})
		}
	}
	return qs
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *grafanaDS      `json:"datasource"`
	Targets    []grafanaTarget `json:"targets"`
	Panels     []grafanaPanel  `json:"panels"` // a collapsed row's
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// grafanaVariable is a dashboard variable (a filter above the panels).
type grafanaVariable struct {
	Name       string     `json:"name"`
	Definition string     `json:"definition"`
	IncludeAll bool       `json:"includeAll"`
	AllValue   string     `json:"allValue"`
	Datasource *grafanaDS `json:"datasource"`
}

type grafanaTarget struct {
	RefID      string     `json:"refId"`
	Expr       string     `json:"expr"`
	Datasource *grafanaDS `json:"datasource"`
}

type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
}

// panels lists every panel, those inside collapsed rows included.
func (d grafanaDashboard) panels() []grafanaPanel {
	var all []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return all
}

func loadDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	return d
}

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, p := range loadDashboard(t).panels() {
		for _, tg := range p.Targets {
			qs = append(qs, query{where: dashboardFile + `: panel "` + p.Title + `" ` + tg.RefID, expr: grafanaVariables.Replace(tg.Expr)})
		}
	}
	return qs
}

// selector is a series selector of a query: the metric and its matchers.
type selector struct {
	name     string
	matchers []*labels.Matcher
}

func selectors(t *testing.T, q query) []selector {
	t.Helper()
	expr, err := promqlParser.ParseExpr(q.expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", q.where, err, q.expr)
		return nil
	}
	var out []selector
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := selector{name: vs.Name}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				if m.Type == labels.MatchEqual {
					s.name = m.Value
				}
				continue
			}
			s.matchers = append(s.matchers, m)
		}
		if s.name == "" {
			t.Errorf("%s: a selector names no metric: %s", q.where, vs)
		}
		out = append(out, s)
		return nil
	})
	return out
}

func TestAlertRulesParseAndTellWhatToDo(t *testing.T) {
	groups := loadRules(t)
	severities := []string{"warning", "critical"}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			n++
			name := g.Name + "/" + r.Alert
			if r.Alert == "" {
				t.Errorf("%s: %q is a recording rule; this file holds alerts", g.Name, r.Record)
				continue
			}
			if r.For <= 0 {
				t.Errorf("%s: no for: (a single bad scrape would page)", name)
			}
			if !slices.Contains(severities, r.Labels["severity"]) {
				t.Errorf("%s: severity %q, want one of %v (alertmanager.yml's inhibit rule uses them)", name, r.Labels["severity"], severities)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no summary annotation", name)
			}
			d := r.Annotations["description"]
			if !strings.Contains(d, "docker compose") || !strings.Contains(d, "README") {
				t.Errorf("%s: the description must say what to run (a docker compose command) and where to read more (README): %q", name, d)
			}
			if _, err := promqlParser.ParseExpr(r.Expr); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	// What the issue asks to be alerted on.
	have := map[string]bool{}
	for _, q := range alertQueries(t) {
		for _, s := range selectors(t, q) {
			have[s.name] = true
		}
	}
	for _, want := range []string{
		"afsync_user_syncs_total",                      // failure rate, ambiguous users
		"afsync_salesforce_api_used",                   // daily allocation
		"afsync_salesforce_api_max",                    //
		"afsync_webhook_requests_total",                // bad signatures
		"afsync_awardforce_permit_wait_seconds_bucket", // waits for the rate limit
		"temporal_long_request_failure_total",          // Temporal unreachable
		"up",                                           // worker down
	} {
		if !have[want] {
			t.Errorf("no alert uses %s", want)
		}
	}
	// The Salesforce allocation: 80% warns, 95% is critical.
	levels := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if strings.Contains(r.Expr, "afsync_salesforce_api_used") {
				for _, l := range []string{"0.8", "0.95"} {
					if strings.HasSuffix(strings.TrimSpace(r.Expr), "> "+l) {
						levels[l+" "+r.Labels["severity"]] = true
					}
				}
			}
		}
	}
	for _, want := range []string{"0.8 warning", "0.95 critical"} {
		if !levels[want] {
			t.Errorf("no Salesforce allocation alert at %s (have %v)", want, levels)
		}
	}
}

func TestPrometheusConfigLoads(t *testing.T) {
	cfg, err := promconfig.LoadFile(prometheusFile, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("%s: %v", prometheusFile, err)
	}
	// Rule files are relative to the config, which compose mounts with them.
	if len(cfg.RuleFiles) == 0 {
		t.Error("prometheus.yml loads no rule files")
	}
	loadsRules := false
	for _, pattern := range cfg.RuleFiles {
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			t.Errorf("rule_files %s matches nothing in deploy/prometheus (%v)", pattern, err)
		}
		for _, f := range files {
			if filepath.Clean(f) == filepath.Clean(rulesFile) {
				loadsRules = true
			}
		}
	}
	if !loadsRules {
		t.Errorf("prometheus.yml does not load %s: %v", rulesFile, cfg.RuleFiles)
	}

	p, err := loadCompose(t, requiredEnv)
	if err != nil {
		t.Fatal(err)
	}
	// Alerts go to the compose stack's Alertmanager.
	var amTargets []string
	for _, am := range cfg.AlertingConfig.AlertmanagerConfigs {
		amTargets = append(amTargets, staticTargets(am.ServiceDiscoveryConfigs)...)
	}
	if _, ok := p.Services["alertmanager"]; !ok || !slices.Contains(amTargets, "alertmanager:9093") {
		t.Errorf("prometheus.yml sends alerts to %v, want the alertmanager service on :9093", amTargets)
	}

	// Every worker replica is scraped on the port it serves /metrics on.
	_, workerPort, _ := strings.Cut(*p.Services["worker"].Environment["AFSYNC_HTTP_ADDR"], ":")
	var job *promconfig.ScrapeConfig
	scrapeConfigs, err := cfg.GetScrapeConfigs()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scrapeConfigs {
		if sc.JobName == workerJob {
			job = sc
		}
	}
	if job == nil {
		t.Fatalf("prometheus.yml has no %s job", workerJob)
	}
	if job.MetricsPath != "/metrics" {
		t.Errorf("%s metrics_path = %s", workerJob, job.MetricsPath)
	}
	found := false
	for _, sd := range job.ServiceDiscoveryConfigs {
		d, ok := sd.(*dns.SDConfig)
		if !ok {
			continue
		}
		found = true
		if !slices.Equal(d.Names, []string{"worker"}) || d.Type != "A" || strconv.Itoa(d.Port) != workerPort {
			t.Errorf("%s discovers %v %s port %d, want every replica of the worker service (A records) on :%s", workerJob, d.Names, d.Type, d.Port, workerPort)
		}
	}
	if !found {
		t.Errorf("%s must find every replica (dns_sd_configs on the worker service): a static target reaches one at random", workerJob)
	}
}

func staticTargets(cfgs discovery.Configs) []string {
	var out []string
	for _, c := range cfgs {
		static, ok := c.(discovery.StaticConfig)
		if !ok {
			continue
		}
		for _, g := range static {
			for _, tg := range g.Targets {
				out = append(out, string(tg[model.AddressLabel]))
			}
		}
	}
	return out
}

func TestAlertmanagerConfigLoads(t *testing.T) {
	cfg, err := amconfig.LoadFile(alertmanagerFile)
	if err != nil {
		t.Fatalf("%s: %v", alertmanagerFile, err)
	}
	if cfg.Route == nil || cfg.Route.Receiver == "" {
		t.Fatal("no default route")
	}
	// The inhibit rule relies on the alerts' severities.
	if len(cfg.InhibitRules) == 0 {
		t.Error("no inhibit rule: a critical alert would come with its warning")
	}

	// The commented example receivers are valid too, once uncommented.
	raw, err := os.ReadFile(alertmanagerFile)
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	inExample := false
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "#   webhook_configs:"):
			inExample = true
		case inExample && !strings.HasPrefix(line, "#  "):
			inExample = false
		}
		if inExample {
			example = append(example, "  "+strings.TrimPrefix(line, "# "))
		}
	}
	if len(example) == 0 {
		t.Fatal("the example receivers are gone from the comment")
	}
	withExample := strings.Replace(string(raw), "  - name: default\n", "  - name: default\n"+strings.Join(example, "\n")+"\n", 1)
	if _, err := amconfig.Load(withExample); err != nil {
		t.Errorf("the commented example receivers do not load: %v\n%s", err, strings.Join(example, "\n"))
	}
}

func TestGrafanaDashboardIsValid(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q: both are needed for provisioning", d.UID, d.Title)
	}
	ds := provisionedDatasource(t)
	ids := map[int]string{}
	targets := 0
	for _, p := range d.panels() {
		if p.ID == 0 {
			t.Errorf("panel %q has no id", p.Title)
		}
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != ds.UID {
			t.Errorf("panel %q datasource %+v, want the provisioned one (uid %s)", p.Title, p.Datasource, ds.UID)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			targets++
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s has no expr", p.Title, tg.RefID)
			}
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: refId %q missing or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != ds.UID {
				t.Errorf("panel %q target %s datasource %+v", p.Title, tg.RefID, tg.Datasource)
			}
		}
	}
	if targets == 0 {
		t.Fatal("the dashboard has no queries")
	}
	for _, q := range dashboardQueries(t) {
		selectors(t, q) // parses
	}
	// What the issue asks to see.
	have := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		for _, s := range selectors(t, q) {
			have[s.name] = true
		}
	}
	for _, want := range []string{
		"afsync_user_syncs_total", "afsync_salesforce_api_used", "afsync_awardforce_permit_wait_seconds_bucket",
		"afsync_webhook_requests_total", "temporal_long_request_failure_total", "up",
	} {
		if !have[want] {
			t.Errorf("no panel shows %s", want)
		}
	}

	// Syncs and webhooks are filtered by integration (issue 16): a
	// variable of the integrations the worker labels them with, whose All
	// is what the metrics test stands in for it.
	var integration *grafanaVariable
	for i, v := range d.Templating.List {
		if v.Name == "integration" {
			integration = &d.Templating.List[i]
		}
	}
	if integration == nil {
		t.Fatal("the dashboard has no integration variable")
	}
	if !integration.IncludeAll || integration.AllValue != grafanaVariables.Replace("$integration") || integration.Datasource == nil || integration.Datasource.UID != ds.UID ||
		integration.Definition != "label_values(afsync_user_syncs_total, integration)" {
		t.Errorf("integration variable %+v: want All as %q, the provisioned datasource and the syncs' integration label", integration, grafanaVariables.Replace("$integration"))
	}
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			counts := strings.Contains(tg.Expr, "afsync_user_syncs_total") || strings.Contains(tg.Expr, "afsync_webhook_requests_total")
			if counts && strings.Count(tg.Expr, `integration=~"$integration"`) != strings.Count(tg.Expr, "afsync_") {
				t.Errorf("panel %q: %s: every afsync series must be filtered by the integration variable", p.Title, tg.Expr)
			}
		}
	}
}

type datasource struct {
	Name      string         `yaml:"name"`
	UID       string         `yaml:"uid"`
	Type      string         `yaml:"type"`
	Access    string         `yaml:"access"`
	URL       string         `yaml:"url"`
	IsDefault bool           `yaml:"isDefault"`
	Editable  bool           `yaml:"editable"`
	JSONData  map[string]any `yaml:"jsonData"`
}

func provisionedDatasource(t *testing.T) datasource {
	t.Helper()
	var f struct {
		APIVersion  int          `yaml:"apiVersion"`
		Datasources []datasource `yaml:"datasources"`
	}
	readYAML(t, datasourceFile, &f)
	if f.APIVersion != 1 || len(f.Datasources) != 1 {
		t.Fatalf("%s: apiVersion %d, %d datasources; want 1 and 1", datasourceFile, f.APIVersion, len(f.Datasources))
	}
	return f.Datasources[0]
}

func readYAML(t *testing.T, file string, into any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// Grafana finds Prometheus on the compose network and the dashboards where
// compose mounts them.
func TestGrafanaProvisioning(t *testing.T) {
	p, err := loadCompose(t, requiredEnv)
	if err != nil {
		t.Fatal(err)
	}
	ds := provisionedDatasource(t)
	if ds.Type != "prometheus" || ds.URL != "http://prometheus:9090" || ds.Access != "proxy" {
		t.Errorf("datasource %+v, want type prometheus at http://prometheus:9090, through Grafana's server (access: proxy)", ds)
	}
	if _, ok := p.Services["prometheus"]; !ok {
		t.Error("the datasource's prometheus service is missing")
	}

	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			Folder                string `yaml:"folder"`
			Type                  string `yaml:"type"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, providerFile, &f)
	if f.APIVersion != 1 || len(f.Providers) != 1 {
		t.Fatalf("%s: apiVersion %d, %d providers; want 1 and 1", providerFile, f.APIVersion, len(f.Providers))
	}
	prov := f.Providers[0]
	if prov.Type != "file" {
		t.Errorf("provider type %q, want file", prov.Type)
	}
	mounted := ""
	for _, v := range p.Services["grafana"].Volumes {
		if v.Target == prov.Options.Path {
			mounted = v.Source
		}
	}
	if mounted == "" {
		t.Fatalf("the provider reads %s, which grafana does not mount", prov.Options.Path)
	}
	if _, err := os.Stat(filepath.Join(mounted, filepath.Base(dashboardFile))); err != nil {
		t.Errorf("the dashboard is not in the mounted %s: %v", mounted, err)
	}
	home := *p.Services["grafana"].Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if home != filepath.Join(prov.Options.Path, filepath.Base(dashboardFile)) {
		t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH = %s, want the provisioned dashboard", home)
	}
}

// exported is what a worker's /metrics holds: sample name → label → values.
type exported map[string]map[string]map[string]bool

func (e exported) add(t *testing.T, body string) {
	t.Helper()
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	for _, f := range fams {
		samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range samples {
			name := string(s.Metric[model.MetricNameLabel])
			if e[name] == nil {
				e[name] = map[string]map[string]bool{}
			}
			for k, v := range s.Metric {
				if k == model.MetricNameLabel {
					continue
				}
				if e[name][string(k)] == nil {
					e[name][string(k)] = map[string]bool{}
				}
				e[name][string(k)][string(v)] = true
			}
		}
	}
}

func (e exported) scrape(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	e.add(t, string(body))
}

// workerMetrics boots a real worker (afworker.Boot, through the dev stack)
// with its HTTP endpoints, has it do what the alerts watch, and returns what
// its /metrics exported along the way.
func workerMetrics(t *testing.T) exported {
	t.Helper()
	bin := devservertest.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stack, err := devstack.Start(ctx, devstack.Options{
		Temporal:   devserver.Options{Binary: bin, UIPort: -1},
		Getenv:     func(string) string { return "" },
		KillWorker: true,
		// Port 0: the worker binds a free port itself (a port picked here
		// and released could be taken before the worker binds it).
		HTTPAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Stop)
	base := "http://" + stack.Node.HTTPAddr
	got := exported{}

	// Syncs: one refused for good, one created after a transient fault (an
	// activity attempt fails), one ambiguous (two contacts share the email).
	af, sf := stack.Sandbox.AwardForce, stack.Sandbox.Salesforce
	af.AddUser(afsim.User{Slug: "MetricsF", Email: "fay.fails@example.org", FirstName: "Fay", LastName: "Fails"})
	af.AddUser(afsim.User{Slug: "MetricsA", Email: "mary.metrics@example.org", FirstName: "Mary", LastName: "Metrics"})
	af.AddUser(afsim.User{Slug: "MetricsB", Email: "tess.twin@example.org", FirstName: "Tess", LastName: "Twin"})
	sf.Insert("Contact", map[string]any{"Email": "tess.twin@example.org", "FirstName": "Tess", "LastName": "Twin"})
	sf.Insert("Contact", map[string]any{"Email": "Tess.Twin@example.org", "FirstName": "T", "LastName": "Twin"})
	for _, sync := range []struct {
		slug  string
		fault func()
		want  workflows.Outcome
	}{
		{"MetricsF", func() { sf.InjectRecordFaults(1, "REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]") }, workflows.OutcomeFailed},
		{"MetricsA", func() { sf.InjectFaults(1, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "Try again later") }, workflows.OutcomeCreated},
		{"MetricsB", func() {}, workflows.OutcomeAmbiguous},
	} {
		sync.fault()
		run, err := workflows.StartUserSync(ctx, stack.Client, workflows.DefaultNames, stack.Spec, workflows.SyncRequest{Slug: sync.slug, Trigger: pairing.TriggerManual})
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.UserSyncResult
		err = run.Get(ctx, &res)
		if sync.want == workflows.OutcomeFailed {
			if err == nil {
				t.Fatalf("sync of %s: %s, want it failed", sync.slug, res.Outcome)
			}
			continue
		}
		if err != nil {
			t.Fatalf("sync of %s: %v", sync.slug, err)
		}
		if res.Outcome != sync.want {
			t.Fatalf("sync of %s: %s (%s), want %s", sync.slug, res.Outcome, res.Error, sync.want)
		}
	}

	// A webhook whose signature does not match.
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/awardforce", strings.NewReader(`{"event":"membership.registered","slug":"MetricsC"}`))
	req.Header.Set("Signature", "0000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a badly signed webhook: %s, want 401", resp.Status)
	}
	got.scrape(t, base)

	// Temporal goes away: the worker's polls and its health check fail.
	if err := stack.Server.Stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
		}
		got.scrape(t, base)
		if got["temporal_long_request_failure_total"] != nil && got["temporal_request_failure_total"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a minute after Temporal stopped, the worker reports no failed request")
		}
		time.Sleep(time.Second)
	}
	return got
}

// Every metric the alerts and the dashboard query, and every label they
// match on, is one a real worker exports (or Prometheus adds).
func TestIntegrationAlertsAndDashboardUseExportedMetrics(t *testing.T) {
	queries := append(alertQueries(t), dashboardQueries(t)...)
	got := workerMetrics(t)

	var names []string
	for name := range got {
		names = append(names, name)
	}
	sort.Strings(names)
	t.Logf("the worker exported %d series names", len(names))

	pending := map[string]bool{}
	for _, q := range queries {
		for _, s := range selectors(t, q) {
			if why, ok := pendingWiring[s.name]; ok {
				if got[s.name] != nil {
					t.Errorf("%s is exported now: drop it from pendingWiring", s.name)
				} else if !pending[s.name] {
					pending[s.name] = true
					t.Logf("NOT EXPORTED YET, used by %s: %s: %s", q.where, s.name, why)
				}
				continue
			}
			seen := got[s.name]
			if slices.Contains(prometheusSeries, s.name) {
				seen = map[string]map[string]bool{}
			} else if seen == nil {
				t.Errorf("%s: %s is not a metric the worker exports; it has:\n%s", q.where, s.name, strings.Join(names, "\n"))
				continue
			}
			for _, m := range s.matchers {
				checkMatcher(t, q, s.name, m, seen)
			}
		}
	}
}

// checkMatcher fails when a query matches on a label the metric does not
// have, or on values it never takes.
func checkMatcher(t *testing.T, q query, metric string, m *labels.Matcher, seen map[string]map[string]bool) {
	t.Helper()
	values := seen[m.Name]
	switch {
	case m.Name == "job":
		values = map[string]bool{workerJob: true, "prometheus": true, "alertmanager": true}
	case m.Name == "outcome" && metric == "afsync_user_syncs_total":
		// Every outcome, not only those the test produced.
		values = map[string]bool{}
		for _, o := range workflows.Outcomes {
			values[string(o)] = true
		}
	case slices.Contains(targetLabels, m.Name):
		return
	case values == nil:
		t.Errorf("%s: %s has no label %q (it has %v)", q.where, metric, m.Name, keys(seen))
		return
	}
	switch m.Type {
	case labels.MatchEqual:
		if !values[m.Value] {
			t.Errorf("%s: %s{%s} never takes that value (it takes %v)", q.where, metric, m, keys(values))
		}
	case labels.MatchRegexp:
		re := regexp.MustCompile("^(?:" + m.Value + ")$")
		matched := false
		for v := range values {
			matched = matched || re.MatchString(v)
		}
		if !matched {
			t.Errorf("%s: %s{%s} matches none of %v", q.where, metric, m, keys(values))
		}
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// A quantile of a histogram is only as precise as its buckets: every
// threshold an alert puts on histogram_quantile is one of the bounds the
// worker exports (metrics.LatencyBuckets), so the alert fires where it says.
func TestLatencyAlertThresholdsAreBucketBounds(t *testing.T) {
	checked := 0
	for _, q := range alertQueries(t) {
		expr, err := promqlParser.ParseExpr(q.expr)
		if err != nil {
			t.Fatalf("%s: %v", q.where, err)
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			b, ok := n.(*parser.BinaryExpr)
			if !ok {
				return nil
			}
			call, isCall := b.LHS.(*parser.Call)
			num, isNum := b.RHS.(*parser.NumberLiteral)
			if !isCall || !isNum || call.Func.Name != "histogram_quantile" {
				return nil
			}
			checked++
			if !slices.Contains(metrics.LatencyBuckets, num.Val) {
				t.Errorf("%s: histogram_quantile(...) > %v, not a bucket bound of %v", q.where, num.Val, metrics.LatencyBuckets)
			}
			return nil
		})
	}
	if checked < 2 {
		t.Fatalf("checked %d latency thresholds; the permit-wait and workflow-task alerts have one each", checked)
	}
}

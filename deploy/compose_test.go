// Package deploy holds what afsync needs to run on a Temporal cluster; its
// test validates docker-compose.yml with the Compose specification's own
// loader, since no Docker engine runs where the tests do.
package deploy

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

var requiredEnv = []string{
	"POSTGRES_PASSWORD=pw-from-env",
	"AWARDFORCE_API_KEY=af-key-from-env",
	"SALESFORCE_LOGIN_URL=https://acme.my.salesforce.com",
	"SALESFORCE_CLIENT_ID=client-id-from-env",
	"AFSYNC_CODEC_KEY=codec-key-from-env",
	"AFSYNC_CODEC_TOKEN=codec-token-from-env",
	"GRAFANA_ADMIN_PASSWORD=grafana-pw-from-env",
}

// requiredVars are the variables docker-compose.yml refuses to load without.
func requiredVars() []string {
	var names []string
	for _, kv := range requiredEnv {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	return names
}

func envValue(t *testing.T, svc types.ServiceConfig, key string) string {
	t.Helper()
	v := svc.Environment[key]
	if v == nil {
		t.Errorf("%s: %s is not set", svc.Name, key)
		return ""
	}
	return *v
}

func loadCompose(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join("..", "docker-compose.yml")},
		cli.WithWorkingDirectory(".."),
		cli.WithEnv(env),
		cli.WithProfiles([]string{"cli"}),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func TestComposeFileIsValidAndComplete(t *testing.T) {
	p, err := loadCompose(t, requiredEnv)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	for _, name := range []string{"postgresql", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui", "worker", "starter",
		"codec-proxy", "prometheus", "alertmanager", "grafana"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %q missing", name)
		}
	}
	images := map[string]string{
		"temporal-schema": "temporalio/admin-tools:1.29.1",
		"temporal":        "temporalio/server:1.29.1",
		"temporal-ui":     "temporalio/ui:2.42.1",
	}
	for svc, want := range images {
		if got := p.Services[svc].Image; got != want {
			t.Errorf("%s image = %q, want %q (pinned to the tested versions)", svc, got, want)
		}
	}
	for _, svc := range p.Services {
		if strings.Contains(svc.Image, "auto-setup") {
			t.Errorf("%s uses the retired auto-setup image", svc.Name)
		}
	}

	dependsOn := func(svc, on, condition string) {
		t.Helper()
		d, ok := p.Services[svc].DependsOn[on]
		if !ok || d.Condition != condition {
			t.Errorf("%s must depend on %s with condition %s, got %+v", svc, on, condition, d)
		}
	}
	dependsOn("temporal-schema", "postgresql", types.ServiceConditionHealthy)
	dependsOn("temporal", "temporal-schema", types.ServiceConditionCompletedSuccessfully)
	dependsOn("temporal-ui", "temporal", types.ServiceConditionHealthy)
	dependsOn("worker", "temporal-namespace", types.ServiceConditionCompletedSuccessfully)

	// The server runs with its defaults, as on Temporal Cloud: nothing of
	// afsync's depends on dynamic config.
	if v := p.Services["temporal"].Environment["DYNAMIC_CONFIG_FILE_PATH"]; v != nil {
		t.Errorf("temporal DYNAMIC_CONFIG_FILE_PATH = %v: afsync needs no dynamic config", *v)
	}

	w := p.Services["worker"]
	for key, want := range map[string]string{
		"TEMPORAL_ADDRESS":     "temporal:7233",
		"AWARDFORCE_API_KEY":   "af-key-from-env",
		"SALESFORCE_CLIENT_ID": "client-id-from-env",
		"AFSYNC_CONFIG":        "/etc/afsync/pairing.yaml",
	} {
		if v := w.Environment[key]; v == nil || *v != want {
			t.Errorf("worker env %s = %v, want %q", key, v, want)
		}
	}
	if w.Build == nil {
		t.Error("worker must build from the repository's Dockerfile")
	}
	// Its health (and /metrics) are served, and probed with the worker's
	// own healthcheck command: the distroless image has no shell or curl.
	if v := w.Environment["AFSYNC_HTTP_ADDR"]; v == nil || *v != "0.0.0.0:8234" {
		t.Errorf("worker AFSYNC_HTTP_ADDR = %v, want 0.0.0.0:8234", v)
	}
	if hc := w.HealthCheck; hc == nil || strings.Join(hc.Test, " ") != "CMD worker healthcheck" {
		t.Errorf("worker healthcheck = %+v, want [CMD worker healthcheck]", hc)
	}
	if _, err := os.Stat(filepath.Join("..", "Dockerfile")); err != nil {
		t.Errorf("the worker's build needs a Dockerfile: %v", err)
	}
	// The example spec the worker mounts by default must exist.
	for _, v := range w.Volumes {
		if v.Target == "/etc/afsync/pairing.yaml" {
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("pairing spec mounted from %s: %v", v.Source, err)
			}
		}
	}
}

func TestComposeRefusesToStartWithoutSecrets(t *testing.T) {
	for _, missing := range requiredVars() {
		t.Run(missing, func(t *testing.T) {
			var env []string
			for _, kv := range requiredEnv {
				if !strings.HasPrefix(kv, missing+"=") {
					env = append(env, kv)
				}
			}
			_, err := loadCompose(t, env)
			if err == nil || !strings.Contains(err.Error(), missing) {
				t.Fatalf("loading without %s: err = %v, want an error naming it", missing, err)
			}
		})
	}
}

func TestComposeHoldsNoSecrets(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		l := strings.TrimSpace(line)
		for _, key := range []string{"PASSWORD:", "PWD:", "API_KEY:", "SECRET:", "_CODEC_KEY:", "_CODEC_TOKEN:"} {
			if strings.Contains(l, key) && !strings.Contains(l, "${") {
				t.Errorf("a secret is written into docker-compose.yml instead of read from the environment: %q", l)
			}
		}
	}
}

// The payload codec: the worker and the starter encrypt with the key from
// the environment, the worker's codec server requires the token and answers
// the UI's origin, and the UI decodes through codec-proxy, which adds the
// token (the UI cannot send a fixed one) and reaches whichever worker runs.
func TestComposeWiresThePayloadCodec(t *testing.T) {
	p, err := loadCompose(t, requiredEnv)
	if err != nil {
		t.Fatal(err)
	}
	w, starter, ui, proxy := p.Services["worker"], p.Services["starter"], p.Services["temporal-ui"], p.Services["codec-proxy"]
	for _, svc := range []types.ServiceConfig{w, starter} {
		if got := envValue(t, svc, "AFSYNC_CODEC_KEY"); got != "codec-key-from-env" {
			t.Errorf("%s AFSYNC_CODEC_KEY = %q, want the one from the environment", svc.Name, got)
		}
	}
	if got := envValue(t, w, "AFSYNC_CODEC_TOKEN"); got != "codec-token-from-env" {
		t.Errorf("worker AFSYNC_CODEC_TOKEN = %q, want the one from the environment", got)
	}
	if got := envValue(t, proxy, "AFSYNC_CODEC_TOKEN"); got != "codec-token-from-env" {
		t.Errorf("codec-proxy AFSYNC_CODEC_TOKEN = %q, want the worker's", got)
	}

	// The browser calls the codec server from the UI's page: the worker
	// must allow that origin (the UI's own CORS setting names it).
	origins := strings.Split(envValue(t, w, "AFSYNC_CODEC_CORS_ORIGINS"), ",")
	for _, o := range strings.Split(envValue(t, ui, "TEMPORAL_CORS_ORIGINS"), ",") {
		if !slices.Contains(origins, o) {
			t.Errorf("worker AFSYNC_CODEC_CORS_ORIGINS = %v lacks the UI's origin %q", origins, o)
		}
	}

	// TEMPORAL_CODEC_ENDPOINT is called by the browser: it must be the port
	// codec-proxy publishes on the host, under /codec.
	endpoint, err := url.Parse(envValue(t, ui, "TEMPORAL_CODEC_ENDPOINT"))
	if err != nil {
		t.Fatal(err)
	}
	if endpoint.Path != "/codec" || endpoint.Hostname() != "localhost" {
		t.Errorf("TEMPORAL_CODEC_ENDPOINT = %s, want http://localhost:<codec-proxy port>/codec", endpoint)
	}
	published := false
	for _, port := range proxy.Ports {
		if port.Published == endpoint.Port() {
			published = true
			if port.HostIP != "127.0.0.1" {
				t.Errorf("codec-proxy publishes %s on %q, want 127.0.0.1 only", port.Published, port.HostIP)
			}
		}
	}
	if !published {
		t.Errorf("codec-proxy does not publish port %s of TEMPORAL_CODEC_ENDPOINT: %+v", endpoint.Port(), proxy.Ports)
	}
	if v := ui.Environment["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"]; v == nil || *v != "false" {
		t.Errorf("TEMPORAL_CODEC_PASS_ACCESS_TOKEN = %v: without OIDC there is no access token to pass", v)
	}

	// The proxy's template: mounted where the nginx image renders
	// templates, listening on the published port, forwarding /codec/ to the
	// worker's codec port with the token.
	var template string
	for _, v := range proxy.Volumes {
		if v.Target == "/etc/nginx/templates" {
			raw, err := os.ReadFile(filepath.Join(v.Source, "default.conf.template"))
			if err != nil {
				t.Fatalf("codec-proxy template: %v", err)
			}
			template = string(raw)
		}
	}
	if template == "" {
		t.Fatal("codec-proxy mounts no template on /etc/nginx/templates")
	}
	// The codec server has its own port, apart from the webhook's.
	_, workerPort, _ := strings.Cut(envValue(t, w, "AFSYNC_CODEC_ADDR"), ":")
	if _, httpPort, _ := strings.Cut(envValue(t, w, "AFSYNC_HTTP_ADDR"), ":"); workerPort == "" || workerPort == httpPort {
		t.Errorf("worker AFSYNC_CODEC_ADDR port %q: want one apart from AFSYNC_HTTP_ADDR's %q", workerPort, httpPort)
	}
	var target string
	for _, port := range proxy.Ports {
		if port.Published == endpoint.Port() {
			target = strconv.Itoa(int(port.Target))
		}
	}
	for _, want := range []string{
		"listen " + target + ";",
		"set $worker http://worker:" + workerPort + ";",
		"location /codec/ {",
		`proxy_set_header Authorization "Bearer ${AFSYNC_CODEC_TOKEN}";`,
	} {
		if !strings.Contains(template, want) {
			t.Errorf("codec-proxy template lacks %q", want)
		}
	}
	if f := envValue(t, proxy, "NGINX_ENVSUBST_FILTER"); !strings.HasPrefix("AFSYNC_CODEC_TOKEN", f) {
		t.Errorf("NGINX_ENVSUBST_FILTER = %q must let AFSYNC_CODEC_TOKEN through", f)
	}
}

// The monitoring services: pinned images (Prometheus and Alertmanager at the
// versions whose packages validate their files), the files of deploy/
// mounted read-only, ports on 127.0.0.1 only, Grafana's password from the
// environment.
func TestComposeRunsTheMonitoringStack(t *testing.T) {
	p, err := loadCompose(t, requiredEnv)
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{
		"prometheus":   "prom/prometheus:" + imageTag(t, "github.com/prometheus/prometheus"),
		"alertmanager": "prom/alertmanager:" + imageTag(t, "github.com/prometheus/alertmanager"),
	}
	for svc, want := range images {
		if got := p.Services[svc].Image; got != want {
			t.Errorf("%s image = %q, want %q (the version deploy/monitoring_test.go validates with)", svc, got, want)
		}
	}
	built := p.Services["worker"].Image // afsync's own, built from the Dockerfile
	for _, svc := range p.Services {
		if svc.Build != nil || svc.Image == built {
			continue
		}
		if _, tag, ok := strings.Cut(svc.Image, ":"); !ok || tag == "latest" || tag == "" {
			t.Errorf("%s image %q is not pinned to a version", svc.Name, svc.Image)
		}
	}
	for _, svc := range p.Services {
		for _, port := range svc.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q: everything is published on 127.0.0.1 only", svc.Name, port.Published, port.HostIP)
			}
		}
	}

	mounts := map[string]map[string]string{ // service → target → source under the repository
		"prometheus":   {"/etc/prometheus": "deploy/prometheus"},
		"alertmanager": {"/etc/alertmanager": "deploy/alertmanager"},
		"grafana":      {"/etc/grafana/provisioning": "deploy/grafana/provisioning", "/etc/grafana/dashboards": "deploy/grafana/dashboards"},
		"codec-proxy":  {"/etc/nginx/templates": "deploy/codec-proxy"},
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range mounts {
		svc := p.Services[name]
		got := map[string]bool{}
		for _, v := range svc.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			got[v.Target] = true
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || rel != want[v.Target] {
				t.Errorf("%s mounts %s on %s, want ./%s", name, v.Source, v.Target, want[v.Target])
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s: %v", name, v.Source, err)
			}
			if !v.ReadOnly {
				t.Errorf("%s mounts %s read-write, want :ro", name, v.Source)
			}
		}
		for target := range want {
			if !got[target] {
				t.Errorf("%s does not mount ./%s on %s", name, want[target], target)
			}
		}
	}

	// The containers read their files where the mounts put them.
	if cmd := strings.Join(p.Services["prometheus"].Command, " "); !strings.Contains(cmd, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus command %q does not read /etc/prometheus/prometheus.yml", cmd)
	}
	if cmd := strings.Join(p.Services["alertmanager"].Command, " "); !strings.Contains(cmd, "--config.file=/etc/alertmanager/alertmanager.yml") {
		t.Errorf("alertmanager command %q does not read /etc/alertmanager/alertmanager.yml", cmd)
	}
	g := p.Services["grafana"]
	if got := envValue(t, g, "GF_SECURITY_ADMIN_PASSWORD"); got != "grafana-pw-from-env" {
		t.Errorf("grafana GF_SECURITY_ADMIN_PASSWORD = %q, want GRAFANA_ADMIN_PASSWORD's", got)
	}
	if v := g.Environment["GF_AUTH_ANONYMOUS_ENABLED"]; v == nil || *v != "false" {
		t.Errorf("grafana GF_AUTH_ANONYMOUS_ENABLED = %v, want false", v)
	}
}

// imageTag is the Docker tag of the release a Prometheus Go module version
// comes from: Prometheus 3.x is published as v0.3xx.y (v0.316.0 is v3.16.0),
// Alertmanager as itself. It reads go.mod, so the images stay those the
// files are validated against.
func imageTag(t *testing.T, module string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if f = slices.DeleteFunc(f, func(s string) bool { return s == "require" }); len(f) < 2 || f[0] != module {
			continue
		}
		v := f[1]
		if module == "github.com/prometheus/prometheus" {
			var minor, patch int
			if _, err := fmt.Sscanf(v, "v0.3%d.%d", &minor, &patch); err != nil {
				t.Fatalf("%s %s: not a Prometheus 3 module version", module, v)
			}
			return fmt.Sprintf("v3.%d.%d", minor, patch)
		}
		return v
	}
	t.Fatalf("%s is not required in go.mod", module)
	return ""
}

// Package deploy holds what afsync needs to run on a Temporal cluster; its
// test validates docker-compose.yml with the Compose specification's own
// loader, since no Docker engine runs where the tests do.
package deploy

import (
	"context"
	"os"
	"path/filepath"
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
	for _, name := range []string{"postgresql", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui", "worker", "starter"} {
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
	for _, missing := range []string{"POSTGRES_PASSWORD", "AWARDFORCE_API_KEY", "SALESFORCE_LOGIN_URL", "SALESFORCE_CLIENT_ID"} {
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
		for _, key := range []string{"PASSWORD:", "PWD:", "API_KEY:", "SECRET:"} {
			if strings.Contains(l, key) && !strings.Contains(l, "${") {
				t.Errorf("a secret is written into docker-compose.yml instead of read from the environment: %q", l)
			}
		}
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/workflows"
)

// With a registry of several integrations, a command acts on the one
// --integration (or AFSYNC_INTEGRATION) names, under its names, and
// refuses to guess.
func TestTheStarterActsOnTheIntegrationItIsGiven(t *testing.T) {
	dir := t.TempDir()
	entry := func(id, org string) string {
		return "  - id: " + id + "\n    awardforce_api_key: ${AF_KEY}\n    salesforce_login_url: " + org + "\n" +
			"    salesforce_client_id: cid\n    salesforce_client_secret: ${SF_SECRET}\n"
	}
	path := filepath.Join(dir, "integrations.yaml")
	if err := os.WriteFile(path, []byte("integrations:\n"+entry("awards", "https://acme.my.salesforce.com")+entry("grants", "https://beta.my.salesforce.com")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvIntegrations, path)
	t.Setenv("AF_KEY", "k")
	t.Setenv("SF_SECRET", "s")
	t.Setenv(config.EnvIntegration, "")

	c := mocks.NewClient(t)
	c.On("Close").Return().Maybe()
	c.On("DescribeWorkflow", mock.Anything, mock.Anything, "").Return(nil, serviceerror.NewNotFound("no such workflow")).Maybe()
	var started []string
	c.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, workflows.ResyncSignal, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, id, _ string, _ any, opts client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
			started = append(started, id+" on "+opts.TaskQueue)
			run := mocks.NewWorkflowRun(t)
			run.On("GetID").Return(id).Maybe()
			run.On("GetRunID").Return("run").Maybe()
			run.On("Get", mock.Anything, mock.Anything).Return(func(_ context.Context, ptr any) error {
				*ptr.(*workflows.UserSyncResult) = workflows.UserSyncResult{Slug: "AdaLovel", Outcome: workflows.OutcomeUnchanged}
				return nil
			}).Maybe()
			return run, nil
		}).Maybe()
	sync := func(integration string) error {
		g := &globalOptions{integration: integration, dialer: func(context.Context, client.Options) (client.Client, error) { return c, nil }}
		var out strings.Builder
		return runSync(context.Background(), &syncOptions{globalOptions: g, user: "AdaLovel", trigger: "manual", timeout: time.Minute, out: &out})
	}

	if err := sync(""); err == nil || !strings.Contains(err.Error(), "lists 2 integrations (awards, grants): say which with --integration or AFSYNC_INTEGRATION") {
		t.Fatalf("with two integrations and none named: %v", err)
	}
	if err := sync("grants"); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvIntegration, "awards")
	if err := sync(""); err != nil {
		t.Fatal(err)
	}
	if err := sync("fellowships"); err == nil || !strings.Contains(err.Error(), `integration "fellowships"`) {
		t.Fatalf("an unknown integration: %v", err)
	}
	want := []string{"afsync-grants-user-AdaLovel on afsync-grants", "afsync-awards-user-AdaLovel on afsync-awards"}
	if strings.Join(started, "; ") != strings.Join(want, "; ") {
		t.Fatalf("started %q, want %q", started, want)
	}
}

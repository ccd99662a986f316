package afworker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox"
)

func sandboxConfig(t *testing.T) config.Config {
	t.Helper()
	sb, err := sandbox.Start(sandbox.Options{Seed: sandbox.SeedOptions{Users: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	env := sb.Env()
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPreflightAcceptsTheExampleSpecAgainstTheSandbox(t *testing.T) {
	cfg := sandboxConfig(t)
	spec, err := pairing.Load(filepath.Join("..", "..", "pairing", "testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Preflight(context.Background(), cfg, spec); err != nil {
		t.Fatalf("the README's example spec must fit the sandbox: %v", err)
	}
}

func TestPreflightNamesWhatToFix(t *testing.T) {
	cfg := sandboxConfig(t)
	spec := pairing.Default()
	spec.Fields = append(spec.Fields, pairing.FieldPair{AwardForce: "Employr", CRM: "Departmnt"})
	err := Preflight(context.Background(), cfg, spec)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"Departmnt", "did you mean Department", "Employr"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	bad := cfg
	bad.AwardForce.APIKey = "wrong-key"
	if err := Preflight(context.Background(), bad, pairing.Default()); err == nil || !strings.Contains(err.Error(), "AWARDFORCE_API_KEY") {
		t.Errorf("a rejected key must name AWARDFORCE_API_KEY: %v", err)
	}
	bad = cfg
	bad.Salesforce.ClientSecret = "wrong"
	if err := Preflight(context.Background(), bad, pairing.Default()); err == nil || !strings.Contains(err.Error(), "SALESFORCE_") {
		t.Errorf("a rejected Salesforce grant must name the SALESFORCE_ settings: %v", err)
	}
	missing := cfg
	missing.AwardForce.APIKey = ""
	if err := Preflight(context.Background(), missing, pairing.Default()); err == nil || !strings.Contains(err.Error(), "AWARDFORCE_API_KEY") {
		t.Errorf("a missing key must name AWARDFORCE_API_KEY: %v", err)
	}
}

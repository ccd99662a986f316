package main

import (
	"bytes"
	"strings"
	"testing"
)

func execute(t *testing.T, args ...string) error {
	t.Helper()
	_, err := executeOut(t, args...)
	return err
}

// executeOut runs the command and returns what it printed too.
func executeOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestWorkerExplainsMissingConfiguration(t *testing.T) {
	for _, k := range []string{"AWARDFORCE_API_KEY", "AWARDFORCE_API_URL", "SALESFORCE_LOGIN_URL", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET", "AFSYNC_CONFIG", "AWARDFORCE_RATE_LIMIT"} {
		t.Setenv(k, "")
	}
	err := execute(t)
	if err == nil || !strings.Contains(err.Error(), "AWARDFORCE_API_KEY") {
		t.Fatalf("want an error naming AWARDFORCE_API_KEY, got %v", err)
	}

	t.Setenv("AWARDFORCE_RATE_LIMIT", "lots")
	if err := execute(t); err == nil || !strings.Contains(err.Error(), "AWARDFORCE_RATE_LIMIT") {
		t.Fatalf("want an error naming AWARDFORCE_RATE_LIMIT, got %v", err)
	}
	t.Setenv("AWARDFORCE_RATE_LIMIT", "")

	if err := execute(t, "--config", "/nonexistent/pairing.yaml"); err == nil || !strings.Contains(err.Error(), "pairing.yaml") {
		t.Fatalf("want an error naming the spec file, got %v", err)
	}
	if err := execute(t, "--log-level", "loud"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Fatalf("want an error naming --log-level, got %v", err)
	}
}

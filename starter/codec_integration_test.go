package main

import (
	"context"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/afsync/afsync/sandbox"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

func TestIntegrationPayloadsAreEncryptedWhenACodecKeyIsSet(t *testing.T) {
	t.Setenv("AFSYNC_CODEC_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=") // 32 bytes, test only
	stack := startStack(t, sandbox.Options{})
	u := stack.Sandbox.AwardForce.AddUser(afsim.User{Slug: "SecretUs", Email: "katherine.johnson@example.org", FirstName: "Katherine", LastName: "Johnson"})

	res, err := syncJSON(t, stack, u.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != workflows.OutcomeCreated {
		t.Fatalf("outcome %q, want created", res.Outcome)
	}
	it := stack.Client.GetWorkflowHistory(context.Background(), workflows.UserSyncWorkflowID(u.Slug), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var raw strings.Builder
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := protojson.Marshal(ev)
		raw.Write(b)
	}
	h := raw.String()
	if !strings.Contains(h, "YmluYXJ5L2VuY3J5cHRlZA") { // "binary/encrypted", base64 in JSON
		t.Fatal("history payloads are not marked binary/encrypted")
	}
	for _, pii := range []string{"katherine", "Katherine", "Johnson", "a2F0aGVyaW5l" /* base64 of "katherine" */} {
		if strings.Contains(h, pii) {
			t.Errorf("the history shows %q in plain sight", pii)
		}
	}

	// A starter without the key cannot read the result, and is told why.
	plain, err := client.Dial(client.Options{HostPort: stack.Server.Address, Namespace: stack.Server.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	var unreadable workflows.UserSyncResult
	err = plain.GetWorkflow(context.Background(), workflows.UserSyncWorkflowID(u.Slug), "").Get(context.Background(), &unreadable)
	if err == nil || !strings.Contains(withHint(err).Error(), "set AFSYNC_CODEC_KEY") {
		t.Fatalf("reading an encrypted result without the key: %v", err)
	}

	// Failure messages can quote values (Salesforce's own messages do): they
	// are encrypted too, and the starter still shows them decrypted.
	bad := stack.Sandbox.AwardForce.AddUser(afsim.User{Slug: "NoLastNm", Email: "mary.jackson@example.org", FirstName: "Mary", LastName: "X"})
	stack.Sandbox.Salesforce.InjectFaults(1, 400, "INVALID_EMAIL_ADDRESS", "Email: invalid email address: mary.jackson@example.org")
	failed, err := syncJSON(t, stack, bad.Slug)
	if err == nil || failed.Outcome != workflows.OutcomeFailed || !strings.Contains(failed.Error, "invalid email address: mary.jackson@example.org") {
		t.Fatalf("want a failed sync showing Salesforce's message, got %+v, %v", failed, err)
	}
	it = stack.Client.GetWorkflowHistory(context.Background(), workflows.UserSyncWorkflowID(bad.Slug), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := protojson.Marshal(ev)
		if strings.Contains(string(b), "mary.jackson") {
			t.Fatalf("a failure in the history shows the email in plain sight: %s", b)
		}
	}
}

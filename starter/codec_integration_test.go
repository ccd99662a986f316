package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/internal/devstack"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

func TestIntegrationPayloadsAreEncryptedWhenACodecKeyIsSet(t *testing.T) {
	t.Setenv("AFSYNC_CODEC_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=") // 32 bytes, test only
	// The codec on its own loopback address, apart from the webhook's, as
	// worker --dev runs it.
	stack := startStackOptions(t, devstack.Options{HTTPAddr: "127.0.0.1:0", Getenv: func(k string) string {
		if k == config.EnvCodecAddr {
			return "127.0.0.1:0"
		}
		return ""
	}})
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

	// The UI decodes through the codec address; the webhook's address does
	// not serve the codec at all.
	if stack.Node.CodecAddr == "" || stack.Node.CodecAddr == stack.Node.HTTPAddr {
		t.Fatalf("codec on %q, HTTP on %q: want a codec address of its own", stack.Node.CodecAddr, stack.Node.HTTPAddr)
	}
	if got := decodeVia(t, "http://"+stack.Node.CodecAddr, firstInput(t, stack.Client, workflows.UserSyncWorkflowID(u.Slug))); !strings.Contains(got, u.Slug) {
		t.Errorf("the codec address decoded the sync's input to %q, want it to name %s", got, u.Slug)
	}
	resp, err := http.Post("http://"+stack.Node.HTTPAddr+"/codec/decode", "application/json", strings.NewReader(`{"payloads":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("the webhook's address answered /codec/decode with %d, want 404", resp.StatusCode)
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

// firstInput returns the input payload of the first run of workflow id, as
// its history holds it (encrypted when a codec key is set).
func firstInput(t *testing.T, c client.Client, id string) *commonpb.Payload {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	p := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(p) == 0 {
		t.Fatalf("workflow %s started without input", id)
	}
	return p[0]
}

// decodeVia asks the codec server at base to decode p, as the Temporal UI
// does, and returns the decoded data.
func decodeVia(t *testing.T, base string, p *commonpb.Payload) string {
	t.Helper()
	raw, err := protojson.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/codec/decode", "application/json", strings.NewReader(`{"payloads":[`+string(raw)+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("codec decode: HTTP %d: %s", resp.StatusCode, body)
	}
	var out struct {
		Payloads []json.RawMessage `json:"payloads"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Payloads) != 1 {
		t.Fatalf("codec decode answered %s (%v)", body, err)
	}
	var dec commonpb.Payload
	if err := protojson.Unmarshal(out.Payloads[0], &dec); err != nil {
		t.Fatal(err)
	}
	if string(dec.GetMetadata()["encoding"]) == "binary/encrypted" {
		t.Fatalf("the codec left the payload encrypted")
	}
	return string(dec.GetData())
}

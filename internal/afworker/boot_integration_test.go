package afworker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/internal/devserver/devservertest"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/workflows"
)

const bootSigningKey = "boot-test-signing-key"

// httpHealth asks a booted worker's /healthz over HTTP.
func httpHealth(t *testing.T, base string) (int, Health, string) {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var h Health
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("/healthz: %s %q is not JSON", resp.Status, raw)
	}
	return resp.StatusCode, h, strings.TrimSpace(string(raw))
}

// postSignedWebhook sends an Award Force webhook signed with bootSigningKey
// and returns the status.
func postSignedWebhook(t *testing.T, base, body string) int {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(bootSigningKey))
	mac.Write([]byte(body))
	req, err := http.NewRequest(http.MethodPost, base+"/webhooks/awardforce", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Signature", hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The brownout: both APIs fail, the worker must come up anyway,
// receive webhooks, say on /healthz what it waits for, and poll once the
// APIs answer; a rejected key must still stop it at once.
func TestIntegrationBootReceivesWebhooksWhileTheAPIsFail(t *testing.T) {
	t.Parallel()
	srv := devservertest.Start(t, devserver.Options{UIPort: -1, SearchAttributes: workflows.SearchAttributeKeys()})
	copts := client.Options{HostPort: srv.Address, Namespace: srv.Namespace, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))}
	c := devservertest.Dial(t, srv, copts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// A worker starts its integration's pairing lane as it starts polling:
	// the first burst of syncs does not have to create it (a sync would
	// start it with its people's signal; this one starts with none).
	t.Run("the worker starts its pairing lane", func(t *testing.T) {
		_, cfg := startSandbox(t)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		n, err := Boot(ctx, BootOptions{Config: cfg, Spec: pairing.Default(), Temporal: copts, Listener: l})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		lane := workflows.LaneWorkflowID(0)
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			d, err := c.DescribeWorkflowExecution(ctx, lane, "")
			if err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lane %s not running a minute after boot: %v", lane, err)
			}
		}
		iter := c.GetWorkflowHistory(ctx, lane, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for i := 0; i < 2 && iter.HasNext(); i++ {
			e, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			if e.GetEventType() == enums.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
				t.Fatalf("the lane was started by a sync's signal, not by the worker: %v", e)
			}
		}
	})

	t.Run("a brownout of both APIs", func(t *testing.T) {
		sb, cfg := startSandbox(t)
		u := sb.AwardForce.AddUser(afsim.User{Slug: "OutageUs", Email: "outage.user@example.org", FirstName: "Out", LastName: "Age"})
		const faults = 20
		sb.AwardForce.InjectFaults(faults, http.StatusServiceUnavailable)
		sb.Salesforce.InjectFaults(faults, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
		cfg.WebhookSigningKey = bootSigningKey
		cfg.StopTimeout = 0
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + l.Addr().String()
		var log waitLog
		type booted struct {
			node *Node
			err  error
		}
		done := make(chan booted, 1)
		go func() {
			n, err := Boot(ctx, BootOptions{
				Config: cfg, Spec: pairing.Default(), Temporal: copts, Listener: l,
				// 20 faults: about 7 s of waiting on each API.
				Preflight: PreflightOptions{InitialDelay: 100 * time.Millisecond, MaxDelay: 400 * time.Millisecond, OnWait: log.add},
			})
			done <- booted{n, err}
		}()

		// Up, healthy, and saying what it waits for.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			code, h, raw := httpHealth(t, base)
			if strings.Contains(h.Checks, "waiting for") {
				if code != http.StatusOK || h.Status != HealthStarting || h.Temporal != "ok" {
					t.Fatalf("/healthz while waiting: %d %s; want 200 and starting", code, raw)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/healthz never said the check waits: %d %s", code, raw)
			}
		}

		// A webhook is received, and its sync waits on the server for a worker.
		body := `{"event":"membership_registered","source":"ui","user":{"slug":"OutageUs","email":"outage.user@example.org"}}`
		if code := postSignedWebhook(t, base, body); code != http.StatusAccepted {
			t.Fatalf("webhook answered %d while the APIs fail, want 202", code)
		}
		id := workflows.UserSyncWorkflowID(u.Slug)
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatalf("no sync for the webhook's user: %v", err)
		}
		if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("sync %s is %s, want running", id, st)
		}
		if _, h, raw := httpHealth(t, base); h.Status != HealthStarting {
			t.Fatalf("the check passed before the webhook was checked (%s): the test proves nothing; inject more faults", raw)
		}

		// Once the faults are spent, the worker polls and the sync completes.
		var n *Node
		select {
		case b := <-done:
			if b.err != nil {
				t.Fatalf("boot: %v", b.err)
			}
			n = b.node
		case <-ctx.Done():
			t.Fatal("the worker never came up")
		}
		defer n.Close()
		if n.Worker() == nil {
			t.Fatal("booted, but not polling")
		}
		if code, _, raw := httpHealth(t, base); code != http.StatusOK || raw != `{"status":"ok","temporal":"ok","checks":"passed"}` {
			t.Fatalf("/healthz once up: %d %s", code, raw)
		}
		for _, api := range []string{APIAwardForce, APISalesforce} {
			if got := len(log.of(api)); got != faults {
				t.Errorf("%d waits for %s, want one per injected fault (%d)", got, api, faults)
			}
		}
		var res workflows.UserSyncResult
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		defer wcancel()
		if err := c.GetWorkflow(wctx, id, "").Get(wctx, &res); err != nil {
			t.Fatal(err)
		}
		if res.Outcome != workflows.OutcomeCreated {
			t.Fatalf("outcome %q, want created", res.Outcome)
		}
		if rec, ok := sb.Salesforce.Record("Contact", res.RecordID); !ok || rec["LastName"] != "Age" {
			t.Fatalf("record %s: %v", res.RecordID, rec)
		}
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		metrics, _ := io.ReadAll(resp.Body)
		counted := false
		for _, line := range strings.Split(string(metrics), "\n") {
			counted = counted || strings.HasPrefix(line, "afsync_user_syncs_total{") && strings.Contains(line, `outcome="created"`)
		}
		if resp.StatusCode != http.StatusOK || !counted || !strings.Contains(string(metrics), "\nafsync_salesforce_api_used{integration=\"default\"} ") {
			t.Fatalf("GET /metrics: %s, without the sync's outcome or the Salesforce usage:\n%s", resp.Status, metrics)
		}
	})

	t.Run("a wrong key stops it at once", func(t *testing.T) {
		sb, cfg := startSandbox(t)
		cfg.AwardForce.APIKey = "wrong-key"
		sb.AwardForce.InjectFaults(20, http.StatusServiceUnavailable)
		sb.Salesforce.InjectFaults(20, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var log waitLog
		start := time.Now()
		n, err := Boot(ctx, BootOptions{Config: cfg, Spec: pairing.Default(), Temporal: copts, Listener: l,
			Preflight: PreflightOptions{OnWait: log.add}}) // the default backoff: 1 s, doubling
		if n != nil {
			n.Close()
		}
		const want = "award force (AWARDFORCE_API_URL, AWARDFORCE_API_KEY): awardforce: HTTP 403: Invalid API key."
		if err == nil || err.Error() != want {
			t.Fatalf("got %v\nwant %s", err, want)
		}
		if w := log.of(APIAwardForce); len(w) != 0 {
			t.Fatalf("the check waited on a rejected key: %v", w)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("boot took %s to give up", took)
		}
		if _, err := http.Get("http://" + l.Addr().String() + "/healthz"); err == nil {
			t.Fatal("the HTTP endpoints still answer after a failed boot")
		}
	})

	// Two integrations whose login URLs differ but reach one org would run
	// two lanes on it: refused at start, and refused by a reload, which
	// leaves what is served as it was.
	t.Run("two integrations reaching one org", func(t *testing.T) {
		_, cfg := startSandbox(t)
		cfg.StopTimeout = 0
		sameOrg := cfg
		sameOrg.Salesforce.LoginURL = strings.Replace(cfg.Salesforce.LoginURL, "127.0.0.1", "localhost", 1)
		if sameOrg.Salesforce.LoginURL == cfg.Salesforce.LoginURL {
			t.Fatalf("login URL %s: the test needs another name for it", cfg.Salesforce.LoginURL)
		}
		_, otherOrg := startSandbox(t)
		spec := pairing.Default()
		def := Served{Names: workflows.DefaultNames, Config: cfg, Spec: spec}
		grants := Served{Names: workflows.NamesOf("grants"), Config: sameOrg, Spec: spec}
		n, err := Boot(ctx, BootOptions{Config: cfg, Integrations: []Served{def, grants}, Temporal: copts})
		if n != nil {
			n.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "integrations default and grants both reach Salesforce org 00D") {
			t.Fatalf("two integrations on one org: %v", err)
		}

		n, err = Boot(ctx, BootOptions{Config: cfg, Integrations: []Served{def}, Temporal: copts})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if _, err := n.Reload(ctx, []Served{def, grants}); err == nil || !strings.Contains(err.Error(), "not reloaded: integrations default and grants both reach Salesforce org 00D") {
			t.Fatalf("a reload adding an integration on the same org: %v", err)
		}
		if _, err := n.Reload(ctx, []Served{def, {Names: workflows.NamesOf("grants"), Config: otherOrg, Spec: spec}}); err != nil {
			t.Fatalf("a reload adding an integration on an org of its own: %v", err)
		}
		// An integration moved to another org in place keeps pairings of
		// the first: refused.
		if _, err := n.Reload(ctx, []Served{{Names: workflows.DefaultNames, Config: otherOrg, Spec: spec}}); err == nil ||
			!strings.Contains(err.Error(), "not reloaded: it reaches Salesforce org") {
			t.Fatalf("a reload moving the default integration to another org: %v", err)
		}
	})
}

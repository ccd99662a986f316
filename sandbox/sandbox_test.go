package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
)

func TestFlags(t *testing.T) {
	for _, prefix := range []string{"", "sandbox-"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			var f Flags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			f.Register(fs, prefix, "")
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			o := f.Options()
			if o.AwardForceAddr != "127.0.0.1:8081" || o.SalesforceAddr != "127.0.0.1:8082" || o.Seed.Users != 250 || o.AwardForceRateLimit != 60 || o.SalesforceDailyLimit != 100000 {
				t.Errorf("defaults changed: %+v", o)
			}
			if o.SalesforceChaos != (sfsim.Chaos{Seed: 1}) || o.AwardForceChaos != (afsim.Chaos{Seed: 1}) || o.SalesforceSessionTTL != 0 {
				t.Errorf("chaos must be off by default: %+v", o)
			}

			f = Flags{}
			fs = pflag.NewFlagSet("test", pflag.ContinueOnError)
			f.Register(fs, prefix, "")
			if err := fs.Parse([]string{"--" + prefix + "chaos-transient=0.2", "--" + prefix + "chaos-lost-responses=0.05", "--" + prefix + "session-ttl=5m", "--" + prefix + "seed=9"}); err != nil {
				t.Fatal(err)
			}
			o = f.Options()
			if want := (sfsim.Chaos{Transient: 0.2, LostResponse: 0.05, Seed: 9}); o.SalesforceChaos != want {
				t.Errorf("Salesforce chaos %+v, want %+v", o.SalesforceChaos, want)
			}
			if want := (afsim.Chaos{Unavailable: 0.2, Seed: 9}); o.AwardForceChaos != want {
				t.Errorf("Award Force chaos %+v, want %+v", o.AwardForceChaos, want)
			}
			if o.SalesforceSessionTTL != 5*time.Minute {
				t.Errorf("session TTL %v", o.SalesforceSessionTTL)
			}
		})
	}
}

func start(t *testing.T, o Options) *Sandbox {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func token(t *testing.T, s *Sandbox) (int, string) {
	t.Helper()
	resp, err := http.PostForm(s.SalesforceURL+"/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {ClientID}, "client_secret": {ClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, string(b)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, tok.AccessToken
}

func sfDo(t *testing.T, s *Sandbox, tok, method, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.SalesforceURL+"/services/data/v62.0"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestStartPassesChaos(t *testing.T) {
	s := start(t, Options{SalesforceChaos: sfsim.Chaos{Transient: 1}, AwardForceChaos: afsim.Chaos{Unavailable: 1}})
	if status, body := token(t, s); status != http.StatusServiceUnavailable || body != "Service Unavailable" {
		t.Errorf("Salesforce token: %d %q", status, body)
	}
	req, _ := http.NewRequest("GET", s.AwardForceURL+"/user", nil)
	req.Header.Set("Accept", afsim.AcceptHeader)
	req.Header.Set("x-api-key", APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Award Force: %d", resp.StatusCode)
	}
}

func TestStartPassesSalesforceTimes(t *testing.T) {
	s := start(t, Options{SalesforceSessionTTL: 50 * time.Millisecond})
	_, tok := token(t, s)
	if status := sfDo(t, s, tok, "GET", "/limits", ""); status != http.StatusOK {
		t.Fatalf("fresh session: %d", status)
	}
	time.Sleep(60 * time.Millisecond)
	if status := sfDo(t, s, tok, "GET", "/limits", ""); status != http.StatusUnauthorized {
		t.Errorf("expired session: %d", status)
	}

	// A WriteTime longer than the request horizon stops the upsert.
	s = start(t, Options{SalesforceWriteTime: 60 * time.Millisecond, SalesforceMaxRequestTime: 30 * time.Millisecond})
	_, tok = token(t, s)
	if status := sfDo(t, s, tok, "PATCH", "/sobjects/Contact/AwardForce_Slug__c/SlowSlug", `{"LastName":"x"}`); status != http.StatusInternalServerError {
		t.Errorf("upsert past the horizon: %d", status)
	}
}

func TestStartRefusesBadChaos(t *testing.T) {
	for name, o := range map[string]Options{
		"Salesforce share":  {SalesforceChaos: sfsim.Chaos{Transient: 1.5}},
		"Salesforce NaN":    {SalesforceChaos: sfsim.Chaos{LostResponse: math.NaN()}},
		"Award Force share": {AwardForceChaos: afsim.Chaos{Unavailable: -1}},
		"negative delay":    {SalesforceChaos: sfsim.Chaos{LateCommitDelay: -time.Second}},
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Start(o); err == nil {
				s.Close()
				t.Error("started")
			}
		})
	}
}

func TestABurstRegistersAndEditsOverTheGivenTime(t *testing.T) {
	sink := make(chan string, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Signature") != afsim.Sign(b, WebhookSigningKey) {
			t.Errorf("unsigned delivery")
		}
		var p struct{ Event string }
		_ = json.Unmarshal(b, &p)
		sink <- p.Event
		w.WriteHeader(http.StatusAccepted)
	}))
	defer hook.Close()
	s := start(t, Options{Seed: SeedOptions{Users: 20, Seed: 1}, WebhookURL: hook.URL})
	before := len(s.AwardForce.Users())
	begin := time.Now()
	res := s.Burst(context.Background(), Burst{Registrations: 6, Edits: 4, Over: 300 * time.Millisecond, Seed: 9})
	if took := time.Since(begin); took < 250*time.Millisecond {
		t.Errorf("a burst over 300 ms took %v", took)
	}
	if len(res.Registered) != 6 || len(res.Edited) != 4 || len(s.AwardForce.Users()) != before+6 {
		t.Fatalf("%+v, %d users (were %d)", res, len(s.AwardForce.Users()), before)
	}
	events := map[string]int{}
	for range 10 {
		select {
		case e := <-sink:
			events[e]++
		case <-time.After(5 * time.Second):
			t.Fatalf("deliveries so far: %v", events)
		}
	}
	if events[afsim.EventRegistered] != 6 || events[afsim.EventUpdated] != 4 {
		t.Errorf("delivered %v", events)
	}
}

func TestTheBurstRouteNeedsAKeyAndStartsABurst(t *testing.T) {
	s := start(t, Options{Seed: SeedOptions{Users: 5, Seed: 1}})
	post := func(key, body string) int {
		req, _ := http.NewRequest(http.MethodPost, s.AwardForceURL+"/_sandbox/burst", strings.NewReader(body))
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong", `{"registrations":3}`); code != http.StatusUnauthorized {
		t.Fatalf("without the key: %d", code)
	}
	if code := post(APIKey, `{"registrations":3,"over":"soon"}`); code != http.StatusBadRequest {
		t.Fatalf("a bad duration: %d", code)
	}
	if code := post(APIKey, `{"registrations":3,"over":"10ms"}`); code != http.StatusAccepted {
		t.Fatalf("a burst: %d", code)
	}
	for deadline := time.Now().Add(5 * time.Second); len(s.AwardForce.Users()) < 8; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d users after the burst, want 8", len(s.AwardForce.Users()))
		}
	}
}

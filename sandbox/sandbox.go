// Package sandbox runs faithful local simulators of the Award Force and
// Salesforce APIs, seeded with realistic people: the embedded default for
// demos (`worker --dev`, `starter sandbox`), the ground for tests and fault
// drills. For drills, Options.SalesforceChaos and AwardForceChaos inject random
// faults (transient errors, record locks, lost responses, late commits,
// maintenance windows; see sfsim and afsim), and the simulators' Inject*
// methods deterministic ones. It depends on nothing else of afsync's.
package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// Sandbox credentials. They open only the local simulators and are not
// secrets; real credentials come from the environment.
const (
	APIKey       = "sandbox-read-write-key"
	ClientID     = "sandbox-client-id"
	ClientSecret = "sandbox-client-secret"
	// WebhookSigningKey signs the user events the Award Force simulator
	// delivers (Options.WebhookURL).
	WebhookSigningKey = "sandbox-webhook-signing-key"
)

// Options configures the simulators and their seed.
type Options struct {
	// AwardForceAddr and SalesforceAddr are listen addresses; ":0" ports pick free ones.
	AwardForceAddr, SalesforceAddr string
	// Seed describes the people to create; zero Users seeds nobody.
	Seed SeedOptions
	// AwardForceRateLimit is requests per minute per key; 0 disables it.
	AwardForceRateLimit int
	// Latency is added to every request of both simulators.
	Latency time.Duration
	// SalesforceDailyLimit is the org's API allocation (default 100,000).
	SalesforceDailyLimit int
	// SalesforceSessionTTL is how long a Salesforce access token lives (default 2h).
	SalesforceSessionTTL time.Duration
	// SalesforceMaxRequestTime is the Salesforce commit horizon: no write commits
	// later than this after it arrived (default 10 minutes; see sfsim.Options).
	SalesforceMaxRequestTime time.Duration
	// SalesforceWriteTime is how long an upsert that matched nothing takes to insert,
	// the window in which two concurrent upserts of one value race (default 0: none).
	SalesforceWriteTime time.Duration
	// SalesforceChaos and AwardForceChaos inject random faults for drills; the zero
	// values inject none. Start refuses shares outside [0, 1].
	SalesforceChaos sfsim.Chaos
	// SalesforceDuplicateRules are the org's duplicate rules (Alert or
	// Block, matching Contacts or Leads by email); none by default.
	SalesforceDuplicateRules []sfsim.DuplicateRule
	AwardForceChaos          afsim.Chaos
	// WebhookURL, when set, receives the Award Force simulator's user events
	// (registrations, profile edits), signed with WebhookSigningKey.
	WebhookURL string
	// WebhookSigningKey, when set, is the account's own signing key instead
	// of the constant WebhookSigningKey (several accounts in one test).
	WebhookSigningKey string
}

// Sandbox is a pair of running simulators.
type Sandbox struct {
	AwardForce *afsim.Server
	Salesforce *sfsim.Server
	// AwardForceURL and SalesforceURL are the simulators' base URLs.
	AwardForceURL, SalesforceURL string
	// Summary describes what the seed created.
	Summary SeedSummary

	signingKey  string
	servers     []*http.Server
	registrants atomic.Int64 // burst registrants so far: numbers their unique mobiles
}

// Start seeds the simulators and serves them until Close.
func Start(opts Options) (*Sandbox, error) {
	if opts.AwardForceAddr == "" {
		opts.AwardForceAddr = "127.0.0.1:0"
	}
	if opts.SalesforceAddr == "" {
		opts.SalesforceAddr = "127.0.0.1:0"
	}
	if err := checkChaos(opts.SalesforceChaos, opts.AwardForceChaos); err != nil {
		return nil, err
	}
	if opts.WebhookSigningKey == "" {
		opts.WebhookSigningKey = WebhookSigningKey
	}
	s := &Sandbox{
		signingKey: opts.WebhookSigningKey,
		AwardForce: afsim.New(afsim.Options{
			Keys:      map[string]bool{APIKey: true},
			RateLimit: opts.AwardForceRateLimit,
			Latency:   opts.Latency,
			Webhook:   webhookOf(opts.WebhookURL, opts.WebhookSigningKey),
		}),
		Salesforce: sfsim.New(sfsim.Options{
			ClientID: ClientID, ClientSecret: ClientSecret,
			Latency:        opts.Latency,
			DailyLimit:     opts.SalesforceDailyLimit,
			SessionTTL:     opts.SalesforceSessionTTL,
			MaxRequestTime: opts.SalesforceMaxRequestTime,
			WriteTime:      opts.SalesforceWriteTime,
			DuplicateRules: opts.SalesforceDuplicateRules,
		}),
	}
	// Seeding goes around the API, so chaos does not touch it.
	s.Summary = Seed(s.AwardForce, s.Salesforce, opts.Seed)
	s.Salesforce.SetChaos(opts.SalesforceChaos)
	s.AwardForce.SetChaos(opts.AwardForceChaos)
	var err error
	if s.AwardForceURL, err = s.serve(opts.AwardForceAddr, s.awardForceHandler()); err != nil {
		return nil, fmt.Errorf("award force simulator: %w", err)
	}
	if s.SalesforceURL, err = s.serve(opts.SalesforceAddr, s.Salesforce); err != nil {
		s.Close()
		return nil, fmt.Errorf("salesforce simulator: %w", err)
	}
	return s, nil
}

// checkChaos refuses shares that SetChaos would panic on: they may come from flags.
func checkChaos(sf sfsim.Chaos, af afsim.Chaos) error {
	for _, sh := range []struct {
		name string
		p    float64
	}{
		{"Salesforce transient", sf.Transient},
		{"Salesforce record lock", sf.RecordLock},
		{"Salesforce lost response", sf.LostResponse},
		{"Salesforce late commit", sf.LateCommit},
		{"Award Force unavailable", af.Unavailable},
	} {
		if !(sh.p >= 0 && sh.p <= 1) { // NaN too
			return fmt.Errorf("chaos: %s share %v is not between 0 and 1", sh.name, sh.p)
		}
	}
	if sf.LateCommitDelay < 0 {
		return fmt.Errorf("chaos: Salesforce late commit delay %v is negative", sf.LateCommitDelay)
	}
	return nil
}

func (s *Sandbox) serve(addr string, h http.Handler) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(l) }() // returns ErrServerClosed on Close
	return "http://" + l.Addr().String(), nil
}

// Close stops both simulators.
func (s *Sandbox) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
}

// Env is the environment that points afsync at this sandbox.
func (s *Sandbox) Env() map[string]string {
	return map[string]string{
		config.EnvAwardForceAPIURL:       s.AwardForceURL,
		config.EnvAwardForceAPIKey:       APIKey,
		config.EnvSalesforceLoginURL:     s.SalesforceURL,
		config.EnvSalesforceClientID:     ClientID,
		config.EnvSalesforceClientSecret: ClientSecret,
		// The worker's webhook receiver checks what the simulator signs.
		config.EnvAwardForceWebhookSigningKey: s.signingKey,
	}
}

// webhookOf is the simulator's webhook for url ("" sets none).
func webhookOf(url, key string) afsim.Webhook {
	if url == "" {
		return afsim.Webhook{}
	}
	return afsim.Webhook{URL: url, SigningKey: key}
}

// SetWebhookURL points the Award Force simulator's user events at url (""
// stops them), signed with the account's signing key.
func (s *Sandbox) SetWebhookURL(url string) {
	s.AwardForce.SetWebhook(webhookOf(url, s.signingKey))
}

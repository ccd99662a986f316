// Package sandbox runs faithful local simulators of the Award Force and
// Salesforce APIs, seeded with realistic people: the embedded default for
// demos (`worker --dev`, `starter sandbox`), the ground for tests and fault
// drills. It depends on nothing else of afsync's.
package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// Sandbox credentials. They open only the local simulators and are not
// secrets; real credentials come from the environment.
const (
	APIKey       = "sandbox-read-write-key"
	ClientID     = "sandbox-client-id"
	ClientSecret = "sandbox-client-secret"
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
}

// Sandbox is a pair of running simulators.
type Sandbox struct {
	AwardForce *afsim.Server
	Salesforce *sfsim.Server
	// AwardForceURL and SalesforceURL are the simulators' base URLs.
	AwardForceURL, SalesforceURL string
	// Summary describes what the seed created.
	Summary SeedSummary

	servers []*http.Server
}

// Start seeds the simulators and serves them until Close.
func Start(opts Options) (*Sandbox, error) {
	if opts.AwardForceAddr == "" {
		opts.AwardForceAddr = "127.0.0.1:0"
	}
	if opts.SalesforceAddr == "" {
		opts.SalesforceAddr = "127.0.0.1:0"
	}
	s := &Sandbox{
		AwardForce: afsim.New(afsim.Options{
			Keys:      map[string]bool{APIKey: true},
			RateLimit: opts.AwardForceRateLimit,
			Latency:   opts.Latency,
		}),
		Salesforce: sfsim.New(sfsim.Options{
			ClientID: ClientID, ClientSecret: ClientSecret,
			Latency:    opts.Latency,
			DailyLimit: opts.SalesforceDailyLimit,
		}),
	}
	s.Summary = Seed(s.AwardForce, s.Salesforce, opts.Seed)
	var err error
	if s.AwardForceURL, err = s.serve(opts.AwardForceAddr, s.AwardForce); err != nil {
		return nil, fmt.Errorf("award force simulator: %w", err)
	}
	if s.SalesforceURL, err = s.serve(opts.SalesforceAddr, s.Salesforce); err != nil {
		s.Close()
		return nil, fmt.Errorf("salesforce simulator: %w", err)
	}
	return s, nil
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
		"AWARDFORCE_API_URL":       s.AwardForceURL,
		"AWARDFORCE_API_KEY":       APIKey,
		"SALESFORCE_LOGIN_URL":     s.SalesforceURL,
		"SALESFORCE_CLIENT_ID":     ClientID,
		"SALESFORCE_CLIENT_SECRET": ClientSecret,
	}
}

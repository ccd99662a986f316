package sandbox

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// Flags are the sandbox's command-line settings, shared by `worker --dev`
// (with the prefix "sandbox-") and `starter sandbox` (without one).
type Flags struct {
	AwardForcePort, SalesforcePort int
	Users                          int
	Seed                           uint64
	Latency                        time.Duration
	AwardForceLimit                int
	SalesforceDailyLimit           int
	// ChaosTransient is the share of requests answered by a transient error: on
	// Salesforce 503, 500 or 403 ConcurrentRequests (the token endpoint 503), on Award
	// Force 503 maintenance.
	ChaosTransient float64
	// ChaosLostResponses is the share of Salesforce writes that commit and then drop
	// the connection.
	ChaosLostResponses float64
	// SessionTTL is how long a Salesforce access token lives; 0 means the platform's
	// default, 2 hours.
	SessionTTL time.Duration
}

// Register adds the flags to fs, each name prefixed with prefix.
func (f *Flags) Register(fs *pflag.FlagSet, prefix, help string) {
	fs.IntVar(&f.AwardForcePort, prefix+"awardforce-port", 8081, help+"Award Force simulator port")
	fs.IntVar(&f.SalesforcePort, prefix+"salesforce-port", 8082, help+"Salesforce simulator port")
	fs.IntVar(&f.Users, prefix+"users", 250, help+"Award Force users to seed")
	fs.Uint64Var(&f.Seed, prefix+"seed", 1, help+"seed of the generated data (equal seeds, equal data)")
	fs.DurationVar(&f.Latency, prefix+"latency", 0, help+"latency added to every simulated request")
	fs.IntVar(&f.AwardForceLimit, prefix+"awardforce-limit", 60, help+"Award Force requests per minute per key, as Award Force's own (0 = none)")
	fs.IntVar(&f.SalesforceDailyLimit, prefix+"salesforce-daily-limit", 100000, help+"Salesforce daily API allocation")
	fs.Float64Var(&f.ChaosTransient, prefix+"chaos-transient", 0, help+"share (0-1) of requests answered by a transient error: Salesforce 503/500/403 ConcurrentRequests, Award Force 503 maintenance")
	fs.Float64Var(&f.ChaosLostResponses, prefix+"chaos-lost-responses", 0, help+"share (0-1) of Salesforce writes that commit, then drop the connection")
	fs.DurationVar(&f.SessionTTL, prefix+"session-ttl", 0, help+"Salesforce session lifetime (0 = 2h, the platform default)")
}

// Options turns the flags into Start's options, listening on 127.0.0.1.
func (f *Flags) Options() Options {
	return Options{
		AwardForceAddr:       fmt.Sprintf("127.0.0.1:%d", f.AwardForcePort),
		SalesforceAddr:       fmt.Sprintf("127.0.0.1:%d", f.SalesforcePort),
		Seed:                 SeedOptions{Users: f.Users, Seed: f.Seed},
		AwardForceRateLimit:  f.AwardForceLimit,
		Latency:              f.Latency,
		SalesforceDailyLimit: f.SalesforceDailyLimit,
		SalesforceSessionTTL: f.SessionTTL,
		// The data seed also seeds the chaos, so a drill can be replayed.
		SalesforceChaos: sfsim.Chaos{Transient: f.ChaosTransient, LostResponse: f.ChaosLostResponses, Seed: f.Seed},
		AwardForceChaos: afsim.Chaos{Unavailable: f.ChaosTransient, Seed: f.Seed},
	}
}

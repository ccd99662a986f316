package sandbox

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
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
	}
}

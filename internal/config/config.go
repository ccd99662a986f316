// Package config loads afsync's settings once, from the environment, for
// both mains. Flags override them; secrets come from the environment only,
// so that they never show in a process list or in --help.
//
// Environment variables:
//
//	TEMPORAL_ADDRESS             Temporal frontend host:port (default localhost:7233)
//	TEMPORAL_NAMESPACE           Temporal namespace (default "default")
//	TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE
//	                             the rest of the SDK's standard client settings
//	AWARDFORCE_API_URL           Award Force API base URL (default https://api.cr4ce.com;
//	                             regional hosts such as https://api.eu.cr4ce.com); https:// only, see below
//	AWARDFORCE_API_KEY           Award Force API key (Read / Write)
//	AWARDFORCE_RATE_LIMIT        Award Force requests per minute for the whole fleet (default 60; 0 = no limit)
//	SALESFORCE_LOGIN_URL         the org's My Domain or login URL (token endpoint base); https:// only, see below
//	SALESFORCE_CLIENT_ID         connected app consumer key
//	SALESFORCE_CLIENT_SECRET     consumer secret (client-credentials flow)
//	SALESFORCE_USERNAME          username (JWT bearer flow, with SALESFORCE_PRIVATE_KEY_FILE)
//	SALESFORCE_PRIVATE_KEY_FILE  PEM RSA key whose certificate the connected app holds (JWT bearer flow)
//	SALESFORCE_AUDIENCE          JWT audience (default https://login.salesforce.com; https://test.salesforce.com for sandboxes)
//	SALESFORCE_API_VERSION       REST API version (default v62.0)
//	SALESFORCE_COMMIT_HORIZON    how long Salesforce may go on with a request whose client gave up (default 10m):
//	                             a write with no answer is looked at again only after it
//	AFSYNC_CONFIG                path of the pairing spec (YAML); the built-in default when unset
//	AFSYNC_INTEGRATIONS          path of the registry of integrations (YAML, see registry.go); when set,
//	                             the per-integration variables above come from it
//	AFSYNC_CODEC_KEY             32 bytes, base64: encrypts workflow payloads (PII) with AES-256-GCM
//	AFSYNC_CODEC_KEY_ID          the key's id (default "default"); AFSYNC_CODEC_OLD_KEYS="id:base64,…" decrypts older payloads
//	AFSYNC_HTTP_ADDR             worker: address of its HTTP endpoints (health, metrics, webhooks, codec server); off when unset
//	AWARDFORCE_WEBHOOK_SIGNING_KEY  worker: the Award Force webhook's signing key; enables POST /webhooks/awardforce
//	AFSYNC_CODEC_CORS_ORIGINS    worker: Temporal UI origins allowed to call the codec server (default http://localhost:8233,http://127.0.0.1:8233)
//	AFSYNC_CODEC_ADDR            worker: where the codec server for the Temporal UI listens (its own address; off when unset)
//	AFSYNC_CODEC_TOKEN           worker: bearer token the codec server requires (required beyond loopback)
//	AFSYNC_ALLOW_INSECURE_HTTP   1 allows http:// API URLs for any host (default: refused)
//
// AWARDFORCE_API_URL and SALESFORCE_LOGIN_URL must be https:// URLs: an
// http:// one is a configuration error, since it would carry the API key,
// the Salesforce secret or token and people's personal data in clear text.
// Loopback hosts (localhost, 127.0.0.1, ::1), where the sandbox and the
// tests run their simulators, are exempt; AFSYNC_ALLOW_INSECURE_HTTP=1
// exempts every host (for a test API on a trusted network).
//
// The names are constants (EnvAwardForceAPIURL, …): other packages use those.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
)

// DefaultAwardForceRate is Award Force's documented limit: 60 requests per
// API key per minute.
const DefaultAwardForceRate = 60

// Config is everything afsync needs besides the Temporal connection.
type Config struct {
	AwardForce awardforce.Config
	// AwardForceRatePerMinute caps Award Force activities for the whole
	// fleet, through the task queue's rate limit. Zero means no cap.
	AwardForceRatePerMinute float64
	Salesforce              salesforce.Config
	// SpecPath is the pairing spec file; empty means pairing.Default().
	SpecPath string
	// HTTPAddr is where the worker serves /healthz, webhooks and the codec
	// server; empty turns them off.
	HTTPAddr string
	// WebhookSigningKey enables the Award Force webhook receiver.
	WebhookSigningKey string
	// CodecCORSOrigins are the UI origins allowed to call the codec server.
	CodecCORSOrigins []string
	// CodecToken, when set, is required by the codec server as a bearer token.
	CodecToken string
	// CodecAddr is where the worker serves the payload codec (/codec/) for
	// the Temporal UI, on its own listener, apart from the webhook; empty:
	// not served. Beyond loopback it requires CodecToken.
	CodecAddr string
	// StopTimeout is how long a stopping worker lets running activities
	// finish (DefaultStopTimeout; the integration tests use 0 to kill it).
	StopTimeout time.Duration
	// CommitHorizon is how long Salesforce may go on with a request after
	// its client gave up: a person whose write got no answer waits this
	// long before the pairing lane looks again (DefaultCommitHorizon).
	CommitHorizon time.Duration
	// QuotaPause is how long the pairing lanes pause once the org's daily
	// allocation is spent (activities.QuotaRetryDelay when zero; the
	// integration tests shorten it).
	QuotaPause time.Duration
	// LaneHold and LaneQueueSegment bound how many waiting people a lane
	// holds itself and one of its queue workflows holds, LaneBatchesPerRun
	// how many batches a lane runs before it continues as new (the lanes'
	// defaults when zero; the integration tests make them small).
	LaneHold, LaneQueueSegment, LaneBatchesPerRun int
	// LaneGather and LaneMaxGather are how long a pairing lane gathers
	// people into a batch that is not full: until a pause of LaneGather
	// between arrivals, at most LaneMaxGather after the first (the lanes'
	// defaults when zero: workflows.DefaultGather, DefaultMaxGather).
	LaneGather, LaneMaxGather time.Duration
}

// Bounds of the lanes' gathering settings: a wait under minGather is no
// gathering, and people should not wait for their batch longer than
// maxGather.
const (
	minGather = 10 * time.Millisecond
	maxGather = 5 * time.Minute
)

// DefaultCommitHorizon is how long Salesforce may still commit a request
// whose client gave up: the org ends API requests that run longer
// (REQUEST_RUNNING_TOO_LONG).
const DefaultCommitHorizon = 10 * time.Minute

// DefaultStopTimeout is shorter than the usual 30 s a container platform
// waits between SIGTERM and SIGKILL.
const DefaultStopTimeout = 20 * time.Second

// Getenv reads one environment variable; os.Getenv in production, a map in tests.
type Getenv func(string) string

// FromEnv reads the configuration from the environment. It fails, naming the
// variable and the fix, only on values that are malformed; missing
// credentials are reported by the clients when they are built.
func FromEnv(getenv Getenv) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := Config{
		AwardForce: awardforce.Config{
			BaseURL: getenv(EnvAwardForceAPIURL),
			APIKey:  getenv(EnvAwardForceAPIKey),
		},
		AwardForceRatePerMinute: DefaultAwardForceRate,
		Salesforce: salesforce.Config{
			LoginURL:     getenv(EnvSalesforceLoginURL),
			ClientID:     getenv(EnvSalesforceClientID),
			ClientSecret: getenv(EnvSalesforceClientSecret),
			Username:     getenv(EnvSalesforceUsername),
			Audience:     getenv(EnvSalesforceAudience),
			APIVersion:   getenv(EnvSalesforceAPIVersion),
		},
		SpecPath:          getenv(EnvConfig),
		HTTPAddr:          getenv(EnvHTTPAddr),
		WebhookSigningKey: getenv(EnvAwardForceWebhookSigningKey),
		CodecCORSOrigins:  []string{"http://localhost:8233", "http://127.0.0.1:8233"},
		CodecToken:        getenv(EnvCodecToken),
		CodecAddr:         strings.TrimSpace(getenv(EnvCodecAddr)),
		StopTimeout:       DefaultStopTimeout,
		CommitHorizon:     DefaultCommitHorizon,
	}
	if v := strings.TrimSpace(getenv(EnvSalesforceCommitHorizon)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s=%q: want a duration such as 10m (how long Salesforce may still commit a request whose client gave up)", EnvSalesforceCommitHorizon, v)
		}
		c.CommitHorizon = d
	}
	if err := c.readGathering(getenv); err != nil {
		return Config{}, err
	}
	if v := strings.TrimSpace(getenv(EnvCodecCORSOrigins)); v != "" {
		c.CodecCORSOrigins = strings.Split(v, ",")
	}
	if v := strings.TrimSpace(getenv(EnvAwardForceRateLimit)); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return Config{}, fmt.Errorf("%s=%q: want requests per minute as a number ≥ 0 (60 is Award Force's limit; 0 disables the cap)", EnvAwardForceRateLimit, v)
		}
		c.AwardForceRatePerMinute = f
	}
	if path := getenv(EnvSalesforcePrivateKeyFile); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w (point it at the PEM RSA key of the connected app's certificate)", EnvSalesforcePrivateKeyFile, err)
		}
		c.Salesforce.PrivateKeyPEM = pem
	}
	allowInsecure := false
	if v := strings.TrimSpace(getenv(EnvAllowInsecureHTTP)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q: want 1 to allow http:// API URLs, or 0 (unset) to refuse them", EnvAllowInsecureHTTP, v)
		}
		allowInsecure = b
	}
	if err := checkCodecAddr(c.CodecAddr, c.CodecToken); err != nil {
		return Config{}, err
	}
	if err := checkAPIURL(EnvAwardForceAPIURL, c.AwardForce.BaseURL, awardforce.DefaultBaseURL, allowInsecure); err != nil {
		return Config{}, err
	}
	if err := checkAPIURL(EnvSalesforceLoginURL, c.Salesforce.LoginURL, "https://acme.my.salesforce.com", allowInsecure); err != nil {
		return Config{}, err
	}
	return c, nil
}

// readGathering reads the lanes' gathering settings (AFSYNC_LANE_GATHER,
// AFSYNC_LANE_MAX_GATHER): durations within [minGather, maxGather], the
// first no longer than the second.
func (c *Config) readGathering(getenv Getenv) error {
	for _, s := range []struct {
		name, example, what string
		into                *time.Duration
	}{
		{EnvLaneGather, "250ms", "how long a lane waits after the latest arrival before it writes a batch that is not full", &c.LaneGather},
		{EnvLaneMaxGather, "10s", "the longest a lane waits from the first arrival, during a steady stream", &c.LaneMaxGather},
	} {
		v := strings.TrimSpace(getenv(s.name))
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < minGather || d > maxGather {
			return fmt.Errorf("%s=%q: want a duration from %s to %s, such as %s (%s)", s.name, v, minGather, maxGather, s.example, s.what)
		}
		*s.into = d
	}
	if c.LaneGather > 0 && c.LaneMaxGather > 0 && c.LaneMaxGather < c.LaneGather {
		return fmt.Errorf("%s=%s is shorter than %s=%s: the longest wait cannot be shorter than the pause that ends one; raise %s or lower %s",
			EnvLaneMaxGather, c.LaneMaxGather, EnvLaneGather, c.LaneGather, EnvLaneMaxGather, EnvLaneGather)
	}
	return nil
}

// checkAPIURL checks the API URL that the variable name holds (empty: the
// default): it must be an absolute http(s) URL, and https:// unless its
// host is a loopback one (the sandbox's and the tests' simulators) or
// allowInsecure: plain http would carry the API credentials and people's
// personal data in clear text.
func checkAPIURL(name, raw, example string, allowInsecure bool) error {
	v := strings.TrimSpace(raw)
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%s=%q: want an absolute https:// URL such as %s", name, raw, example)
	}
	if u.Scheme == "http" && !allowInsecure && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%s=%q: http:// would send credentials and personal data unencrypted: use https:// (e.g. %s), "+
			"or set %s=1 to allow http:// on purpose (a test API on a trusted network only)", name, raw, example, EnvAllowInsecureHTTP)
	}
	return nil
}

// checkCodecAddr refuses a codec server listening beyond loopback without a
// token: it decrypts workflow payloads (people's emails and names) for
// whoever calls it.
func checkCodecAddr(addr, token string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s=%q: want host:port, e.g. 127.0.0.1:8235 (%v)", EnvCodecAddr, addr, err)
	}
	if !isLoopback(host) && strings.TrimSpace(token) == "" {
		return fmt.Errorf("%s=%q listens beyond loopback: the codec server decrypts payloads (people's emails and names) for whoever calls it, "+
			"so set %s to a bearer token (openssl rand -hex 32) or listen on 127.0.0.1", EnvCodecAddr, addr, EnvCodecToken)
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback address
// (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Spec loads the pairing spec named by SpecPath, or the default.
func (c Config) Spec() (*pairing.Spec, error) {
	spec, err := pairing.Load(c.SpecPath)
	if err != nil {
		if c.SpecPath != "" {
			return nil, fmt.Errorf("pairing spec %s (%s or --config): %w", c.SpecPath, EnvConfig, err)
		}
		return nil, err
	}
	return spec, nil
}

package config

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/internal/codec"
	"github.com/afsync/afsync/workflows"
)

// Temporal holds the flags that override the SDK's standard settings
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
// TEMPORAL_PROFILE and the temporal.toml config file).
type Temporal struct {
	Address   string
	Namespace string
}

// MemoSizeWarning is the memo size above which the SDK logs a warning:
// twice the ledger pages' search attribute value, which their memos (the
// same pairings, as a map) stay within.
const MemoSizeWarning = 2 * workflows.LedgerValueHope

// ClientOptions loads the SDK's standard settings, applies the overrides,
// hands the SDK our logger and, when AFSYNC_CODEC_KEY is set, encrypts every
// payload (user emails and names are PII) with the codec.
func (t Temporal) ClientOptions(logger *slog.Logger) (client.Options, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal settings (TEMPORAL_* variables or temporal.toml): %w", err)
	}
	if t.Address != "" {
		opts.HostPort = t.Address
	}
	if t.Namespace != "" {
		opts.Namespace = t.Namespace
	}
	if opts.HostPort == "" {
		opts.HostPort = client.DefaultHostPort
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	if opts.ConnectionOptions.GrpcCompression, err = Compression(os.Getenv(EnvTemporalCompression), opts.HostPort); err != nil {
		return client.Options{}, err
	}
	if logger != nil {
		opts.Logger = tlog.NewStructuredLogger(logger)
	}
	if opts.PayloadLimits.MemoSizeWarning == 0 {
		// An identity-ledger page's memo holds its pairings: up to about
		// 8 KB on a server that takes 8 KB search attribute values
		// (workflows/ledger_fit.go); the SDK warns from 2 KB.
		opts.PayloadLimits.MemoSizeWarning = MemoSizeWarning
	}
	c, err := codec.FromEnv(os.Getenv)
	if err != nil {
		return client.Options{}, err
	}
	if c != nil {
		opts.DataConverter = c.DataConverter()
		// Error messages can quote values too (Salesforce's
		// INVALID_EMAIL_ADDRESS names the address): encrypt them as well.
		opts.FailureConverter = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
			DataConverter: opts.DataConverter, EncodeCommonAttributes: true,
		})
	}
	return opts, nil
}

// Compression is the gRPC compression of requests to the Temporal frontend
// at hostPort, as setting (AFSYNC_TEMPORAL_COMPRESSION) asks: "gzip",
// "none", or "auto" (also when empty): none when the frontend is on this
// machine (a loopback address: the dev server, a sidecar), where gzip only
// spends both sides' CPU (measured: docs/benchmarks.md, "Requests to
// Temporal uncompressed on loopback"), and gzip beyond it, where payloads
// (JSON profiles and audits) cross a network. The SDK's default is gzip
// everywhere.
func Compression(setting, hostPort string) (client.GrpcCompression, error) {
	switch strings.ToLower(strings.TrimSpace(setting)) {
	case "", "auto":
		host, _, err := net.SplitHostPort(hostPort)
		if err != nil {
			host = hostPort
		}
		if isLoopback(host) {
			return &client.GrpcCompressionNone{}, nil
		}
		return &client.GrpcCompressionGzip{}, nil
	case "gzip":
		return &client.GrpcCompressionGzip{}, nil
	case "none":
		return &client.GrpcCompressionNone{}, nil
	}
	return nil, fmt.Errorf("%s=%q: want auto (none to a loopback address, gzip beyond), gzip or none", EnvTemporalCompression, setting)
}

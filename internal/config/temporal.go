package config

import (
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"
)

// Temporal holds the flags that override the SDK's standard settings
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
// TEMPORAL_PROFILE and the temporal.toml config file).
type Temporal struct {
	Address   string
	Namespace string
}

// ClientOptions loads the SDK's standard settings, applies the overrides and
// hands the SDK our logger.
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
	if logger != nil {
		opts.Logger = tlog.NewStructuredLogger(logger)
	}
	return opts, nil
}

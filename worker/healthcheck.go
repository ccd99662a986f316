package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/afsync/afsync/internal/config"
)

// newCmdHealthcheck probes a running worker's /healthz, for container
// healthchecks: the worker image has no shell and no curl.
func newCmdHealthcheck() *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the worker on this host is up and reaches Temporal, 1 otherwise",
		Long: `Ask a running worker's GET /healthz (served when AFSYNC_HTTP_ADDR is set),
which answers 200 while the worker reaches its Temporal frontend, 503
otherwise. A worker whose start-up check still waits for Award Force or
Salesforce (an outage) is healthy: it receives webhooks meanwhile, and the
JSON it answers, printed here, says what it waits for. For container
healthchecks: docker-compose.yml runs "worker healthcheck".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				u, err := healthURL(os.Getenv(config.EnvHTTPAddr))
				if err != nil {
					return err
				}
				url = u
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			body, err := probe(ctx, url)
			if err != nil {
				return err
			}
			if body != "" {
				fmt.Fprintln(cmd.OutOrStdout(), body)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "the health URL (default: /healthz on AFSYNC_HTTP_ADDR's port, on 127.0.0.1)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}

// healthURL turns the worker's listen address into the URL to probe from the
// same host: a wildcard or empty host becomes 127.0.0.1.
func healthURL(addr string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("%s is not set, so the worker serves no /healthz: set it (e.g. 0.0.0.0:8234) or pass --url", config.EnvHTTPAddr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%s %q: want host:port (%v)", config.EnvHTTPAddr, addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// probe asks url and returns its body (the worker's JSON, one line) when it
// answers 200.
func probe(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	body := strings.TrimSpace(string(raw))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("unhealthy: %s: %s", resp.Status, body)
	}
	return body, nil
}

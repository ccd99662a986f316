package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/afsync/afsync/sandbox"
)

type sandboxOptions struct {
	flags sandbox.Flags
	out   io.Writer
}

func newCmdSandbox() *cobra.Command {
	o := &sandboxOptions{}
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve the Award Force and Salesforce simulators alone",
		Long: `Serve faithful local simulators of the Award Force and Salesforce APIs,
seeded with realistic users (some already in Salesforce, stale or with a
different email case, a few duplicated, a few without email), until Ctrl-C.
It prints the environment that points a worker at them.`,
		Example: `  starter sandbox --users 1000 --latency 2ms --awardforce-limit 60`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out = cmd.OutOrStdout()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runSandbox(ctx, o)
		},
	}
	o.flags.Register(cmd.Flags(), "", "")
	cmd.AddCommand(newCmdSandboxBurst())
	return cmd
}

type burstOptions struct {
	url           string
	registrations int
	edits         int
	over          time.Duration
	out           io.Writer
}

func newCmdSandboxBurst() *cobra.Command {
	o := &burstOptions{}
	cmd := &cobra.Command{
		Use:   "burst",
		Short: "Make people register and edit their profiles in the running sandbox, as at a deadline",
		Long: `Ask the running Award Force sandbox (worker --dev, or starter sandbox) to
play a burst: --registrations new people registering and --edits profile
edits, spread evenly over --over. Each is delivered to the worker as a signed
webhook, as Award Force does, and synced as it arrives: watch them in the
Temporal UI (afsync-user-…) and in the pairing lanes (afsync-lane-…).`,
		Example: `  starter sandbox burst --registrations 200 --over 10s
  starter sandbox burst --registrations 2000 --edits 500 --over 1m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.out = cmd.OutOrStdout()
			return runBurst(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "awardforce-url", "http://127.0.0.1:8081", "the Award Force sandbox's URL")
	f.IntVar(&o.registrations, "registrations", 200, "new people registering")
	f.IntVar(&o.edits, "edits", 0, "profile edits of existing users")
	f.DurationVar(&o.over, "over", 10*time.Second, "how long the burst lasts")
	return cmd
}

func runBurst(ctx context.Context, o *burstOptions) error {
	if o.registrations < 0 || o.edits < 0 || o.over < 0 {
		return errors.New("--registrations, --edits and --over must not be negative")
	}
	body, _ := json.Marshal(map[string]any{"registrations": o.registrations, "edits": o.edits, "over": o.over.String()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(o.url, "/")+"/_sandbox/burst", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("--awardforce-url %q: %w", o.url, err)
	}
	req.Header.Set("x-api-key", sandbox.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("no Award Force sandbox at %s (start one with make dev or starter sandbox): %w", o.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the sandbox at %s refused the burst: %s %s", o.url, resp.Status, bytes.TrimSpace(msg))
	}
	fmt.Fprintf(o.out, "%d registrations and %d profile edits over %s, each a signed webhook to the worker.\n", o.registrations, o.edits, o.over)
	return nil
}

func runSandbox(ctx context.Context, o *sandboxOptions) error {
	sb, err := sandbox.Start(o.flags.Options())
	if err != nil {
		return err
	}
	defer sb.Close()
	s := sb.Summary
	fmt.Fprintf(o.out, "Award Force sandbox %s: %d users (%d without email)\n", sb.AwardForceURL, s.Users, s.NoEmail)
	fmt.Fprintf(o.out, "Salesforce sandbox  %s: %d already paired (%d stale, %d email case only, %d duplicated)\n\n", sb.SalesforceURL, s.Existing, s.Stale, s.CaseOnly, s.Duplicates)
	fmt.Fprintln(o.out, "Point a worker at them with:")
	env := sb.Env()
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(o.out, "  export %s=%s\n", k, env[k])
	}
	fmt.Fprintln(o.out, "\nCtrl-C stops them.")
	<-ctx.Done()
	return nil
}

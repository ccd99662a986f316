package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

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
	return cmd
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

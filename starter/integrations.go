package main

import (
	"cmp"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/afsync/afsync/internal/config"
)

func newCmdIntegrations() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "integrations",
		Short: "Check the registry of integrations (AFSYNC_INTEGRATIONS) and list what it pairs",
		Long: `Read the registry of integrations that ` + config.EnvIntegrations + ` names (or, when it is
unset, the environment as the one integration "` + config.DefaultIntegration + `"), check every
entry as the worker would, resolving each secret reference ("${VARIABLE}"
or "file:PATH"; a secret written in the file is refused), and list the
integrations: their Award Force account, their Salesforce org (or the
integration whose grant they use, depends_on) and their pairing spec.
Secrets are never printed, only whether they are set.

A deployment serves one integration for now: the worker refuses a registry
of several until a fleet can keep them apart (issue 16).`,
		Example: `  AFSYNC_INTEGRATIONS=integrations.yaml starter integrations`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg, err := config.LoadRegistry(nil)
			if err != nil {
				return err
			}
			return printIntegrations(cmd.OutOrStdout(), reg)
		},
	}
	return cmd
}

// printIntegrations lists reg's integrations, secrets as set or not.
func printIntegrations(out io.Writer, reg *config.Registry) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "INTEGRATION\tAWARD FORCE\tKEY\tWEBHOOK KEY\tSALESFORCE\tSPEC")
	for _, in := range reg.Integrations {
		c := in.Config
		org := cmp.Or(c.Salesforce.LoginURL, "(none)")
		if in.DependsOn != "" {
			org = "through " + in.DependsOn + " (" + org + ")"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID, cmp.Or(c.AwardForce.BaseURL, "(default)"), set(c.AwardForce.APIKey),
			set(c.WebhookSigningKey), org, cmp.Or(c.SpecPath, "(built-in default)"))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if _, err := reg.Servable(); err != nil {
		fmt.Fprintln(out, "\nThe worker will refuse it:", err)
	}
	return nil
}

func set(secret string) string {
	if secret == "" {
		return "not set"
	}
	return "set"
}

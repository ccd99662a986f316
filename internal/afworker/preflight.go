package afworker

import (
	"context"
	"fmt"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
)

// Preflight checks, before the worker polls, that both APIs accept the
// credentials and that the pairing spec fits the org's describe and the
// Award Force account's profile fields. Its errors name what to fix.
func Preflight(ctx context.Context, cfg config.Config, spec *pairing.Spec) error {
	afClient, err := awardforce.New(cfg.AwardForce)
	if err != nil {
		return err
	}
	sfClient, err := salesforce.New(cfg.Salesforce)
	if err != nil {
		return err
	}
	fields, err := afClient.ListUserFields(ctx)
	if err != nil {
		return fmt.Errorf("award force (AWARDFORCE_API_URL, AWARDFORCE_API_KEY): %w", err)
	}
	slugs := make([]string, 0, len(fields))
	for _, f := range fields {
		slugs = append(slugs, f.Slug)
	}
	d, err := sfClient.Describe(ctx, spec.Object)
	if err != nil {
		return fmt.Errorf("salesforce (SALESFORCE_* settings) describing %s: %w", spec.Object, err)
	}
	if err := spec.Check(activities.CRMObjectOf(d), slugs); err != nil {
		return fmt.Errorf("pairing spec does not fit this org and account: %w", err)
	}
	return nil
}

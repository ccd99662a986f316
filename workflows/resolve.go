package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// ResolveUserWorkflowID names the look-up of an Award Force user by email. It
// hashes the email so that no address shows in workflow lists.
func ResolveUserWorkflowID(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "afsync-resolve-" + hex.EncodeToString(sum[:8])
}

// ResolveUser finds the slug of the Award Force user with the given email
// (or slug), through the worker's Award Force activity: the starter CLI needs
// Temporal access only, never the API keys.
func ResolveUser(ctx workflow.Context, slugOrEmail string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, awardForceOptions())
	var p pairing.Profile
	ctx = summarized(ctx, "Find the Award Force user of an email")
	if err := newAFGate(ctx, ClassEvents).call(ctx, af.GetUser, slugOrEmail).Get(ctx, &p); err != nil {
		return "", err
	}
	return p.Slug, nil
}

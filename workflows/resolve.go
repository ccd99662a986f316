package workflows

import (
	"crypto/rand"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// ResolveUserWorkflowID names a look-up of an Award Force user by email:
// random, so that no address shows in workflow lists, nor a hash of one
// (which anyone holding a list of emails could test). Two look-ups of one
// email are two workflows; each is one Award Force request.
// These are the default integration's; Names.ResolveUser gives another's.
func ResolveUserWorkflowID() string { return DefaultNames.ResolveUser() }

// ResolveUser names a look-up of a user by email in the integration's
// account (see ResolveUserWorkflowID).
func (n Names) ResolveUser() string { return n.prefix() + "-resolve-" + strings.ToLower(rand.Text()) }

// ResolveUser finds the slug of the Award Force user with the given email
// (or slug), through the worker's Award Force activity: the starter CLI needs
// Temporal access only, never the API keys.
func ResolveUser(ctx workflow.Context, slugOrEmail string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, awardForceOptions(ctx))
	var p pairing.Profile
	ctx = summarized(ctx, "Find the Award Force user of an email")
	if err := newAFGate(ctx, ClassEvents).call(ctx, af.GetUser, slugOrEmail).Get(ctx, &p); err != nil {
		return "", err
	}
	return p.Slug, nil
}

package workflows

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/awardforce"
)

// ErrTypeRoleUnknown and ErrTypeRoleAmbiguous are ResolveRole's failures:
// no role has the name or slug, or several roles have the name.
const (
	ErrTypeRoleUnknown   = "RoleUnknown"
	ErrTypeRoleAmbiguous = "RoleAmbiguous"
)

// ResolveRoleWorkflowID names a look-up of a role (random: two look-ups
// are two workflows).
func ResolveRoleWorkflowID() string { return DefaultNames.ResolveRole() }

// ResolveRole names a look-up of a role in the integration's account.
func (n Names) ResolveRole() string {
	return n.prefix() + "-resolve-role-" + strings.ToLower(rand.Text())
}

// ResolveRoleTimeout bounds a role look-up: a name costs a request per 100
// users, at Award Force's 60 a minute.
const ResolveRoleTimeout = 24 * time.Hour

// RoleMatch is the role ResolveRole found, and how many pages it read.
type RoleMatch struct {
	activities.Role
	Pages int `json:"pages"`
}

// ResolveRole finds the role that value names, for a backfill's role filter
// (which takes a slug): an 8-letter value that is a role's slug is that
// role (one request); otherwise the role whose name is value, case aside,
// read from every page of the user list (a request per 100 users, within
// the Award Force budget: only the list's end tells that no second role has
// the name). Several roles of that name, or none, fail with the slugs to
// choose from, or every role there is. It runs on the worker, which holds
// the Award Force key: the starter needs Temporal access only.
func ResolveRole(ctx workflow.Context, value string) (RoleMatch, error) {
	value = strings.TrimSpace(value)
	ctx = workflow.WithActivityOptions(ctx, awardForceOptions(ctx))
	gate := newAFGate(ctx, ClassEvents)
	var m RoleMatch
	page := func(in activities.RolesPageInput) (activities.RolesPage, error) {
		var p activities.RolesPage
		m.Pages++
		err := gate.call(summarized(ctx, "Read the roles of Award Force users, page %d", max(in.Page, 1)), af.RolesPage, in).Get(ctx, &p)
		return p, err
	}
	if awardforce.IsSlug(value) {
		p, err := page(activities.RolesPageInput{Page: 1, Role: value})
		if err != nil {
			return m, err
		}
		if i := slices.IndexFunc(p.Roles, func(r activities.Role) bool { return r.Slug == value }); i >= 0 {
			m.Role = p.Roles[i]
			return m, nil
		}
		// No one holds a role of that slug: it may be a name of 8 letters ("Reviewer").
	}
	var roles []activities.Role
	for n := 1; ; n++ {
		p, err := page(activities.RolesPageInput{Page: n})
		if err != nil {
			return m, err
		}
		for _, r := range p.Roles {
			if !slices.ContainsFunc(roles, func(x activities.Role) bool { return x.Slug == r.Slug }) {
				roles = append(roles, r)
			}
		}
		if !p.More {
			break
		}
	}
	r, err := matchRole(roles, value)
	m.Role = r
	return m, err
}

// matchRole picks the role named value among roles.
func matchRole(roles []activities.Role, value string) (activities.Role, error) {
	slices.SortFunc(roles, func(a, b activities.Role) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.Slug, b.Slug)
	})
	var named []activities.Role
	for _, r := range roles {
		if strings.EqualFold(strings.TrimSpace(r.Name), value) {
			named = append(named, r)
		}
	}
	switch {
	case len(named) == 1:
		return named[0], nil
	case len(named) > 1:
		slugs := make([]string, len(named))
		for i, r := range named {
			slugs[i] = r.Slug
		}
		return activities.Role{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%d roles are named %q, with the slugs %s: pass the slug of the one you mean",
			len(named), value, strings.Join(slugs, ", ")), ErrTypeRoleAmbiguous, nil)
	case len(roles) == 0:
		return activities.Role{}, temporal.NewNonRetryableApplicationError(
			"no role has that name or slug: no Award Force user holds a role", ErrTypeRoleUnknown, nil)
	}
	list := make([]string, len(roles))
	for i, r := range roles {
		list[i] = fmt.Sprintf("%s (%s)", r.Name, r.Slug)
	}
	return activities.Role{}, temporal.NewNonRetryableApplicationError(
		"no role has that name or slug; the roles Award Force users hold are: "+strings.Join(list, ", "), ErrTypeRoleUnknown, nil)
}

// Package activities wraps every Award Force and Salesforce call that afsync
// makes in a Temporal activity, so that each call is retried, bounded and
// recorded in the workflow's history. Errors are classified once, here, into
// Temporal errors (see classify).
package activities

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/pairing"
)

// AwardForce holds the Award Force activities. They run on the rate-limited
// Award Force task queue. Register one instance with the worker.
type AwardForce struct {
	Client *awardforce.Client
}

// GetUser fetches one Award Force user, by slug or email, with its profile
// fields, as the values a pairing spec reads.
func (a *AwardForce) GetUser(ctx context.Context, slugOrEmail string) (pairing.Profile, error) {
	u, err := a.Client.GetUser(ctx, slugOrEmail)
	if err != nil {
		return pairing.Profile{}, fail(ctx, err)
	}
	return ProfileOf(u), nil
}

// FoundUser is FindUser's answer.
type FoundUser struct {
	// Found is false when Award Force has no such user.
	Found   bool            `json:"found"`
	Profile pairing.Profile `json:"profile,omitzero"`
}

// FindUser is GetUser for callers to whom "no such user" is an answer, not
// a failure (the CRM watch, asking after a CRM record's email): it logs no
// error for it.
func (a *AwardForce) FindUser(ctx context.Context, slugOrEmail string) (FoundUser, error) {
	u, err := a.Client.GetUser(ctx, slugOrEmail)
	var afErr *awardforce.Error
	if errors.As(err, &afErr) && afErr.StatusCode == http.StatusNotFound {
		return FoundUser{}, nil
	}
	if err != nil {
		return FoundUser{}, fail(ctx, err)
	}
	return FoundUser{Found: true, Profile: ProfileOf(u)}, nil
}

// UpdateUserInput is the input of UpdateUser.
type UpdateUserInput struct {
	// Slug identifies the user.
	Slug string `json:"slug"`
	// Changes are the values to write, keyed by Award Force field name.
	Changes []pairing.Change `json:"changes"`
	// SkipRefused asks, when Award Force refuses some of the values (422,
	// each under its field: a mobile another user has, a drop-down value
	// that is no option), for those values in the result instead of an
	// error; nothing is written then, and the caller writes the rest.
	SkipRefused bool `json:"skip_refused,omitempty"`
}

// UpdateUser writes values pulled from the CRM into an Award Force profile.
// Writing the same values twice is harmless, so retries are safe.
func (a *AwardForce) UpdateUser(ctx context.Context, in UpdateUserInput) (UpdateUserResult, error) {
	if len(in.Changes) == 0 {
		return UpdateUserResult{}, nil
	}
	u, err := a.Client.UpdateUser(ctx, in.Slug, userUpdateOf(in.Changes))
	if err != nil {
		if refused := refusedValues(err, in.Changes); in.SkipRefused && refused != nil {
			return UpdateUserResult{Refused: refused}, nil
		}
		return UpdateUserResult{}, fail(ctx, err)
	}
	res := UpdateUserResult{Updated: u.Updated}
	if !u.Updated.IsZero() {
		p := ProfileOf(u)
		res.Profile = &p
	}
	return res, nil
}

// UpdateUserResult is what UpdateUser did.
type UpdateUserResult struct {
	// Updated is the user's `updated` time after the write: the version the
	// webhook that echoes it will carry.
	Updated time.Time `json:"updated,omitzero"`
	// Profile is the user as Award Force answered the write: with the
	// values written, and any edit that landed since the sync read the
	// user. Nil when the answer carried no user.
	Profile *pairing.Profile `json:"profile,omitempty"`
	// Refused lists, with SkipRefused, the values Award Force refused, with
	// its own messages: nothing was written.
	Refused []pairing.SkippedField `json:"refused,omitempty"`
}

// refusedValues maps a 422's field errors onto the changes they refuse;
// nil unless err is such a refusal and every refused field is one of the
// changes (a refusal of something else is the whole update's).
func refusedValues(err error, changes []pairing.Change) []pairing.SkippedField {
	var afErr *awardforce.Error
	if !errors.As(err, &afErr) || afErr.StatusCode != http.StatusUnprocessableEntity || len(afErr.FieldErrors) == 0 {
		return nil
	}
	var out []pairing.SkippedField
	for key, msgs := range afErr.FieldErrors {
		field := strings.TrimPrefix(key, "user_fields.")
		i := slices.IndexFunc(changes, func(c pairing.Change) bool { return c.Field == field })
		if i < 0 {
			return nil
		}
		out = append(out, pairing.SkippedField{Field: field, Value: changes[i].After, Reason: "Award Force refused it: " + strings.Join(msgs, " ")})
	}
	slices.SortFunc(out, func(a, b pairing.SkippedField) int { return strings.Compare(a.Field, b.Field) })
	return out
}

// Without returns changes less the fields of refused.
func Without(changes []pairing.Change, refused []pairing.SkippedField) []pairing.Change {
	var out []pairing.Change
	for _, c := range changes {
		if !slices.ContainsFunc(refused, func(r pairing.SkippedField) bool { return r.Field == c.Field }) {
			out = append(out, c)
		}
	}
	return out
}

// ProfileFieldSlugs lists the account's user profile field slugs, which a
// pairing spec may map.
func (a *AwardForce) ProfileFieldSlugs(ctx context.Context) ([]string, error) {
	fields, err := a.Client.ListUserFields(ctx)
	if err != nil {
		return nil, fail(ctx, err)
	}
	slugs := make([]string, 0, len(fields))
	for _, f := range fields {
		slugs = append(slugs, f.Slug)
	}
	return slugs, nil
}

// ProfileOf maps an Award Force user onto the field names of pairing specs:
// the built-in fields always, each profile field the user carries.
func ProfileOf(u *awardforce.User) pairing.Profile {
	values := map[string]string{
		pairing.AFEmail:     strings.TrimSpace(u.Email),
		pairing.AFFirstName: u.FirstName,
		pairing.AFLastName:  u.LastName,
		pairing.AFMobile:    u.Mobile,
	}
	for _, f := range u.UserFields {
		values[f.Slug] = f.Value
	}
	return pairing.Profile{Slug: u.Slug, Values: values, Updated: u.Updated}
}

func userUpdateOf(changes []pairing.Change) awardforce.UserUpdate {
	var up awardforce.UserUpdate
	for _, c := range changes {
		v := c.After
		switch c.Field {
		case pairing.AFEmail:
			up.Email = &v
		case pairing.AFFirstName:
			up.FirstName = &v
		case pairing.AFLastName:
			up.LastName = &v
		case pairing.AFMobile:
			up.Mobile = &v
		default:
			if up.UserFields == nil {
				up.UserFields = map[string]string{}
			}
			up.UserFields[c.Field] = v
		}
	}
	return up
}

// UserFilter narrows the Award Force user list to what GET /user can filter.
type UserFilter struct {
	// Role is the `role` filter.
	Role string `json:"role,omitempty"`
	// Season is the `season_joined` filter.
	Season string `json:"season,omitempty"`
	// Deleted lists the users deleted in Award Force instead (`deleted=only`):
	// a sweep that applies the spec's awardforce_deletions to their records.
	Deleted bool `json:"deleted,omitempty"`
}

// ListUsersInput is the input of ListUsers.
type ListUsersInput struct {
	Page    int        `json:"page"`
	PerPage int        `json:"per_page"`
	Filter  UserFilter `json:"filter"`
}

// ListUsersResult is one page of users.
type ListUsersResult struct {
	// Users carry the list's fields only: the list has no profile fields.
	Users    []pairing.Profile `json:"users"`
	Total    int               `json:"total"`
	LastPage int               `json:"last_page"`
}

// PageSize is the largest page Award Force serves.
const PageSize = 100

// ListUsers reads one page of the user list, oldest registration first: an
// order that new registrations and profile edits do not shuffle while a
// backfill pages through it.
func (a *AwardForce) ListUsers(ctx context.Context, in ListUsersInput) (ListUsersResult, error) {
	opts := awardforce.ListOptions{Page: in.Page, PerPage: in.PerPage, Order: "created_at", Dir: "asc", Role: in.Filter.Role}
	opts.Extra = url.Values{}
	if in.Filter.Season != "" {
		opts.Extra.Set("season_joined", in.Filter.Season)
	}
	if in.Filter.Deleted {
		opts.Extra.Set("deleted", "only")
	}
	page, err := a.Client.ListUsers(ctx, opts)
	if err != nil {
		return ListUsersResult{}, fail(ctx, err)
	}
	res := ListUsersResult{Total: page.Total, LastPage: page.LastPage, Users: make([]pairing.Profile, 0, len(page.Users))}
	for i := range page.Users {
		res.Users = append(res.Users, ProfileOf(&page.Users[i]))
	}
	return res, nil
}

// RolesPageInput asks RolesPage for one page of users' roles.
type RolesPageInput struct {
	// Page is the page of the user list (from 1), 100 users a page.
	Page int `json:"page"`
	// Role, when set, asks only for users holding the role of that slug
	// (one user is enough): whether the slug is a role's.
	Role string `json:"role,omitempty"`
}

// Role is an Award Force role: its slug and its (en_GB) name.
type Role struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// RolesPage is the distinct roles the users of one page hold.
type RolesPage struct {
	Roles []Role `json:"roles"`
	// More says whether later pages follow.
	More bool `json:"more"`
}

// RolesPage reads the roles the users of one page of the user list hold,
// deleted users included. Award Force API v2.3 documents no role listing
// (list items' roles link to /role/{slug}, a path its description leaves
// out), so the roles are learnt from what it documents: the {slug, name}
// roles of GET /user items. One request.
func (a *AwardForce) RolesPage(ctx context.Context, in RolesPageInput) (RolesPage, error) {
	opts := awardforce.ListOptions{Page: in.Page, PerPage: PageSize, Order: "created_at", Dir: "asc", Role: in.Role,
		Extra: url.Values{"deleted": {"included"}}}
	if in.Role != "" {
		opts.PerPage = 1
	}
	page, err := a.Client.ListUsers(ctx, opts)
	if err != nil {
		return RolesPage{}, fail(ctx, err)
	}
	res := RolesPage{More: in.Role == "" && page.HasMore() && len(page.Users) > 0}
	seen := map[string]bool{}
	for _, u := range page.Users {
		for _, r := range u.Roles {
			if r.Slug != "" && !seen[r.Slug] {
				seen[r.Slug] = true
				res.Roles = append(res.Roles, Role{Slug: r.Slug, Name: r.Name})
			}
		}
	}
	return res, nil
}

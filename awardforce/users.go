package awardforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// User is an Award Force user. List calls fill everything but UserFields: the API sends
// custom profile fields only from GetUser and UpdateUser.
//
// The JSON tags are the API's names, and decoding accepts both the API's wire form and
// this type's own encoding, so a User survives a round trip through a Temporal payload.
type User struct {
	Slug         string      `json:"slug"`
	Email        string      `json:"email"` // "" when the API sends null (mobile-only users)
	FirstName    string      `json:"first_name"`
	LastName     string      `json:"last_name"`
	Name         string      `json:"name"`
	Mobile       string      `json:"mobile"`
	Confirmation string      `json:"confirmation"` // e.g. "Confirmed", "Unconfirmed"
	ConfirmedAt  time.Time   `json:"confirmed_at"` // zero when unconfirmed
	CreatedAt    time.Time   `json:"created_at"`
	Updated      time.Time   `json:"updated"`
	Roles        []Role      `json:"roles"`
	UserFields   []UserField `json:"user_fields"`
}

// Role is a role the user holds.
type Role struct {
	Slug string `json:"slug"`
	Name string `json:"name"` // the en_GB name when the API sends a translated value
}

// UserField is one custom profile field value on a user.
type UserField struct {
	Slug  string `json:"slug"`
	Label string `json:"label"`
	Title string `json:"title"`
	Value string `json:"value"`
}

// UnmarshalJSON decodes a user liberally: nullable strings, quoted numbers, roles as
// names or related resources, user_fields as a list of objects or a {slug: value} map.
func (u *User) UnmarshalJSON(b []byte) error {
	var w struct {
		Slug         flexString      `json:"slug"`
		Email        flexString      `json:"email"`
		FirstName    flexString      `json:"first_name"`
		LastName     flexString      `json:"last_name"`
		Name         flexString      `json:"name"`
		Mobile       flexString      `json:"mobile"`
		Confirmation flexString      `json:"confirmation"`
		ConfirmedAt  flexTime        `json:"confirmed_at"`
		CreatedAt    flexTime        `json:"created_at"`
		Updated      flexTime        `json:"updated"`
		UpdatedAt    flexTime        `json:"updated_at"` // not the documented name; a fallback
		Roles        json.RawMessage `json:"roles"`
		UserFields   json.RawMessage `json:"user_fields"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*u = User{
		Slug:         string(w.Slug),
		Email:        string(w.Email),
		FirstName:    string(w.FirstName),
		LastName:     string(w.LastName),
		Name:         string(w.Name),
		Mobile:       string(w.Mobile),
		Confirmation: string(w.Confirmation),
		ConfirmedAt:  time.Time(w.ConfirmedAt),
		CreatedAt:    time.Time(w.CreatedAt),
		Updated:      time.Time(w.Updated),
	}
	if u.Updated.IsZero() {
		u.Updated = time.Time(w.UpdatedAt)
	}
	if u.Name == "" {
		u.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
	}
	var err error
	if u.Roles, err = decodeRoles(w.Roles); err != nil {
		return fmt.Errorf("roles: %w", err)
	}
	if u.UserFields, err = decodeUserFields(w.UserFields); err != nil {
		return fmt.Errorf("user_fields: %w", err)
	}
	return nil
}

func decodeRoles(raw json.RawMessage) ([]Role, error) {
	if !isJSONArray(raw) {
		return nil, nil // absent or null
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	roles := make([]Role, 0, len(items))
	for _, item := range items {
		if isJSONObject(item) {
			var r struct {
				Slug flexString `json:"slug"`
				Name flexString `json:"name"`
			}
			if err := json.Unmarshal(item, &r); err != nil {
				return nil, err
			}
			roles = append(roles, Role{Slug: string(r.Slug), Name: string(r.Name)})
			continue
		}
		var name flexString
		if err := json.Unmarshal(item, &name); err != nil {
			return nil, err
		}
		roles = append(roles, Role{Name: string(name)})
	}
	return roles, nil
}

func decodeUserFields(raw json.RawMessage) ([]UserField, error) {
	switch {
	case isJSONArray(raw):
		var items []struct {
			Slug  flexString `json:"slug"`
			Label flexString `json:"label"`
			Title flexString `json:"title"`
			Value flexString `json:"value"`
		}
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]UserField, 0, len(items))
		for _, it := range items {
			out = append(out, UserField{Slug: string(it.Slug), Label: string(it.Label),
				Title: string(it.Title), Value: string(it.Value)})
		}
		return out, nil
	case isJSONObject(raw):
		var m map[string]flexString
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		out := make([]UserField, 0, len(m))
		for _, slug := range sortedKeys(m) {
			out = append(out, UserField{Slug: slug, Value: string(m[slug])})
		}
		return out, nil
	}
	return nil, nil
}

// UserPage is one page of GET /user.
type UserPage struct {
	CurrentPage int    `json:"current_page"`
	LastPage    int    `json:"last_page"`
	PerPage     int    `json:"per_page"`
	Total       int    `json:"total"`
	NextPageURL string `json:"next_page_url"` // "" on the last page (not null)
	Users       []User `json:"data"`
}

// HasMore reports whether a later page exists. It trusts next_page_url first and the
// page counters second, so a null or missing URL does not end a walk early.
func (p *UserPage) HasMore() bool {
	return p.NextPageURL != "" || p.CurrentPage < p.LastPage
}

// UnmarshalJSON decodes the paginated envelope, accepting quoted numbers and a bare
// array of users (treated as a single, last page).
func (p *UserPage) UnmarshalJSON(b []byte) error {
	if isJSONArray(b) {
		*p = UserPage{CurrentPage: 1, LastPage: 1}
		if err := json.Unmarshal(b, &p.Users); err != nil {
			return err
		}
		p.Total, p.PerPage = len(p.Users), len(p.Users)
		return nil
	}
	var w struct {
		CurrentPage flexInt    `json:"current_page"`
		LastPage    flexInt    `json:"last_page"`
		PerPage     flexInt    `json:"per_page"`
		Total       flexInt    `json:"total"`
		NextPageURL flexString `json:"next_page_url"`
		Data        []User     `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = UserPage{
		CurrentPage: int(w.CurrentPage),
		LastPage:    int(w.LastPage),
		PerPage:     int(w.PerPage),
		Total:       int(w.Total),
		NextPageURL: string(w.NextPageURL),
		Users:       w.Data,
	}
	return nil
}

// ListOptions selects a page of GET /user. Zero values are left out so the API's
// defaults apply (order "updated"). The API has no email or updated-since filter.
type ListOptions struct {
	Page         int
	PerPage      int    // 1–100
	Order        string // created_at, email, first_name, last_name, updated
	Dir          string // asc or desc
	Role         string
	SeasonJoined int
	// Extra carries any other query parameters, e.g. deleted=only or confirmation.
	Extra url.Values
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	for k, vs := range o.Extra {
		q[k] = append([]string(nil), vs...)
	}
	setInt := func(k string, v int) {
		if v != 0 {
			q.Set(k, strconv.Itoa(v))
		}
	}
	setStr := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	setInt("page", o.Page)
	setInt("per_page", o.PerPage)
	setStr("order", o.Order)
	setStr("dir", o.Dir)
	setStr("role", o.Role)
	setInt("season_joined", o.SeasonJoined)
	return q
}

// ListUsers fetches one page of users. Items carry no UserFields; call GetUser for those.
func (c *Client) ListUsers(ctx context.Context, opts ListOptions) (*UserPage, error) {
	body, err := c.do(ctx, request{method: "GET", path: "/user", query: opts.query()})
	if err != nil {
		return nil, err
	}
	var page UserPage
	if err := decode("GET", "/user", body, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// GetUser fetches one user, with UserFields, by slug or by email (matched by the API
// regardless of case).
func (c *Client) GetUser(ctx context.Context, slugOrEmail string) (*User, error) {
	slugOrEmail = strings.TrimSpace(slugOrEmail)
	if slugOrEmail == "" {
		return nil, errors.New("awardforce: GetUser: empty slug or email")
	}
	const path = "/user/{slugOrEmail}"
	body, err := c.do(ctx, request{method: "GET", path: path,
		params: map[string]string{"slugOrEmail": slugOrEmail}})
	if err != nil {
		return nil, err
	}
	var u User
	if err := decode("GET", path, body, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UserUpdate is the body of UpdateUser; nil fields are left out and so left unchanged.
type UserUpdate struct {
	FirstName *string
	LastName  *string
	Email     *string
	Mobile    *string
	// UserFields maps profile field slugs to new values; the API answers 422 for a slug
	// the account does not define.
	UserFields map[string]string
}

func (u UserUpdate) body() map[string]any {
	m := map[string]any{}
	for k, v := range map[string]*string{
		"first_name": u.FirstName, "last_name": u.LastName, "email": u.Email, "mobile": u.Mobile,
	} {
		if v != nil {
			m[k] = *v
		}
	}
	if len(u.UserFields) > 0 {
		m["user_fields"] = u.UserFields
	}
	return m
}

// UpdateUser changes the user with the given slug and returns the user as the API now
// holds it. The API addresses updates by slug only: an email is rejected with 400.
func (c *Client) UpdateUser(ctx context.Context, slug string, u UserUpdate) (*User, error) {
	slug = strings.TrimSpace(slug)
	if slug == "" {
		return nil, errors.New("awardforce: UpdateUser: empty slug")
	}
	const path = "/user/{slug}"
	body, err := c.do(ctx, request{method: "PUT", path: path,
		params: map[string]string{"slug": slug}, body: u.body()})
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		// The docs promise the user back; should a body ever be missing, the update
		// still happened, and a nil user would only move the failure elsewhere.
		return &User{Slug: slug}, nil
	}
	var out User
	if err := decode("PUT", path, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Field is a user profile field definition.
type Field struct {
	Slug     string `json:"slug"`
	Type     string `json:"type"`
	Label    string `json:"label"` // may hold HTML, e.g. "<p>Organisation</p>"
	Title    string `json:"title"` // the plain-text name
	Resource string `json:"resource"`
}

// UnmarshalJSON accepts labels and titles as strings or translated values.
func (f *Field) UnmarshalJSON(b []byte) error {
	var w struct {
		Slug     flexString `json:"slug"`
		Type     flexString `json:"type"`
		Label    flexString `json:"label"`
		Title    flexString `json:"title"`
		Resource flexString `json:"resource"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = Field{Slug: string(w.Slug), Type: string(w.Type), Label: string(w.Label),
		Title: string(w.Title), Resource: string(w.Resource)}
	return nil
}

// maxFieldPages stops a misbehaving server from paging us forever.
const maxFieldPages = 100

// ListUserFields returns every user profile field definition, following pages.
func (c *Client) ListUserFields(ctx context.Context) ([]Field, error) {
	var all []Field
	for page := 1; page <= maxFieldPages; page++ {
		q := url.Values{"resource": {"users"}, "per_page": {"100"}, "page": {strconv.Itoa(page)}}
		body, err := c.do(ctx, request{method: "GET", path: "/field", query: q})
		if err != nil {
			return nil, err
		}
		if isJSONArray(body) { // liberal: an unpaginated list
			var fields []Field
			if err := decode("GET", "/field", body, &fields); err != nil {
				return nil, err
			}
			return append(all, fields...), nil
		}
		var env struct {
			CurrentPage flexInt    `json:"current_page"`
			LastPage    flexInt    `json:"last_page"`
			NextPageURL flexString `json:"next_page_url"`
			Data        []Field    `json:"data"`
		}
		if err := decode("GET", "/field", body, &env); err != nil {
			return nil, err
		}
		for _, f := range env.Data {
			// Should the filter be ignored, keep only user fields.
			if f.Resource == "" || f.Resource == "users" {
				all = append(all, f)
			}
		}
		more := env.NextPageURL != "" || env.CurrentPage < env.LastPage
		if !more || len(env.Data) == 0 {
			return all, nil
		}
	}
	return nil, fmt.Errorf("awardforce: GET /field: more than %d pages", maxFieldPages)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// IsSlug reports whether s has the shape of an Award Force slug: 8 ASCII
// letters (^[A-Za-z]{8}$).
func IsSlug(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

package afsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// Unconfirmed: the docs do not state the default page size or direction.
	defaultPerPage = 10
	maxPerPage     = 100
	defaultOrder   = "updated"
	defaultDir     = "asc"
)

// listUsers serves GET /user: the paginated envelope of user summaries. Summaries do not
// carry custom profile fields; that is the point of the simulator's fidelity.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	page, perPage, errs := pageParams(q)
	order := q.Get("order")
	if order == "" {
		order = defaultOrder
	}
	switch order {
	case "created_at", "email", "first_name", "last_name", "updated":
	default:
		addErr(errs, "order", "The selected order is invalid.")
	}
	dir := q.Get("dir")
	if dir == "" {
		dir = defaultDir
	}
	if dir != "asc" && dir != "desc" {
		addErr(errs, "dir", "The selected dir is invalid.")
	}
	deleted := q.Get("deleted")
	if deleted == "" {
		deleted = "none"
	}
	if deleted != "none" && deleted != "only" && deleted != "included" {
		addErr(errs, "deleted", "The selected deleted is invalid.")
	}
	confirmation := strings.ToLower(q.Get("confirmation"))
	if confirmation != "" && confirmation != "confirmed" && confirmation != "unconfirmed" {
		addErr(errs, "confirmation", "The selected confirmation is invalid.")
	}
	if len(errs) > 0 {
		s.writeError(w, http.StatusUnprocessableEntity, "The given data was invalid.", errs)
		return
	}
	role := q.Get("role")
	season := q.Get("season_joined")

	s.mu.Lock()
	lq := listQuery{order: order, dir: dir, deleted: deleted, confirmation: confirmation, role: role, season: season}
	matched, ok := s.lists[lq]
	if !ok || matched.gen != s.gen {
		matched = listed{gen: s.gen}
		for _, slug := range s.order {
			u := s.users[slug]
			switch {
			case deleted == "none" && u.Deleted, deleted == "only" && !u.Deleted:
				continue
			case confirmation == "confirmed" && !u.Confirmed, confirmation == "unconfirmed" && u.Confirmed:
				continue
			case role != "" && !hasRole(u, role):
				continue
			case season != "" && season != strconv.Itoa(u.SeasonJoined):
				continue
			}
			matched.users = append(matched.users, u)
		}
		s.sortUsersLocked(matched.users, order, dir == "desc")
		if s.lists == nil || !ok && len(s.lists) >= maxLists {
			s.lists = map[listQuery]listed{}
		}
		s.lists[lq] = matched
	}
	base := baseURL(r)
	env := paginate(base+"/user", q, page, perPage, len(matched.users))
	data := []any{}
	for _, u := range matched.users[env.from:env.to] {
		data = append(data, s.renderUserLocked(u, base, false))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, env.body(data))
}

// getUser serves GET /user/{slug-or-email}; an email matches case-insensitively.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request, param string) {
	s.mu.Lock()
	var u *User
	switch {
	case slugPattern.MatchString(param):
		u = s.users[param]
	case strings.Contains(param, "@"):
		u = s.userByEmailLocked(param)
	default:
		s.mu.Unlock()
		s.writeError(w, http.StatusBadRequest, "Invalid slug or email.", nil)
		return
	}
	// Unconfirmed: we treat deleted users as gone for single-resource calls.
	if u == nil || u.Deleted {
		s.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "User not found.", nil)
		return
	}
	body := s.renderUserLocked(u, baseURL(r), true)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

// userWrite is the body of PUT and POST /user. Unknown keys are ignored, as Laravel does.
type userWrite struct {
	FirstName  *string                    `json:"first_name"`
	LastName   *string                    `json:"last_name"`
	Email      *string                    `json:"email"`
	Mobile     *string                    `json:"mobile"`
	Password   *string                    `json:"password"` // accepted on create, never stored
	UserFields map[string]json.RawMessage `json:"user_fields"`
}

// updateUser serves PUT /user/{slug}. Only a slug may address the user: the docs say
// "slug only", so an email (or anything else) in the path is a 400 invalid slug.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, param string) {
	if !slugPattern.MatchString(param) {
		s.writeError(w, http.StatusBadRequest, "Invalid slug.", nil)
		return
	}
	in, ok := s.decodeWrite(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	before := s.beforeUpdate
	s.mu.Unlock()
	if before != nil {
		before(param)
	}
	s.mu.Lock()
	u := s.users[param]
	if u == nil || u.Deleted {
		s.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "User not found.", nil)
		return
	}
	errs, values := s.validateWriteLocked(in, u.Slug)
	if in.Mobile != nil && *in.Mobile == "" && u.Email == "" && in.Email == nil {
		// Clearing the mobile of a user known by it alone would leave neither.
		addErr(errs, "mobile", "The mobile field is required when email is not present.")
	}
	if in.FirstName != nil && strings.TrimSpace(*in.FirstName) == "" {
		addErr(errs, "first_name", "The first name field is required.")
	}
	if in.LastName != nil && strings.TrimSpace(*in.LastName) == "" {
		addErr(errs, "last_name", "The last name field is required.")
	}
	if len(errs) > 0 {
		s.mu.Unlock()
		s.writeError(w, http.StatusUnprocessableEntity, "The given data was invalid.", errs)
		return
	}
	next := cloneUser(*u)
	applyWrite(&next, in, values)
	next.Updated = s.nextVersionLocked(u, false)
	s.storeLocked(&next)
	s.stats.Writes++
	body := s.renderUserLocked(&next, baseURL(r), true)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
	s.announce(EventUpdated, "api", next.Slug)
}

// createUser serves POST /user: 201 with a Location ending in the new slug. The docs
// point callers at Location, so the body is empty.
// Unconfirmed: which fields are required besides "email or mobile"; we require only that.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, _ string) {
	in, ok := s.decodeWrite(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	errs, values := s.validateWriteLocked(in, "")
	if strings.TrimSpace(deref(in.Email)) == "" && strings.TrimSpace(deref(in.Mobile)) == "" {
		delete(errs, "email")
		addErr(errs, "email", "The email field is required when mobile is not present.")
		addErr(errs, "mobile", "The mobile field is required when email is not present.")
	}
	if len(errs) > 0 {
		s.mu.Unlock()
		s.writeError(w, http.StatusUnprocessableEntity, "The given data was invalid.", errs)
		return
	}
	u := User{Slug: s.newSlugLocked(), CreatedAt: now()}
	u.Updated = u.CreatedAt
	applyWrite(&u, in, values)
	s.storeLocked(&u)
	s.stats.Writes++
	s.mu.Unlock()
	w.Header().Set("Location", baseURL(r)+"/user/"+u.Slug)
	w.WriteHeader(http.StatusCreated)
	s.announce(EventRegistered, "api", u.Slug)
}

// listFields serves GET /field, paginated like every list; resource=users selects the
// user profile fields, which are the only ones the simulator models.
func (s *Server) listFields(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	page, perPage, errs := pageParams(q)
	if len(errs) > 0 {
		s.writeError(w, http.StatusUnprocessableEntity, "The given data was invalid.", errs)
		return
	}
	s.mu.Lock()
	var fields []Field
	if res := q.Get("resource"); res == "" || res == "users" {
		fields = append(fields, s.fields...)
	}
	s.mu.Unlock()
	base := baseURL(r)
	env := paginate(base+"/field", q, page, perPage, len(fields))
	data := []any{}
	for _, f := range fields[env.from:env.to] {
		data = append(data, map[string]any{
			"slug":     f.Slug,
			"type":     f.Type,
			"resource": "users",
			"label":    translated(f.Label),
			"title":    translated(f.Label),
		})
	}
	writeJSON(w, http.StatusOK, env.body(data))
}

func (s *Server) decodeWrite(w http.ResponseWriter, r *http.Request) (userWrite, bool) {
	var in userWrite
	raw, err := readAll(r)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		err = dec.Decode(&in)
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.writeError(w, http.StatusRequestEntityTooLarge, "Payload too large.", nil)
		return in, false
	case err != nil:
		s.writeError(w, http.StatusBadRequest, "Invalid JSON body.", nil)
		return in, false
	}
	return in, true
}

// validateWriteLocked checks email, mobile and user_fields, returning the errors and
// the field values as strings. self is the slug being updated ("" on create).
// Email and mobile must be unique across all users (email regardless of case) and
// the mobile E.164; a drop-down or radio value must match one of the field's options
// exactly. Unconfirmed: the messages' wording, and whether a deleted user's email or
// mobile counts as taken (here it does).
func (s *Server) validateWriteLocked(in userWrite, self string) (map[string][]string, map[string]string) {
	errs := map[string][]string{}
	if in.Email != nil && (*in.Email != "" || self != "") {
		switch other := s.userByEmailLocked(*in.Email); {
		case !validEmail(*in.Email):
			addErr(errs, "email", "The email must be a valid email address.")
		case other != nil && other.Slug != self:
			addErr(errs, "email", "The email has already been taken.")
		}
	}
	// "" clears the mobile; createUser and updateUser check that email or mobile remains.
	if in.Mobile != nil && *in.Mobile != "" {
		switch other := s.userByMobileLocked(*in.Mobile); {
		case !mobilePattern.MatchString(*in.Mobile):
			addErr(errs, "mobile", "The mobile must be a number in E.164 format, such as +14155552671, without spaces, brackets or dashes.")
		case other != nil && other.Slug != self:
			addErr(errs, "mobile", "The mobile has already been taken.")
		}
	}
	values := map[string]string{}
	for _, slug := range sortedKeys(in.UserFields) {
		f := s.fieldLocked(slug)
		if f == nil {
			addErr(errs, "user_fields."+slug, "The selected field is invalid.")
			continue
		}
		v, ok := scalarString(in.UserFields[slug])
		if !ok {
			addErr(errs, "user_fields."+slug, "The value must be a string.")
			continue
		}
		if !f.allows(v) {
			addErr(errs, "user_fields."+slug, "The selected value is invalid: it must be one of the field's options.")
			continue
		}
		values[slug] = v
	}
	return errs, values
}

func applyWrite(u *User, in userWrite, values map[string]string) {
	if in.FirstName != nil {
		u.FirstName = *in.FirstName
	}
	if in.LastName != nil {
		u.LastName = *in.LastName
	}
	if in.Email != nil {
		u.Email = *in.Email
	}
	if in.Mobile != nil {
		u.Mobile = *in.Mobile
	}
	if len(values) > 0 && u.Fields == nil {
		u.Fields = map[string]string{}
	}
	for k, v := range values {
		u.Fields[k] = v
	}
}

func (s *Server) sortUsersLocked(us []*User, order string, desc bool) {
	keyOf := func(u *User) string {
		switch order {
		case "created_at":
			return u.CreatedAt.Format(time.RFC3339)
		case "email":
			return strings.ToLower(u.Email)
		case "first_name":
			return strings.ToLower(u.FirstName)
		case "last_name":
			return strings.ToLower(u.LastName)
		default:
			return u.Updated.Format(time.RFC3339)
		}
	}
	// Each key once, not at each comparison.
	type keyed struct {
		u   *User
		key string
		seq int
	}
	ks := make([]keyed, len(us))
	for i, u := range us {
		ks[i] = keyed{u, keyOf(u), s.seq[u.Slug]}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.key != b.key {
			if (a.key < b.key) != desc {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.seq, b.seq)
	})
	for i := range ks {
		us[i] = ks[i].u
	}
}

// listQuery is what selects and orders a user list (pages aside).
type listQuery struct {
	order, dir, deleted, confirmation, role, season string
}

// listed is the users a list query matched, in order, as of gen.
type listed struct {
	gen   int
	users []*User
}

// maxLists bounds the lists kept (distinct queries).
const maxLists = 64

// renderUserLocked builds the wire form of a user. detail adds user_fields and
// preferences, which only the single-user endpoints carry.
func (s *Server) renderUserLocked(u *User, base string, detail bool) map[string]any {
	var email any
	if u.Email != "" {
		email = u.Email
	}
	confirmation, confirmedAt := "Unconfirmed", any(nil)
	if u.Confirmed {
		confirmation, confirmedAt = "Confirmed", u.CreatedAt.Format(time.RFC3339)
	}
	roles := []any{}
	for _, name := range u.Roles {
		slug := roleSlug(name)
		roles = append(roles, map[string]any{
			"slug": slug,
			"link": base + "/role/" + slug,
			"name": translated(name),
		})
	}
	m := map[string]any{
		"slug":         u.Slug,
		"email":        email,
		"first_name":   u.FirstName,
		"last_name":    u.LastName,
		"name":         strings.TrimSpace(u.FirstName + " " + u.LastName),
		"mobile":       u.Mobile,
		"confirmation": confirmation,
		"confirmed_at": confirmedAt,
		"created_at":   u.CreatedAt.Format(time.RFC3339),
		"created_by":   "manual",
		"updated":      u.Updated.Format(time.RFC3339),
		"language":     map[string]any{"code": "en_GB", "language": "English (United Kingdom)"},
		"roles":        roles,
	}
	if !detail {
		return m
	}
	fields := []any{}
	for _, f := range s.fields {
		fields = append(fields, map[string]any{
			"slug":  f.Slug,
			"label": translated(f.Label),
			"title": translated(f.Label),
			"value": u.Fields[f.Slug], // "" when unset: the documented empty string
		})
	}
	m["user_fields"] = fields
	// Unconfirmed: the docs name "preferences" without a shape; these are the consent and
	// notification flags the list example shows.
	m["preferences"] = map[string]any{
		"notification_emails": true,
		"notification_sms":    false,
		"broadcast_emails":    false,
	}
	return m
}

// envelope is a Laravel-style length-aware page; from and to index the page's slice.
type envelope struct {
	from, to int
	fields   map[string]any
}

func (e envelope) body(data []any) map[string]any {
	e.fields["data"] = data
	return e.fields
}

func paginate(path string, q url.Values, page, perPage, total int) envelope {
	lastPage := max((total+perPage-1)/perPage, 1)
	from := min((page-1)*perPage, total)
	to := min(from+perPage, total)
	pageURL := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "page" {
				v[k] = vs
			}
		}
		sep := "?"
		if enc := v.Encode(); enc != "" {
			sep = "?" + enc + "&"
		}
		return path + sep + "page=" + strconv.Itoa(n)
	}
	next, prev := "", "" // "" not null: documented
	if page < lastPage {
		next = pageURL(page + 1)
	}
	if page > 1 {
		prev = pageURL(min(page-1, lastPage))
	}
	var fromN, toN any // null on an empty page, as Laravel does
	if to > from {
		fromN, toN = from+1, to
	}
	return envelope{from: from, to: to, fields: map[string]any{
		"current_page":   page,
		"first_page_url": pageURL(1),
		"from":           fromN,
		"last_page":      lastPage,
		"last_page_url":  pageURL(lastPage),
		"next_page_url":  next,
		"path":           path,
		"per_page":       perPage,
		"prev_page_url":  prev,
		"to":             toN,
		"total":          total,
	}}
}

// pageParams reads page and per_page. per_page outside 1–100 is a 422; an unusable page
// falls back to 1, as Laravel's paginator does.
func pageParams(q url.Values) (page, perPage int, errs map[string][]string) {
	errs = map[string][]string{}
	page = 1
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p >= 1 {
		page = p
	}
	perPage = defaultPerPage
	if raw := q.Get("per_page"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxPerPage {
			addErr(errs, "per_page", fmt.Sprintf("The per page must be between 1 and %d.", maxPerPage))
		} else {
			perPage = n
		}
	}
	return page, perPage, errs
}

func addErr(errs map[string][]string, field, msg string) {
	errs[field] = append(errs[field], msg)
}

// hasRole reports whether u holds the role with the given slug. The role filter
// takes a role slug, matched exactly; a role's name matches nothing.
// Unconfirmed: whether the API answers an unknown slug with an empty list (as
// here) or a 422.
func hasRole(u *User, slug string) bool {
	for _, name := range u.Roles {
		if roleSlug(name) == slug {
			return true
		}
	}
	return false
}

// roleSlug derives a stable 8-letter slug from a role name, so filters and links agree.
func roleSlug(name string) string {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(name)))
	n := h.Sum64()
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 8)
	for i := range b {
		b[i] = letters[n%uint64(len(letters))]
		n /= uint64(len(letters))
	}
	return string(b)
}

func translated(s string) map[string]string { return map[string]string{"en_GB": s} }

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// scalarString accepts a JSON string, number, boolean or null as a field value.
func scalarString(raw json.RawMessage) (string, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strings.TrimSpace(string(raw)), true
	}
	return "", false
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// readAll reads a request body of at most 1 MiB (the documented 413 lies beyond).
func readAll(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, 1<<20))
	return buf.Bytes(), err
}

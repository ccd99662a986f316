package pairing

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// CRMObject is the part of a CRM object's describe that Check needs.
type CRMObject struct {
	// Name is the object's API name; empty skips the name check.
	Name string `json:"name"`
	// Fields are keyed by API name as in the describe; Field looks them up case-insensitively.
	Fields map[string]CRMField `json:"fields"`
}

// CRMField is one field of a describe, with the describe's attributes Check reads.
type CRMField struct {
	// Name is the field's API name.
	Name string `json:"name"`
	// Type is the describe type: string, email, phone, boolean, reference, …
	Type string `json:"type"`
	// Length is the maximum number of characters; 0 when not applicable.
	Length int `json:"length"`
	// Createable says a create may set the field.
	Createable bool `json:"createable"`
	// Updateable says an update may set the field.
	Updateable bool `json:"updateable"`
	// Nillable says the field may be empty.
	Nillable bool `json:"nillable"`
	// ExternalID says the field is an external id (usable for upserts).
	ExternalID bool `json:"external_id"`
	// Unique says the org refuses two records with the same value: only a
	// Unique external id stops two concurrent upserts from creating two
	// records.
	Unique bool `json:"unique,omitempty"`
	// CaseSensitive says the org compares values case-sensitively (for
	// uniqueness and upsert matching).
	CaseSensitive bool `json:"case_sensitive,omitempty"`
	// DefaultedOnCreate says Salesforce fills the field when a create leaves it out.
	DefaultedOnCreate bool `json:"defaulted_on_create"`
	// Picklist lists a picklist's active values; Restricted says the org
	// refuses any other (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST).
	Picklist   []string `json:"picklist,omitempty"`
	Restricted bool     `json:"restricted,omitempty"`
}

// checkValues checks what pair f (at key) can write into CRM field cf: a
// restricted picklist takes only its active values, so a static value, a
// map's values and its map_default must be among them, and a map without
// map_default, which lets unlisted values through, is refused; a mapped
// value longer than the field needs truncate.
func (s *Spec) checkValues(ps *problems, key string, f FieldPair, cf CRMField) {
	var produced []struct{ key, value string }
	switch {
	case f.Static():
		produced = append(produced, struct{ key, value string }{key + ".value", strings.TrimSpace(f.Value)})
	case f.Map != nil:
		from := make([]string, 0, len(f.Map))
		for k := range f.Map {
			from = append(from, k)
		}
		sort.Strings(from)
		for _, k := range from {
			produced = append(produced, struct{ key, value string }{fmt.Sprintf("%s.map[%q]", key, k), f.Map[k]})
		}
		if f.MapDefault != "" {
			produced = append(produced, struct{ key, value string }{key + ".map_default", f.MapDefault})
		} else if cf.Restricted {
			ps.add(key+".map_default", fmt.Sprintf("%s.%s is a restricted picklist, and an Award Force value the map does not list would go to it as it is", s.Object, cf.Name),
				fmt.Sprintf("add map_default: one of %s", quoteList(cf.Picklist)))
		}
	}
	for _, p := range produced {
		if cf.Restricted && !slices.Contains(cf.Picklist, p.value) {
			ps.add(p.key, fmt.Sprintf("%q is not a value of the restricted picklist %s.%s: Salesforce refuses it", p.value, s.Object, cf.Name),
				fmt.Sprintf("use one of %s", quoteList(cf.Picklist)))
		}
		if !f.Static() && !f.Truncate && cf.Length > 0 && utf8.RuneCountInString(p.value) > cf.Length {
			ps.add(p.key, fmt.Sprintf("%q has %d characters but %s.%s holds %d", p.value, utf8.RuneCountInString(p.value), s.Object, cf.Name, cf.Length),
				"shorten it, or set truncate: true on the pair")
		}
	}
}

// quoteList quotes values for a message, the first few of a long list.
func quoteList(values []string) string {
	const most = 12
	q := make([]string, 0, min(len(values), most))
	for i, v := range values {
		if i == most {
			return strings.Join(q, ", ") + fmt.Sprintf(", … (%d in all)", len(values))
		}
		q = append(q, fmt.Sprintf("%q", v))
	}
	if len(q) == 0 {
		return "the picklist's values (it has none active)"
	}
	return strings.Join(q, ", ")
}

// Field looks a field up by API name, case-insensitively as Salesforce does.
func (o CRMObject) Field(name string) (CRMField, bool) {
	if f, ok := o.Fields[name]; ok {
		return f, true
	}
	for k, f := range o.Fields {
		if strings.EqualFold(k, name) {
			return f, true
		}
	}
	return CRMField{}, false
}

// fieldNames lists the describe's field names, sorted, for stable messages.
func (o CRMObject) fieldNames() []string {
	names := make([]string, 0, len(o.Fields))
	for k, f := range o.Fields {
		if f.Name != "" {
			k = f.Name
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Check validates the spec against the CRM object's describe and Award Force's
// profile field slugs: every CRM field exists (with a near match suggested),
// fields written are createable (create_if_missing) and updateable
// (update_if_exists, update_on_profile_change), external_id is an external-id
// field, every required CRM field is written on create, and every profile
// field slug exists. related are the describes of RelatedObjects (Account,
// for account: its match field exists and is Name or an external id, and,
// with create, nothing else is required on create). It returns a
// *ValidationError listing every problem.
func (s *Spec) Check(crm CRMObject, afProfileFields []string, related ...CRMObject) error {
	return s.check(crm, afProfileFields, true, related)
}

// CheckCRM is Check without the Award Force half: for callers that hold the
// CRM describes but not the account's profile fields.
func (s *Spec) CheckCRM(crm CRMObject, related ...CRMObject) error {
	return s.check(crm, nil, false, related)
}

func (s *Spec) check(crm CRMObject, afProfileFields []string, checkAF bool, related []CRMObject) error {
	var ps problems
	if crm.Name != "" && !strings.EqualFold(crm.Name, s.Object) {
		ps.add("object", fmt.Sprintf("the describe is of %s but the spec's object is %s", crm.Name, s.Object),
			"check the spec against the describe of "+s.Object)
		return ps.err()
	}
	creates := s.Options.CreateIfMissing
	updates := s.Options.UpdateIfExists || s.Options.UpdateOnProfileChange

	type use struct {
		key, name, value string
		create, update   bool
		pair             *FieldPair
	}
	uses := []use{
		{key: "unique_identifier.crm", name: s.UniqueIdentifier.CRM, create: true},
	}
	if s.ExternalID.CRM != "" {
		uses = append(uses, use{key: "external_id.crm", name: s.ExternalID.CRM, create: true})
	}
	for i, f := range s.Fields {
		u := use{key: fmt.Sprintf("fields[%d].crm", i), name: f.CRM, create: f.toCRM(), update: f.toCRM(), pair: &s.Fields[i]}
		if f.Static() {
			u.value = f.Value
		}
		uses = append(uses, u)
	}
	if s.Account != nil {
		s.checkAccount(&ps, crm, related)
	}

	names := crm.fieldNames()
	for _, u := range uses {
		if u.name == "" {
			continue
		}
		f, ok := crm.Field(u.name)
		if !ok {
			fix := fmt.Sprintf("use a field's API name from the %s describe (Setup → Object Manager → %s → Fields)", s.Object, s.Object)
			if near := nearest(u.name, names); near != "" {
				fix = fmt.Sprintf("did you mean %s?", near)
			}
			ps.add(u.key, fmt.Sprintf("%s has no field %s", s.Object, u.name), fix)
			continue
		}
		if u.create && creates && !f.Createable {
			ps.add(u.key, fmt.Sprintf("%s.%s is not createable, but creates write it (options.create_if_missing)", s.Object, u.name),
				"grant create access to the field, set direction: from_crm, remove the pair, or set options.create_if_missing: false")
		}
		if u.update && updates && !f.Updateable {
			ps.add(u.key, fmt.Sprintf("%s.%s is not updateable, but updates write it (options.update_if_exists / update_on_profile_change)", s.Object, u.name),
				"grant edit access to the field, set direction: from_crm, remove the pair, or turn off both update options")
		}
		if u.value != "" && f.Length > 0 && utf8.RuneCountInString(u.value) > f.Length {
			ps.add(strings.TrimSuffix(u.key, ".crm")+".value",
				fmt.Sprintf("the static value has %d characters but %s.%s holds %d", utf8.RuneCountInString(u.value), s.Object, u.name, f.Length),
				"shorten the value")
		}
		if u.pair != nil && u.pair.toCRM() {
			s.checkValues(&ps, strings.TrimSuffix(u.key, ".crm"), *u.pair, f)
		}
	}

	if st := s.AwardForceDeletions.Stamp; st != nil && st.CRM != "" {
		f, ok := crm.Field(st.CRM)
		switch {
		case !ok:
			fix := fmt.Sprintf("use a field's API name from the %s describe", s.Object)
			if near := nearest(st.CRM, names); near != "" {
				fix = fmt.Sprintf("did you mean %s?", near)
			}
			ps.add("awardforce_deletions.stamp.crm", fmt.Sprintf("%s has no field %s", s.Object, st.CRM), fix)
		case !f.Updateable:
			ps.add("awardforce_deletions.stamp.crm", fmt.Sprintf("%s.%s is not updateable", s.Object, st.CRM),
				"grant edit access to the field, or stamp another")
		case f.Length > 0 && utf8.RuneCountInString(st.Value) > f.Length:
			ps.add("awardforce_deletions.stamp.value", fmt.Sprintf("the stamp has %d characters but %s.%s holds %d", utf8.RuneCountInString(st.Value), s.Object, st.CRM, f.Length),
				"shorten the value")
		}
	}

	if s.ExternalID.CRM != "" {
		if f, ok := crm.Field(s.ExternalID.CRM); ok {
			switch {
			case !f.ExternalID:
				ps.add("external_id.crm", fmt.Sprintf("%s.%s is not an external-id field", s.Object, s.ExternalID.CRM),
					"tick External ID on the field in Salesforce Setup, or name a field that has it")
			case !f.Unique:
				ps.add("external_id.crm", fmt.Sprintf("%s.%s is an external id but not Unique: two upserts of one person at the same moment could create two records", s.Object, s.ExternalID.CRM),
					"tick Unique on the field in Salesforce Setup (case-sensitive, as slugs are), or remove external_id")
			case !f.CaseSensitive:
				ps.add("external_id.crm", fmt.Sprintf("%s.%s is Unique but case-insensitive: slugs that differ only in case (AbCdEfGh, abcdefgh) are different people, and Salesforce would match one's upsert to the other's record or refuse it as a duplicate", s.Object, s.ExternalID.CRM),
					"in Salesforce Setup, define the field as Unique with \"Treat \"ABC\" and \"abc\" as different values (case sensitive)\", or remove external_id")
			case f.Length > 0 && f.Length < 8:
				ps.add("external_id.crm", fmt.Sprintf("%s.%s holds %d characters, too few for an 8-letter Award Force slug", s.Object, s.ExternalID.CRM, f.Length),
					"use a text external-id field of at least 8 characters")
			}
		}
	}

	if creates {
		for _, name := range names {
			f, _ := crm.Field(name)
			required := !f.Nillable && f.Createable && !f.DefaultedOnCreate && !strings.EqualFold(f.Type, "boolean")
			if required && !s.writesOnCreate(name) {
				ps.addAlways("fields", fmt.Sprintf("%s requires %s on create, but no pair writes it", s.Object, name),
					fmt.Sprintf("add a pair {awardforce: <field>, crm: %s} or a static value {crm: %s, value: <text>}, or set options.create_if_missing: false", name, name))
			}
		}
	}

	if !checkAF {
		return ps.err()
	}
	have := map[string]bool{}
	for _, slug := range afProfileFields {
		have[slug] = true
	}
	checkSlug := func(key, slug string) {
		if slug == "" || IsBuiltinAFField(slug) || have[slug] {
			return
		}
		fix := "create the profile field in Award Force, or use a slug listed by GET /field?resource=users"
		if near := nearest(slug, afProfileFields); near != "" {
			fix = fmt.Sprintf("did you mean %s?", near)
		}
		ps.add(key, fmt.Sprintf("Award Force has no profile field %q", slug), fix)
	}
	checkSlug("unique_identifier.awardforce", s.UniqueIdentifier.AwardForce)
	for i, f := range s.Fields {
		checkSlug(fmt.Sprintf("fields[%d].awardforce", i), f.AwardForce)
	}
	checkSlug("record_id_field", s.RecordIDField)
	if s.Account != nil {
		checkSlug("account.awardforce", s.Account.AwardForce)
	}
	return ps.err()
}

// checkAccount checks account against the object's describe (AccountId
// is there, createable and updateable as the options need) and the Account
// describe among related: the match field exists and is Name or an
// external id, and, with create, afsync can make an Account (Name, and the
// match field, createable; nothing else required).
func (s *Spec) checkAccount(ps *problems, crm CRMObject, related []CRMObject) {
	a := *s.Account
	if f, ok := crm.Field(AccountField); !ok {
		ps.add("account", fmt.Sprintf("%s has no field %s", s.Object, AccountField), "remove account: only Contacts belong to Accounts")
	} else {
		if s.Options.CreateIfMissing && !f.Createable {
			ps.add("account", fmt.Sprintf("%s.%s is not createable, but creates write it (options.create_if_missing)", s.Object, AccountField),
				"grant create access to the field, or remove account")
		}
		if (s.Options.UpdateIfExists || s.Options.UpdateOnProfileChange) && !f.Updateable {
			ps.addAlways("account", fmt.Sprintf("%s.%s is not updateable, but updates write it (options.update_if_exists / update_on_profile_change)", s.Object, AccountField),
				"grant edit access to the field, or remove account")
		}
	}
	i := slices.IndexFunc(related, func(o CRMObject) bool { return strings.EqualFold(o.Name, "Account") })
	if i < 0 {
		ps.add("account", "the spec's account needs the Account describe, and it was not read",
			"describe Account along with "+s.Object+" (the worker does)")
		return
	}
	acct := related[i]
	match := a.EffectiveMatch()
	f, ok := acct.Field(match)
	if !ok {
		fix := "use Name, or an external-id field from the Account describe (Setup → Object Manager → Account → Fields)"
		if near := nearest(match, acct.fieldNames()); near != "" {
			fix = fmt.Sprintf("did you mean %s?", near)
		}
		ps.add("account.match", fmt.Sprintf("Account has no field %s", match), fix)
		return
	}
	if !strings.EqualFold(match, DefaultAccountMatch) && !f.ExternalID {
		ps.add("account.match", fmt.Sprintf("Account.%s is not an external-id field", match),
			"tick External ID (and Unique, case-insensitive) on the field in Salesforce Setup, or match: Name")
	}
	if !a.Create {
		return
	}
	for _, name := range []string{DefaultAccountMatch, match} {
		if f, ok := acct.Field(name); ok && !f.Createable {
			ps.add("account.create", fmt.Sprintf("Account.%s is not createable, but account.create writes it", name),
				"grant create access to the field, or set account.create: false")
		}
	}
	for _, name := range acct.fieldNames() {
		f, _ := acct.Field(name)
		required := !f.Nillable && f.Createable && !f.DefaultedOnCreate && !strings.EqualFold(f.Type, "boolean")
		if required && !strings.EqualFold(name, DefaultAccountMatch) && !strings.EqualFold(name, match) {
			ps.addAlways("account.create", fmt.Sprintf("Account requires %s on create, and afsync sets only %s", name, strings.Join(slices.Compact([]string{DefaultAccountMatch, match}), " and ")),
				fmt.Sprintf("give %s a default value in Salesforce, or set account.create: false", name))
		}
	}
}

// nearest returns the candidate closest to name when it is close enough to be
// a likely typo: compared case-insensitively, ignoring underscores (so
// First_Name finds FirstName and AwardForce_Slug finds AwardForce_Slug__c),
// within an edit distance of 2 and less than a third of the name.
func nearest(name string, candidates []string) string {
	n := squash(name)
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(n, squash(c))
		if d > 2 || d*3 >= len(n) && d > 0 {
			continue
		}
		if bestD < 0 || d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	return best
}

func squash(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "_", ""))
}

// editDistance is the optimal-string-alignment distance between two byte
// strings: Levenshtein plus transpositions of adjacent letters, the commonest typo.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

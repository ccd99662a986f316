package pairing

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Trigger says why a user is being synced.
type Trigger string

// The triggers. Registration, backfill and manual syncs apply options 1–3;
// profile updates apply option 4.
const (
	TriggerRegistration  Trigger = "registration"
	TriggerProfileUpdate Trigger = "profile_update"
	TriggerBackfill      Trigger = "backfill"
	TriggerManual        Trigger = "manual"
	// TriggerCRMChange is a change made in Salesforce itself to the user's
	// record (seen by the CRM watch): it pulls what the CRM owns.
	TriggerCRMChange Trigger = "crm_change"
)

// Known reports whether t is one of the triggers above.
func (t Trigger) Known() bool {
	switch t {
	case TriggerRegistration, TriggerProfileUpdate, TriggerBackfill, TriggerManual, TriggerCRMChange:
		return true
	}
	return false
}

// Profile is an Award Force user as Decide sees it.
type Profile struct {
	// Slug is the user's Award Force slug (the external id's value on create).
	Slug string `json:"slug"`
	// Values are keyed by Award Force field name: a built-in (email, first_name,
	// last_name, mobile) or a profile field slug. Missing means empty.
	Values map[string]string `json:"values"`
	// Updated is Award Force's `updated` time of this version of the user,
	// to the second: of two versions of one user, the later one wins. Zero
	// when unknown.
	Updated time.Time `json:"updated,omitzero"`
}

// CRMRecord is a CRM record that matched the user's identifier.
type CRMRecord struct {
	// ID is the record id.
	ID string `json:"id"`
	// Values are keyed by API name (looked up case-insensitively); a null is "".
	Values map[string]string `json:"values"`
	// Modified is when the record last changed, and ModifiedBy the CRM
	// user who changed it; zero and "" when unknown.
	Modified   time.Time `json:"modified,omitzero"`
	ModifiedBy string    `json:"modified_by,omitempty"`
}

// Value returns the record's value of field, matching the name
// case-insensitively; "" when the record has none.
func (r CRMRecord) Value(field string) string { return r.value(field) }

// value returns the record's value of field, matching the name case-insensitively.
func (r CRMRecord) value(field string) string {
	if v, ok := r.Values[field]; ok {
		return v
	}
	for k, v := range r.Values {
		if strings.EqualFold(k, field) {
			return v
		}
	}
	return ""
}

// Action is what Decide asks the workflow to do with the CRM.
type Action string

// The actions.
const (
	ActionCreate    Action = "create"    // create a record with Decision.CRM
	ActionUpdate    Action = "update"    // update Decision.RecordID with Decision.CRM
	ActionNoChange  Action = "no_change" // the record is up to date (AwardForce pulls may remain)
	ActionSkip      Action = "skip"      // nothing to do; Decision.Reason says why
	ActionAmbiguous Action = "ambiguous" // several records match: Decision.CandidateIDs
)

// Decision is Decide's verdict for one user.
type Decision struct {
	// Action is what to do with the CRM.
	Action Action `json:"action"`
	// Reason explains the action in words (always set; meant for skip,
	// ambiguous and no_change). It never contains field values.
	Reason string `json:"reason"`
	// RecordID is the matched record for update and no_change (and for
	// ambiguous, when one record matches but its Accounts are ambiguous).
	RecordID string `json:"record_id,omitempty"`
	// CandidateIDs are the matching records when ambiguous.
	CandidateIDs []string `json:"candidate_ids,omitempty"`
	// CRM lists, for create, every value to set; for update, only the fields that differ.
	CRM []Change `json:"crm,omitempty"`
	// AwardForce lists the values to pull into the Award Force profile.
	AwardForce []Change `json:"award_force,omitempty"`
	// Conflicts lists the both pairs that both sides changed since the last
	// sync: who won, and the value that lost.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	// Replaced is the record the user was paired with before, when that one
	// was merged into RecordID in Salesforce.
	Replaced string `json:"replaced,omitempty"`
	// SkippedFields are values from the CRM Award Force would refuse (a
	// phone that is no E.164 number): left out, the rest written.
	SkippedFields []SkippedField `json:"skipped_fields,omitempty"`
}

// SkippedField is one value a decision leaves out, and why.
type SkippedField struct {
	// Field is the target field's name.
	Field string `json:"field"`
	// Value is the value left out.
	Value string `json:"value"`
	// Reason says why, in words.
	Reason string `json:"reason"`
}

// Conflict is a both pair both sides changed since the last sync.
type Conflict struct {
	// Field names the pair: "awardforce field ↔ CRM field".
	Field string `json:"field"`
	// Winner is the side whose value both now hold.
	Winner Side `json:"winner"`
	// Lost is the other side's value, overwritten.
	Lost string `json:"lost"`
}

// Change is one field's value to write.
type Change struct {
	// Field is the target field: a CRM API name or an Award Force field name.
	Field string `json:"field"`
	// Source is the source field's name, or SourceStatic ("static") for a
	// static value, SourceSlug ("slug") for the Award Force slug written to the
	// external id, SourceRecordID ("Id") for the CRM record id.
	Source string `json:"source"`
	// Before is the target's current value ("" on create).
	Before string `json:"before"`
	// After is the value to write (trimmed, mapped, normalised).
	After string `json:"after"`
	// Note flags what a plan reader should know: a value cut to the
	// field's length, or one Salesforce will refuse as too long.
	Note string `json:"note,omitempty"`
}

// SourceStatic is Change.Source for a static value.
const SourceStatic = "static"

// SourceSlug is Change.Source for the Award Force slug written to the external id.
const SourceSlug = "slug"

// SourceRecordID is Change.Source for the CRM record id pulled into record_id_field.
const SourceRecordID = "Id"

// Handles reports whether any option acting on trigger t is on. When it is
// false Decide skips whatever the lookups return, so a workflow may skip them.
func (s *Spec) Handles(t Trigger) bool {
	o := s.Options
	switch t {
	case TriggerRegistration, TriggerBackfill, TriggerManual:
		return o.GetDetailsFromCRM || o.CreateIfMissing || o.UpdateIfExists
	case TriggerProfileUpdate:
		return o.UpdateOnProfileChange
	case TriggerCRMChange:
		return s.Watches()
	}
	return false
}

// Decide decides what to do for one user p, synced because of t, given the CRM
// records matching the user's unique identifier. It is pure and deterministic;
// the package documentation describes the rules. It is the rule set of
// syncs started before the pairing lanes; the lanes use DecideIn.
func (s *Spec) Decide(t Trigger, p Profile, matches []CRMRecord) Decision {
	return s.decide(Context{Trigger: t}, p, matches, false)
}

// DecideWith is Decide with the context's value rules (Rules, Lengths), for
// the syncs that do not watch the CRM's changes (a dry run).
func (s *Spec) DecideWith(c Context, p Profile, matches []CRMRecord) Decision {
	return s.decide(c, p, matches, false)
}

// Context is what a decision knows besides the user and the records found.
type Context struct {
	// Trigger says why the user is synced.
	Trigger Trigger `json:"trigger"`
	// LastSynced is when the user was last paired; zero when unknown. With
	// RulesChangeBaselines it is when the last sync handed the user over,
	// before it read the CRM: a later edit there by someone else is a change.
	LastSynced time.Time `json:"last_synced,omitzero"`
	// LastVersion is the Award Force version (`updated`) the last sync
	// paired, its own write-back included; zero when unknown. With
	// RulesChangeBaselines, the profile changed since the last sync when it
	// is newer than this, in Award Force's own clock.
	LastVersion time.Time `json:"last_version,omitzero"`
	// IntegrationUser is the CRM user afsync writes as: a record it
	// modified last was not changed in the CRM.
	IntegrationUser string `json:"integration_user,omitempty"`
	// Rules is the rule set: RulesPlain (what syncs started before the
	// value rules decide with), RulesFieldFormats or RulesChangeBaselines.
	Rules Rules `json:"rules,omitempty"`
	// Lengths are the CRM fields' maximum lengths (the describe's), by API
	// name: with RulesFieldFormats, a longer value is cut (truncate) or
	// flagged.
	Lengths map[string]int `json:"lengths,omitempty"`
	// Others are records the workflow knows to be paired with other people
	// (the pairing lanes' memory of what they wrote, by record id): with
	// RulesIdentity, a record among them that holds the user's identifier
	// is not the user's.
	Others []string `json:"others,omitempty"`
	// Account is what the workflow found for the user's organisation (the
	// spec's account): Decide links the Contact to it. Nil, or one with
	// no IDs and not New, leaves AccountId as it is; a spec without
	// account ignores it.
	Account *Account `json:"account,omitempty"`
}

// Account is what a workflow found in the CRM for a user's organisation
// (the value of the spec's account.awardforce): the Accounts whose
// account.match field holds it.
type Account struct {
	// Organisation is the user's value, trimmed.
	Organisation string `json:"organisation"`
	// IDs are the matching Accounts: none, one, or several (then the user
	// is ambiguous, unless their Contact belongs to one of them already).
	IDs []string `json:"ids,omitempty"`
	// New says that none matched and one was created for the organisation
	// (its id is IDs[0]) or, in a dry run, would be (IDs is empty).
	New bool `json:"new,omitempty"`
}

// Rules is a version of the value rules Decide applies.
type Rules int

// The rule sets.
const (
	// RulesPlain writes values as they are (maps apply: only new specs
	// have them).
	RulesPlain Rules = iota
	// RulesFieldFormats also reads phones pulled into mobile as E.164 (in
	// phone_region), leaving out the ones that are not, and cuts or flags
	// values longer than their CRM field.
	RulesFieldFormats
	// RulesChangeBaselines also tells whether Award Force changed since the
	// last sync by its `updated` against the version that sync paired
	// (Context.LastVersion), instead of against the time it ended: an edit
	// made while a sync ran, or in the second it ended, is a change.
	RulesChangeBaselines
	// RulesIdentity also follows the person rather than their address:
	// an update writes the user's identifier when the record (found by
	// the record id or the slug the user is paired with) holds another one,
	// and stamps the external id on a record that lacks it (adoption); a
	// record that holds the user's identifier but another person's slug in
	// the external id, or that Context.Others names, is not the user's, so
	// it is never written with their values.
	RulesIdentity
)

// DecideIn is Decide with the rules of the CRM watch: when the spec
// watches the CRM (Watches), every sync also pulls what the CRM owns
// (from_crm and both pairs), a crm_change trigger pulls it (and, with
// update_if_exists, puts back what Award Force owns) but never creates, and
// a both pair whose sides differ takes the value of the side that changed
// since c.LastSynced, or, when both did, of the pair's prefer side (the
// conflict and the value that lost are in the decision); when the last
// sync is unknown, of the side that changed last.
func (s *Spec) DecideIn(c Context, p Profile, matches []CRMRecord) Decision {
	return s.decide(c, p, matches, true)
}

func (s *Spec) decide(c Context, p Profile, matches []CRMRecord, watched bool) Decision {
	o := s.Options
	t := c.Trigger
	watched = watched && s.Watches()
	switch t {
	case TriggerRegistration, TriggerBackfill, TriggerManual, TriggerProfileUpdate:
	case TriggerCRMChange:
		if !watched {
			return skip("the spec does not watch the CRM (crm_changes.watch)")
		}
	default:
		return skip(fmt.Sprintf("unknown trigger %q", t))
	}
	if t != TriggerCRMChange && !s.Handles(t) {
		if t == TriggerProfileUpdate {
			return skip("update_on_profile_change (option 4) is off")
		}
		return skip("get_details_from_crm, create_if_missing and update_if_exists (options 1–3) are all off")
	}
	idField := s.UniqueIdentifier.AwardForce
	if strings.TrimSpace(p.Values[idField]) == "" {
		return skip("user has no " + idField)
	}
	var others []string // records holding the identifier that are someone else's
	if c.Rules >= RulesIdentity {
		matches, others = s.owned(&c, p, matches)
	}
	switch len(matches) {
	case 0:
		none := fmt.Sprintf("no %s matches the user's %s", s.Object, idField)
		if len(others) > 0 {
			none = fmt.Sprintf("no %s of the user's own matches their %s (%s %s it but %s paired with another person)",
				s.Object, idField, strings.Join(others, ", "), plural(len(others), "holds", "hold"), plural(len(others), "is", "are"))
		}
		if t == TriggerCRMChange {
			return skip(fmt.Sprintf("no %s holds the user's %s any more", s.Object, idField))
		}
		if !o.CreateIfMissing {
			return skip(none + " and create_if_missing (option 2) is off")
		}
		if a := s.account(&c); a != nil && len(a.IDs) > 1 {
			return s.ambiguousAccount(a, "")
		}
		return Decision{
			Action: ActionCreate,
			Reason: none,
			CRM:    s.createValues(&c, p),
		}
	case 1:
	default:
		ids := make([]string, len(matches))
		for i, m := range matches {
			ids[i] = m.ID
		}
		return Decision{
			Action:       ActionAmbiguous,
			Reason:       fmt.Sprintf("%d %s records share the user's %s: merge or correct them in Salesforce", len(matches), s.Object, s.UniqueIdentifier.CRM),
			CandidateIDs: ids,
		}
	}

	rec := matches[0]
	update, pull := o.UpdateIfExists, o.GetDetailsFromCRM
	if t == TriggerProfileUpdate {
		update, pull = true, false
	}
	var win func(FieldPair) (Side, bool)
	if watched {
		pull = true
		win = s.winner(&c, p, rec)
	}
	if !update && !pull {
		return skip(fmt.Sprintf("a %s matches but update_if_exists (option 3) and get_details_from_crm (option 1) are off", s.Object))
	}
	if a := s.account(&c); update && a != nil && len(a.IDs) > 1 && !slices.ContainsFunc(a.IDs, func(id string) bool { return sameID(id, rec.value(AccountField)) }) {
		return s.ambiguousAccount(a, rec.ID)
	}
	d := Decision{RecordID: rec.ID}
	if update {
		if c.Rules >= RulesIdentity {
			d.CRM = s.identity(p, rec)
		}
		d.CRM = append(d.CRM, s.crmDiffs(&c, p, rec, win)...)
		if ch := s.accountChange(&c, rec.value(AccountField)); ch != nil {
			d.CRM = append(d.CRM, *ch)
		}
	}
	if pull {
		d.AwardForce, d.SkippedFields = s.pulls(&c, p, rec, win)
	}
	if win != nil {
		d.Conflicts = s.conflicts(p, rec, win)
	}
	if c := s.RecordIDChange(p, rec.ID); c != nil {
		d.AwardForce = append(d.AwardForce, *c)
	}
	switch {
	case len(d.CRM) > 0:
		d.Action = ActionUpdate
		d.Reason = fmt.Sprintf("%d %s field(s) differ", len(d.CRM), s.Object)
	case update:
		d.Action = ActionNoChange
		d.Reason = fmt.Sprintf("the %s is up to date", s.Object)
	default:
		d.Action = ActionNoChange
		d.Reason = "update_if_exists (option 3) is off: the CRM record is left as it is"
	}
	return d
}

func skip(reason string) Decision {
	return Decision{Action: ActionSkip, Reason: reason}
}

// plural picks one or many by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// owned splits records that hold the user's identifier into the ones that
// may be the user's and the ids of those that are someone else's: their
// external id holds another slug (slugs never move between people), or
// c.Others names them.
func (s *Spec) owned(c *Context, p Profile, matches []CRMRecord) (mine []CRMRecord, others []string) {
	for _, m := range matches {
		slug := ""
		if s.ExternalID.CRM != "" {
			slug = strings.TrimSpace(m.value(s.ExternalID.CRM))
		}
		taken := slug != "" && p.Slug != "" && slug != p.Slug
		if !taken && slug != p.Slug {
			taken = slices.ContainsFunc(c.Others, func(id string) bool { return sameID(id, m.ID) })
		}
		if taken {
			others = append(others, m.ID)
		} else {
			mine = append(mine, m)
		}
	}
	return mine, others
}

// identity lists the writes that keep the record the user's, for life:
// the user's identifier when the record holds another (the user changed
// it in Award Force, or someone changed it in the CRM: Award Force's is
// the person's own), and the user's slug in an external id that is empty
// (a record found by identifier is adopted, so that later look-ups,
// upserts and deletion stamps find it by slug).
func (s *Spec) identity(p Profile, rec CRMRecord) []Change {
	var out []Change
	id := s.UniqueIdentifier
	want, have := strings.TrimSpace(p.Values[id.AwardForce]), strings.TrimSpace(rec.value(id.CRM))
	if want != "" && !strings.EqualFold(want, have) {
		out = append(out, Change{Field: id.CRM, Source: id.AwardForce, Before: have, After: want})
	}
	if ext := s.ExternalID.CRM; ext != "" && p.Slug != "" {
		if have := strings.TrimSpace(rec.value(ext)); have == "" {
			out = append(out, Change{Field: ext, Source: SourceSlug, After: p.Slug})
		}
	}
	return out
}

// createValues lists what a create sets: the identifier, then the pairs and
// statics in spec order, then the Account, then the external id.
func (s *Spec) createValues(c *Context, p Profile) []Change {
	id := s.UniqueIdentifier
	out := []Change{{Field: id.CRM, Source: id.AwardForce, After: strings.TrimSpace(p.Values[id.AwardForce])}}
	for _, f := range s.Fields {
		if !f.toCRM() {
			continue
		}
		source, v := f.AwardForce, ""
		if f.Static() {
			source, v = SourceStatic, strings.TrimSpace(f.Value)
		} else {
			v = f.toCRMValue(p.Values[f.AwardForce])
		}
		if v != "" {
			after, note := c.fit(f, v)
			out = append(out, Change{Field: f.CRM, Source: source, After: after, Note: note})
		}
	}
	if ch := s.accountChange(c, ""); ch != nil {
		out = append(out, *ch)
	}
	if s.ExternalID.CRM != "" && p.Slug != "" {
		out = append(out, Change{Field: s.ExternalID.CRM, Source: SourceSlug, After: p.Slug})
	}
	return out
}

// crmDiffs lists the to-CRM changes for an existing record. win, when set,
// says which side a both pair's differing values take.
func (s *Spec) crmDiffs(c *Context, p Profile, rec CRMRecord, win func(FieldPair) (Side, bool)) []Change {
	var out []Change
	for _, f := range s.Fields {
		if !f.toCRM() {
			continue
		}
		if w, _ := winOf(win, f); w == SideCRM {
			continue // the CRM's value wins: it is pulled instead
		}
		source, want := f.AwardForce, ""
		if f.Static() {
			source, want = SourceStatic, strings.TrimSpace(f.Value)
		} else {
			want = f.toCRMValue(p.Values[f.AwardForce])
		}
		want, note := c.fit(f, want)
		have := rec.value(f.CRM)
		if !f.Static() && s.same(c, f, p.Values[f.AwardForce], have) {
			continue // the same value, in the CRM's words
		}
		if shouldWrite(want, have, f.EffectiveOverwrite(), s.foldCase(f)) {
			out = append(out, Change{Field: f.CRM, Source: source, Before: have, After: want, Note: note})
		}
	}
	return out
}

// pulls lists the CRM values to bring into Award Force. win, when set, says
// which side a both pair's differing values take.
func (s *Spec) pulls(c *Context, p Profile, rec CRMRecord, win func(FieldPair) (Side, bool)) ([]Change, []SkippedField) {
	var out []Change
	var skipped []SkippedField
	for _, f := range s.Fields {
		if f.Static() || !f.fromCRM() || f.AwardForce == s.UniqueIdentifier.AwardForce {
			continue
		}
		policy := f.EffectiveOverwrite()
		if f.EffectiveDirection() == DirectionBoth {
			policy = OverwriteIfEmpty // both only fills an empty Award Force value…
			if w, _ := winOf(win, f); w == SideCRM {
				policy = OverwriteAlways // …unless the CRM's value wins
			}
		}
		want, err := s.fromCRMValue(c, f, rec.value(f.CRM))
		have := p.Values[f.AwardForce]
		if !shouldWrite(want, have, policy, s.foldCase(f)) {
			continue
		}
		if err != nil {
			skipped = append(skipped, SkippedField{Field: f.AwardForce, Value: strings.TrimSpace(rec.value(f.CRM)), Reason: err.Error()})
			continue
		}
		out = append(out, Change{Field: f.AwardForce, Source: f.CRM, Before: have, After: want})
	}
	return out, skipped
}

// toCRMValue is Award Force value v as the CRM should hold it: through the
// pair's map (or its map_default) when it has one.
func (f FieldPair) toCRMValue(v string) string {
	v = strings.TrimSpace(v)
	if f.Map == nil || v == "" {
		return v
	}
	if m, ok := f.Map[v]; ok {
		return m
	}
	if f.MapDefault != "" {
		return f.MapDefault
	}
	return v
}

// fromCRMValue is CRM value v as Award Force should hold it: back through
// the pair's map, and, with RulesFieldFormats, a phone pulled into mobile
// in E.164. The error says why Award Force would refuse the value (it is
// then left out); the value is returned anyway, for comparisons.
func (s *Spec) fromCRMValue(c *Context, f FieldPair, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	for af, crm := range f.Map {
		if crm == v { // the map is one-to-one for pairs that pull (Validate)
			v = af
			break
		}
	}
	if c.Rules >= RulesFieldFormats && f.AwardForce == AFMobile {
		e, err := E164(v, s.PhoneRegion)
		if err != nil {
			return v, fmt.Errorf("mobile (Award Force) must be an E.164 number: %w", err)
		}
		return e, nil
	}
	return v, nil
}

// same reports whether Award Force value af and CRM value crm of pair f
// say the same: equal through the map (case aside for emails and the
// identifier), or, with RulesFieldFormats, the same phone number.
func (s *Spec) same(c *Context, f FieldPair, af, crm string) bool {
	a, b := f.toCRMValue(af), strings.TrimSpace(crm)
	if a == b || s.foldCase(f) && strings.EqualFold(a, b) {
		return true
	}
	if c.Rules >= RulesFieldFormats && f.AwardForce == AFMobile && a != "" {
		e, err := E164(b, s.PhoneRegion)
		return err == nil && e == a
	}
	return false
}

// fit applies the CRM field's length to v (RulesFieldFormats): a pair with
// truncate cuts it; otherwise the note warns that Salesforce will refuse it.
func (c *Context) fit(f FieldPair, v string) (string, string) {
	if c.Rules < RulesFieldFormats {
		return v, ""
	}
	limit := c.Lengths[f.CRM]
	if limit <= 0 || utf8.RuneCountInString(v) <= limit {
		return v, ""
	}
	if f.Truncate {
		return string([]rune(v)[:limit]), fmt.Sprintf("cut to %s's %d characters (truncate)", f.CRM, limit)
	}
	return v, fmt.Sprintf("longer than %s's %d characters: Salesforce will refuse it (STRING_TOO_LONG); truncate: true on the pair cuts it", f.CRM, limit)
}

// winOf asks win about pair f; the zero Side without win.
func winOf(win func(FieldPair) (Side, bool), f FieldPair) (Side, bool) {
	if win == nil || f.EffectiveDirection() != DirectionBoth {
		return "", false
	}
	return win(f)
}

// winner returns which side each both pair of the user and rec takes when
// their values differ, and whether that settled a conflict (both sides
// changed since the last sync).
func (s *Spec) winner(c *Context, p Profile, rec CRMRecord) func(FieldPair) (Side, bool) {
	crmAt := rec.Modified
	if c.IntegrationUser != "" && rec.ModifiedBy == c.IntegrationUser {
		crmAt = time.Time{} // afsync's own write: not a change made in the CRM
	}
	afAt := p.Updated
	triggerSide := SideAwardForce
	if c.Trigger == TriggerCRMChange {
		triggerSide = SideCRM
	}
	return func(f FieldPair) (Side, bool) {
		a := strings.TrimSpace(p.Values[f.AwardForce])
		b := strings.TrimSpace(rec.value(f.CRM))
		if a == "" || b == "" || s.same(c, f, a, b) {
			return "", false // nothing to settle: the empty side is filled
		}
		if !c.LastSynced.IsZero() {
			afSince := c.LastSynced
			if c.Rules >= RulesChangeBaselines && !c.LastVersion.IsZero() {
				afSince = c.LastVersion
			}
			crmChanged, afChanged := crmAt.After(c.LastSynced), afAt.After(afSince)
			switch {
			case crmChanged && afChanged:
				return f.EffectivePrefer(), true
			case crmChanged:
				return SideCRM, false
			case afChanged:
				return SideAwardForce, false
			}
			return triggerSide, false
		}
		switch {
		case crmAt.IsZero() || afAt.IsZero() || crmAt.Equal(afAt):
			return triggerSide, false
		case crmAt.After(afAt):
			return SideCRM, false
		default:
			return SideAwardForce, false
		}
	}
}

// conflicts lists the both pairs whose values both sides changed since the
// last sync, with the value that lost.
func (s *Spec) conflicts(p Profile, rec CRMRecord, win func(FieldPair) (Side, bool)) []Conflict {
	var out []Conflict
	for _, f := range s.Fields {
		w, conflict := winOf(win, f)
		if !conflict {
			continue
		}
		lost := strings.TrimSpace(rec.value(f.CRM))
		if w == SideCRM {
			lost = strings.TrimSpace(p.Values[f.AwardForce])
		}
		out = append(out, Conflict{Field: f.AwardForce + " ↔ " + f.CRM, Winner: w, Lost: lost})
	}
	return out
}

// shouldWrite applies an overwrite policy: an empty source never blanks the
// target; always writes when the values differ; if_empty only into an empty target.
func shouldWrite(source, target string, policy Overwrite, fold bool) bool {
	source, target = strings.TrimSpace(source), strings.TrimSpace(target)
	if source == "" {
		return false
	}
	if policy == OverwriteIfEmpty {
		return target == ""
	}
	if fold {
		return !strings.EqualFold(source, target)
	}
	return source != target
}

// foldCase reports whether a pair's values compare case-insensitively: email
// addresses do (Decide has no describe, so an email is a pair whose Award Force
// side is email), as does the identifier pair, which never appears in Fields.
func (s *Spec) foldCase(f FieldPair) bool {
	return f.AwardForce == AFEmail ||
		f.AwardForce != "" && f.AwardForce == s.UniqueIdentifier.AwardForce
}

// account is the Account c hands over for the user, when the spec links
// Contacts to Accounts and the user has an organisation; nil otherwise.
func (s *Spec) account(c *Context) *Account {
	if s.Account == nil || s.Object != "Contact" || c.Account == nil || strings.TrimSpace(c.Account.Organisation) == "" {
		return nil
	}
	return c.Account
}

// accountChange is the write of AccountId, which holds have, that links
// the Contact to its one Account: nil when there is none (no organisation,
// no match and no create, several matches) or it is the one linked.
func (s *Spec) accountChange(c *Context, have string) *Change {
	a := s.account(c)
	if a == nil || len(a.IDs) > 1 || len(a.IDs) == 0 && !a.New {
		return nil
	}
	org := strings.TrimSpace(a.Organisation)
	ch := Change{Field: AccountField, Source: s.Account.AwardForce, Before: have}
	switch {
	case len(a.IDs) == 0: // a dry run: the Account does not exist yet
		ch.After = "(new Account: " + org + ")"
		ch.Note = fmt.Sprintf("Account %q, to be created (account.create)", org)
	case a.New:
		ch.After = a.IDs[0]
		ch.Note = fmt.Sprintf("Account %q, created (account.create)", org)
	default:
		ch.After = a.IDs[0]
		ch.Note = fmt.Sprintf("Account %q (by %s)", org, s.Account.EffectiveMatch())
	}
	if sameID(ch.After, have) {
		return nil
	}
	return &ch
}

// ambiguousAccount is the decision for a user whose organisation matches
// several Accounts: nothing is guessed, nothing written.
func (s *Spec) ambiguousAccount(a *Account, recordID string) Decision {
	return Decision{
		Action:       ActionAmbiguous,
		RecordID:     recordID,
		CandidateIDs: slices.Clone(a.IDs),
		Reason: fmt.Sprintf("%d Accounts match the user's %s (by %s): merge them in Salesforce, or link the %s to one of them there",
			len(a.IDs), s.Account.AwardForce, s.Account.EffectiveMatch(), s.Object),
	}
}

// sameID reports whether two Salesforce ids name the same record: equal, or
// one the 15-character form of the other.
func sameID(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch {
	case a == b:
		return true
	case len(a) == 18 && len(b) == 15:
		return a[:15] == b
	case len(a) == 15 && len(b) == 18:
		return b[:15] == a
	}
	return false
}

// RecordIDChange is the pull that stores the CRM record id in the spec's
// record_id_field, or nil when there is no such field or it already holds
// id. Decide applies it to matched records; after a create, the workflow
// applies it once the new id is known.
func (s *Spec) RecordIDChange(p Profile, id string) *Change {
	if s.RecordIDField == "" || id == "" {
		return nil
	}
	before := p.Values[s.RecordIDField]
	if strings.TrimSpace(before) == id {
		return nil
	}
	return &Change{Field: s.RecordIDField, Source: SourceRecordID, Before: before, After: id}
}

package pairing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Spec is one integration's pairing configuration: the seed's four options, the
// CRM object, the unique identifier pair and the field pairs. Build it with
// Default, Parse or Load; a Spec decoded from a payload may leave Direction and
// Overwrite empty, which mean their defaults.
type Spec struct {
	// Options are the seed's four check boxes.
	Options Options `yaml:"options" json:"options"`
	// Object is the CRM object's API name: Contact, Lead or a custom object (…__c).
	Object string `yaml:"object" json:"object"`
	// UniqueIdentifier pairs the Award Force field that identifies a user with
	// the CRM field that holds the same value. Required.
	UniqueIdentifier Identifier `yaml:"unique_identifier" json:"unique_identifier"`
	// ExternalID, when set, names a CRM external-id field that stores the Award
	// Force slug, so that creates can be upserts (idempotent).
	ExternalID ExternalID `yaml:"external_id,omitempty" json:"external_id,omitzero"`
	// RecordIDField, when set, is the Award Force profile field slug that
	// receives the CRM record id.
	RecordIDField string `yaml:"record_id_field,omitempty" json:"record_id_field,omitempty"`
	// Fields are the further pairs, in the order changes are reported.
	Fields []FieldPair `yaml:"fields" json:"fields"`
	// CRMChanges says how changes made in Salesforce itself reach Award
	// Force (edits, merges, deletions).
	CRMChanges CRMChanges `yaml:"crm_changes,omitempty" json:"crm_changes,omitzero"`
	// AwardForceDeletions says what a user deleted in Award Force does to
	// their CRM record: nothing (the default), or a stamp.
	AwardForceDeletions AwardForceDeletions `yaml:"awardforce_deletions,omitempty" json:"awardforce_deletions,omitzero"`
	// PhoneRegion is the region (ISO 3166 code, e.g. GB or US) of phone
	// numbers written without a country code in the CRM: pulled into Award
	// Force's mobile, which must be E.164, they are read as numbers of
	// that region. Empty: only numbers with a country code (+44…, 0044…)
	// can be pulled.
	PhoneRegion string `yaml:"phone_region,omitempty" json:"phone_region,omitempty"`
	// DuplicateRules says how afsync's writes meet the org's duplicate
	// rules: DuplicatesRespect (empty means it) or DuplicatesAllowSave.
	DuplicateRules DuplicatePolicy `yaml:"duplicate_rules,omitempty" json:"duplicate_rules,omitempty"`
	// AcrossIntegrations says who the same unique identifier is in two
	// integrations writing to one org (a dependent one and the one it
	// depends on): two people with a record each (ARecordEach, the
	// default), or one person in several programmes, with one record
	// (OneRecord).
	AcrossIntegrations AcrossIntegrations `yaml:"across_integrations,omitempty" json:"across_integrations,omitempty"`
	// Account, when set (object Contact only), links each Contact to the
	// Account its user's organisation names; nil leaves AccountId alone.
	Account *AccountLink `yaml:"account,omitempty" json:"account,omitempty"`
}

// AccountLink is the spec's account key: the Award Force field that names
// a user's organisation, the Account field that holds the same value, and
// whether an Account is created when none does. The workflow finds the
// Account (or several, or none) and hands it to Decide in Context.Account;
// Decide writes the Contact's AccountId like a pair whose direction is
// to_crm and overwrite always.
type AccountLink struct {
	// AwardForce is a built-in field name or a profile field slug, e.g.
	// Employer.
	AwardForce string `yaml:"awardforce" json:"awardforce"`
	// Match is the Account field compared with the organisation: Name (the
	// default; several Accounts may share one) or an external-id field of
	// Account, e.g. AwardForce_Org__c.
	Match string `yaml:"match,omitempty" json:"match,omitempty"`
	// Create makes an Account (Name, and Match when it is not Name, set to
	// the organisation) when none matches; without it the Contact stays
	// without an Account.
	Create bool `yaml:"create,omitempty" json:"create,omitempty"`
}

// DefaultAccountMatch is the Account field account.match defaults to.
const DefaultAccountMatch = "Name"

// AccountField is the Contact field that references its Account.
const AccountField = "AccountId"

// EffectiveMatch is Match with its default applied.
func (a AccountLink) EffectiveMatch() string {
	if a.Match == "" {
		return DefaultAccountMatch
	}
	return a.Match
}

// RelatedObjects lists the CRM objects besides Object whose describes
// Check needs: Account when the spec has account.
func (s *Spec) RelatedObjects() []string {
	if s.Account != nil {
		return []string{"Account"}
	}
	return nil
}

// DuplicatePolicy says how afsync's creates and updates meet the org's
// duplicate rules, which may refuse a record that matches existing ones
// (DUPLICATES_DETECTED).
type DuplicatePolicy string

// The duplicate rule policies.
const (
	// DuplicatesRespect (the default) lets every rule refuse: a refused
	// record is that user's permanent refusal, with Salesforce's message
	// and the ids of the duplicates it named.
	DuplicatesRespect DuplicatePolicy = "respect"
	// DuplicatesAllowSave asks Salesforce to save past rules whose action
	// is Alert (Sforce-Duplicate-Rule-Header: allowSave=true, API v52.0
	// and later); rules whose action is Block still refuse.
	DuplicatesAllowSave DuplicatePolicy = "allow_save"
)

// AcrossIntegrations is the spec's across_integrations policy.
type AcrossIntegrations string

// The across_integrations policies.
const (
	// ARecordEach (the default): people of two integrations who hold one
	// identifier are two people, each with a record of their own, as two
	// users of one account sharing an identifier are.
	ARecordEach AcrossIntegrations = "a_record_each"
	// OneRecord: the people of several integrations who hold one
	// identifier are one person registered in several programmes, paired
	// with one record, which holds the values of whichever synced last.
	// A person whose identifier changes leaves a record they share: the
	// record keeps the identifier the others hold, and they are paired by
	// their new one.
	OneRecord AcrossIntegrations = "one_record"
)

// SharesAcrossIntegrations reports whether the people of several
// integrations who hold one identifier share one record (OneRecord).
func (s *Spec) SharesAcrossIntegrations() bool { return s.AcrossIntegrations == OneRecord }

// AllowsDuplicateSave reports whether writes ask Salesforce to save past
// Alert duplicate rules.
func (s *Spec) AllowsDuplicateSave() bool { return s.DuplicateRules == DuplicatesAllowSave }

// CRMChanges configures the watch on Salesforce: afsync asks the org, every
// Every, which records changed or were deleted since it last asked, and
// syncs their people, so that values Salesforce owns (from_crm and both
// pairs) reach Award Force without an Award Force event.
type CRMChanges struct {
	// Watch turns the watch on or off; unset means on when a pair reads
	// from the CRM (from_crm or both).
	Watch *bool `yaml:"watch,omitempty" json:"watch,omitempty"`
	// Every is how often afsync asks, a duration such as "1m" (the
	// default) and at least MinWatchEvery. Salesforce reports changes for
	// windows a minute wide or more: polls more often than that ask
	// overlapping windows, and each change is still handed over once.
	Every string `yaml:"every,omitempty" json:"every,omitempty"`
	// OnDelete is what a paired record deleted in Salesforce (not merged)
	// does: DeleteRecreate (the default) or DeleteUnpair.
	OnDelete DeletePolicy `yaml:"on_delete,omitempty" json:"on_delete,omitempty"`
}

// DeletePolicy is what a paired CRM record deleted in Salesforce does.
type DeletePolicy string

// The deletion policies.
const (
	// DeleteRecreate creates the record again at the person's next sync.
	DeleteRecreate DeletePolicy = "recreate"
	// DeleteUnpair leaves the person without a record, and reports them
	// skipped at each sync, until the record is restored or the pairing
	// cleared in Award Force (record_id_field). It needs a way to remember
	// the pairing: external_id or record_id_field.
	DeleteUnpair DeletePolicy = "unpair"
)

// AwardForceDeletions configures what a user deleted in Award Force does.
type AwardForceDeletions struct {
	// Stamp, when set, writes a static value to the user's CRM record (found
	// by external_id, which it needs); nothing is ever deleted in the CRM.
	Stamp *StaticValue `yaml:"stamp,omitempty" json:"stamp,omitempty"`
}

// StaticValue is a CRM field and the value to write to it.
type StaticValue struct {
	CRM   string `yaml:"crm" json:"crm"`
	Value string `yaml:"value" json:"value"`
}

// How often the CRM watch asks Salesforce for changes: by default, and at
// most (two API calls each time).
const (
	DefaultWatchEvery = time.Minute
	MinWatchEvery     = 10 * time.Second
)

// Watches reports whether the CRM watch is on.
func (s *Spec) Watches() bool {
	if s.CRMChanges.Watch != nil {
		return *s.CRMChanges.Watch
	}
	for _, f := range s.Fields {
		if !f.Static() && f.fromCRM() && f.AwardForce != s.UniqueIdentifier.AwardForce {
			return true
		}
	}
	return false
}

// WatchEvery is how often the CRM watch asks Salesforce for changes.
func (s *Spec) WatchEvery() time.Duration {
	if d, err := time.ParseDuration(s.CRMChanges.Every); err == nil && d >= MinWatchEvery {
		return d
	}
	return DefaultWatchEvery
}

// OnCRMDelete is the deletion policy, with its default.
func (s *Spec) OnCRMDelete() DeletePolicy {
	if s.CRMChanges.OnDelete == "" {
		return DeleteRecreate
	}
	return s.CRMChanges.OnDelete
}

// Options are the seed's four options. Options 1–3 run on registration (and on
// backfill and manual syncs); option 4 runs on profile updates.
type Options struct {
	// GetDetailsFromCRM (option 1) pulls CRM values into the Award Force profile.
	GetDetailsFromCRM bool `yaml:"get_details_from_crm" json:"get_details_from_crm"`
	// CreateIfMissing (option 2) creates the CRM record when none matches.
	CreateIfMissing bool `yaml:"create_if_missing" json:"create_if_missing"`
	// UpdateIfExists (option 3) updates the matching CRM record.
	UpdateIfExists bool `yaml:"update_if_exists" json:"update_if_exists"`
	// UpdateOnProfileChange (option 4) updates (or creates, with option 2) the
	// CRM record when the user updates their profile.
	UpdateOnProfileChange bool `yaml:"update_on_profile_change" json:"update_on_profile_change"`
}

// Identifier is the unique identifier pair, e.g. {awardforce: email, crm: Email}.
type Identifier struct {
	// AwardForce is a built-in field name or a profile field slug.
	AwardForce string `yaml:"awardforce" json:"awardforce"`
	// CRM is the CRM field's API name.
	CRM string `yaml:"crm" json:"crm"`
}

// ExternalID names the CRM external-id field that stores the Award Force slug.
type ExternalID struct {
	// CRM is the field's API name; empty means no external id.
	CRM string `yaml:"crm,omitempty" json:"crm,omitempty"`
}

// FieldPair maps an Award Force field to a CRM field, or writes a static Value
// to a CRM field (then AwardForce is empty).
type FieldPair struct {
	// AwardForce is a built-in field name or a profile field slug; empty for a static value.
	AwardForce string `yaml:"awardforce,omitempty" json:"awardforce,omitempty"`
	// CRM is the CRM field's API name.
	CRM string `yaml:"crm" json:"crm"`
	// Value is the static value written to CRM when AwardForce is empty.
	Value string `yaml:"value,omitempty" json:"value,omitempty"`
	// Direction says which way values flow; empty means to_crm.
	Direction Direction `yaml:"direction,omitempty" json:"direction,omitempty"`
	// Overwrite says when a non-empty target is overwritten; empty means always
	// for mapped fields and if_empty for static values.
	Overwrite Overwrite `yaml:"overwrite,omitempty" json:"overwrite,omitempty"`
	// Prefer, for a pair whose direction is both, says which side wins when
	// both changed the value since the last sync: awardforce (the default)
	// or crm.
	Prefer Side `yaml:"prefer,omitempty" json:"prefer,omitempty"`
	// Map translates Award Force values into CRM values on their way to
	// the CRM (e.g. a role name into a picklist value); values it does not
	// list become MapDefault, or go as they are when that is empty. Values
	// pulled from the CRM take the reverse way (a CRM value the map does
	// not list comes as it is).
	Map map[string]string `yaml:"map,omitempty" json:"map,omitempty"`
	// MapDefault is the CRM value of Award Force values Map does not list.
	MapDefault string `yaml:"map_default,omitempty" json:"map_default,omitempty"`
	// Truncate cuts a value longer than the CRM field (its describe length)
	// instead of letting Salesforce refuse the record (STRING_TOO_LONG).
	Truncate bool `yaml:"truncate,omitempty" json:"truncate,omitempty"`
}

// Side is one of the two systems.
type Side string

// The sides.
const (
	SideAwardForce Side = "awardforce"
	SideCRM        Side = "crm"
)

// EffectivePrefer is Prefer with its default applied.
func (f FieldPair) EffectivePrefer() Side {
	if f.Prefer == "" {
		return SideAwardForce
	}
	return f.Prefer
}

// Static reports whether the pair writes a static value rather than an Award Force field.
func (f FieldPair) Static() bool { return f.AwardForce == "" }

// EffectiveDirection is Direction with its default applied.
func (f FieldPair) EffectiveDirection() Direction {
	if f.Direction == "" {
		return DirectionToCRM
	}
	return f.Direction
}

// EffectiveOverwrite is Overwrite with its default applied.
func (f FieldPair) EffectiveOverwrite() Overwrite {
	switch {
	case f.Overwrite != "":
		return f.Overwrite
	case f.Static():
		return OverwriteIfEmpty
	default:
		return OverwriteAlways
	}
}

func (f FieldPair) toCRM() bool {
	d := f.EffectiveDirection()
	return d == DirectionToCRM || d == DirectionBoth
}

func (f FieldPair) fromCRM() bool {
	d := f.EffectiveDirection()
	return d == DirectionFromCRM || d == DirectionBoth
}

// Direction says which way a pair's values flow.
type Direction string

// The directions a pair can take.
const (
	DirectionToCRM   Direction = "to_crm"   // Award Force → CRM (the default)
	DirectionFromCRM Direction = "from_crm" // CRM → Award Force
	DirectionBoth    Direction = "both"     // to the CRM, and fills an empty Award Force value
)

// Overwrite says when a target that already holds a value is overwritten.
type Overwrite string

// The overwrite policies.
const (
	OverwriteAlways  Overwrite = "always"   // write whenever the values differ
	OverwriteIfEmpty Overwrite = "if_empty" // write only into an empty target
)

// The Award Force built-in user fields; every other Award Force name is a profile field slug.
const (
	AFEmail     = "email"
	AFFirstName = "first_name"
	AFLastName  = "last_name"
	AFMobile    = "mobile"
)

// BuiltinAFFields lists the Award Force built-in user fields.
func BuiltinAFFields() []string { return []string{AFEmail, AFFirstName, AFLastName, AFMobile} }

// IsBuiltinAFField reports whether name is an Award Force built-in user field.
func IsBuiltinAFField(name string) bool {
	switch name {
	case AFEmail, AFFirstName, AFLastName, AFMobile:
		return true
	}
	return false
}

// Default returns the seed's usual setup: Contact, email ↔ Email,
// first_name → FirstName, last_name → LastName, mobile → Phone; options 2, 3
// and 4 on, option 1 off.
func Default() *Spec {
	return &Spec{
		Options:          defaultOptions(),
		Object:           "Contact",
		UniqueIdentifier: Identifier{AwardForce: AFEmail, CRM: "Email"},
		Fields: []FieldPair{
			{AwardForce: AFFirstName, CRM: "FirstName", Direction: DirectionToCRM, Overwrite: OverwriteAlways},
			{AwardForce: AFLastName, CRM: "LastName", Direction: DirectionToCRM, Overwrite: OverwriteAlways},
			{AwardForce: AFMobile, CRM: "Phone", Direction: DirectionToCRM, Overwrite: OverwriteAlways},
		},
	}
}

func defaultOptions() Options {
	return Options{CreateIfMissing: true, UpdateIfExists: true, UpdateOnProfileChange: true}
}

// Load reads and parses the spec file at path; an empty path gives Default().
func Load(path string) (*Spec, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pairing spec: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse decodes a YAML spec strictly (unknown keys are errors), applies the
// defaults and validates it statically. All problems are reported at once in a
// *ValidationError.
func Parse(data []byte) (*Spec, error) {
	var ps problems
	s := decodeYAML(data, &ps)
	s.applyDefaults()
	s.validate(&ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return s, nil
}

// Validate runs Parse's static checks on a spec built in code or received in a payload.
func (s *Spec) Validate() error {
	var ps problems
	s.validate(&ps)
	return ps.err()
}

// applyDefaults fills each pair's Direction and Overwrite, and account's
// match.
func (s *Spec) applyDefaults() {
	if s.Account != nil && s.Account.Match == "" {
		s.Account.Match = DefaultAccountMatch
	}
	for i := range s.Fields {
		f := &s.Fields[i]
		if f.Direction == "" {
			f.Direction = f.EffectiveDirection()
		}
		if f.Overwrite == "" {
			f.Overwrite = f.EffectiveOverwrite()
		}
	}
}

// CRMFields lists the CRM fields to SELECT for Decide: Id, the identifier,
// every pair's CRM field (static values included, since if_empty reads
// them) and, with account, AccountId, without duplicates (compared
// case-insensitively), in spec order.
func (s *Spec) CRMFields() []string {
	out := []string{"Id"}
	add := func(name string) {
		if name == "" {
			return
		}
		for _, have := range out {
			if strings.EqualFold(have, name) {
				return
			}
		}
		out = append(out, name)
	}
	add(s.UniqueIdentifier.CRM)
	for _, f := range s.Fields {
		add(f.CRM)
	}
	if s.Account != nil {
		add(AccountField)
	}
	return out
}

// ProfileFieldSlugs lists the Award Force profile field slugs the spec uses
// (identifier, pairs, record_id_field and account; built-ins excluded), without
// duplicates, in spec order. Empty means the user list's data is enough and no
// per-user GET is needed.
func (s *Spec) ProfileFieldSlugs() []string {
	var out []string
	add := func(name string) {
		if name == "" || IsBuiltinAFField(name) {
			return
		}
		for _, have := range out {
			if have == name {
				return
			}
		}
		out = append(out, name)
	}
	add(s.UniqueIdentifier.AwardForce)
	for _, f := range s.Fields {
		add(f.AwardForce)
	}
	add(s.RecordIDField)
	if s.Account != nil {
		add(s.Account.AwardForce)
	}
	return out
}

// Fingerprint is a short stable hash (12 hex digits) of the canonical spec:
// defaults applied, so equivalent specs share it and any change alters it. Use
// it in workflow IDs such as "one backfill per spec".
func (s *Spec) Fingerprint() string {
	c := *s
	c.Fields = make([]FieldPair, len(s.Fields))
	copy(c.Fields, s.Fields)
	if s.Account != nil {
		a := *s.Account
		c.Account = &a
	}
	c.applyDefaults()
	if c.AcrossIntegrations == ARecordEach {
		c.AcrossIntegrations = "" // the default, named or not
	}
	data, err := json.Marshal(c)
	if err != nil { // plain strings and bools: cannot happen
		panic(fmt.Sprintf("pairing: marshal spec: %v", err))
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:6])
}

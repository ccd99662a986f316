package pairing

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

var (
	customObjectRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*__c$`)
	// CRM names are interpolated into SOQL, where they cannot be escaped.
	crmNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*[A-Za-z0-9]$|^[A-Za-z]$`)
	afNameRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
)

const identifierFix = "the unique identifier pair must be present, e.g. {awardforce: email, crm: Email}"

// validate appends the spec's static problems to ps.
func (s *Spec) validate(ps *problems) {
	switch {
	case s.Object == "":
		ps.add("object", "object is missing",
			"set object: Contact, Lead, or a custom object's API name ending in __c")
	case s.Object != "Contact" && s.Object != "Lead" && !customObjectRE.MatchString(s.Object):
		fix := "use Contact, Lead, or a custom object's API name ending in __c, e.g. Applicant__c"
		for _, std := range []string{"Contact", "Lead"} {
			if strings.EqualFold(s.Object, std) {
				fix = "write " + std + " (API names are case-sensitive here)"
			}
		}
		ps.add("object", fmt.Sprintf("%q is not Contact, Lead or a custom object", s.Object), fix)
	}

	id := s.UniqueIdentifier
	switch {
	case id.AwardForce == "" && id.CRM == "":
		ps.add("unique_identifier", "unique_identifier is missing", identifierFix)
	case id.AwardForce == "":
		ps.add("unique_identifier.awardforce", "unique_identifier has no awardforce field", identifierFix)
	case id.CRM == "":
		ps.add("unique_identifier.crm", "unique_identifier has no crm field", identifierFix)
	}
	checkAFName(ps, "unique_identifier.awardforce", id.AwardForce)
	checkCRMName(ps, "unique_identifier.crm", id.CRM)

	if _, present := ps.lines["external_id"]; present && s.ExternalID.CRM == "" {
		ps.add("external_id.crm", "external_id has no crm field",
			"set external_id: {crm: AwardForce_Slug__c} (an external-id text field), or remove external_id")
	}
	checkCRMName(ps, "external_id.crm", s.ExternalID.CRM)

	if s.RecordIDField != "" {
		checkAFName(ps, "record_id_field", s.RecordIDField)
		switch {
		case IsBuiltinAFField(s.RecordIDField):
			ps.add("record_id_field", fmt.Sprintf("record_id_field cannot be the built-in field %q", s.RecordIDField),
				"create a text profile field in Award Force (e.g. salesforce_id) and give its slug")
		case s.RecordIDField == id.AwardForce:
			ps.add("record_id_field", "record_id_field is the unique identifier's Award Force field",
				"use a profile field of its own for the CRM record id")
		}
	}

	for i, f := range s.Fields {
		s.validatePair(ps, i, f)
	}
	s.validateTargets(ps)
	s.validateChanges(ps)
	s.validateAccount(ps)
	if r := s.PhoneRegion; r != "" && !validRegion(r) {
		ps.add("phone_region", fmt.Sprintf("%q is not a region phone numbers belong to", r),
			"write a two-letter ISO 3166 code in capitals, e.g. GB, US or AU")
	}
	switch s.AcrossIntegrations {
	case "", ARecordEach, OneRecord:
	default:
		ps.add("across_integrations", fmt.Sprintf("%q is not an across_integrations policy", s.AcrossIntegrations),
			"use a_record_each (the default: the same identifier in two integrations on one org is two people) or one_record (one person in several programmes, one record)")
	}
	switch s.DuplicateRules {
	case "", DuplicatesRespect, DuplicatesAllowSave:
	default:
		ps.add("duplicate_rules", fmt.Sprintf("%q is not a duplicate rules policy", s.DuplicateRules),
			"use respect (the default: a record a duplicate rule refuses is reported with the duplicates Salesforce names) or allow_save (save past Alert rules; Block rules still refuse)")
	}

	if s.Object == "Lead" && s.Options.CreateIfMissing && !s.writesOnCreate("Company") {
		ps.addAlways("fields", "a Lead cannot be created without Company, and no pair writes it",
			"add a static value {crm: Company, value: <organisation>} or a pair {awardforce: <field>, crm: Company}, or set options.create_if_missing: false")
	}
}

func (s *Spec) validatePair(ps *problems, i int, f FieldPair) {
	key := fmt.Sprintf("fields[%d]", i)
	if f.CRM == "" {
		ps.add(key+".crm", "the pair has no crm field", "set crm to the CRM field's API name, e.g. crm: FirstName")
	}
	checkCRMName(ps, key+".crm", f.CRM)
	switch {
	case f.AwardForce != "" && f.Value != "":
		ps.add(key, "the pair has both awardforce and value",
			"keep awardforce to map an Award Force field, or value for a static value, not both")
	case f.AwardForce == "" && f.Value == "":
		ps.add(key, "the pair has neither awardforce nor a value",
			"add awardforce: <field> to map an Award Force field, or value: <text> for a static value")
	}
	checkAFName(ps, key+".awardforce", f.AwardForce)

	switch f.EffectiveDirection() {
	case DirectionToCRM:
	case DirectionFromCRM, DirectionBoth:
		if f.Static() && f.Value != "" {
			ps.add(key+".direction", fmt.Sprintf("a static value is only written to the CRM, direction %s is impossible", f.Direction),
				"remove direction (or write direction: to_crm)")
		} else if f.AwardForce != "" && f.AwardForce == s.UniqueIdentifier.AwardForce {
			ps.add(key+".direction", fmt.Sprintf("the unique identifier %s is never pulled from the CRM", f.AwardForce),
				"set direction: to_crm, or remove the pair")
		}
	default:
		ps.add(key+".direction", fmt.Sprintf("%q is not a direction", f.Direction),
			"use to_crm (the default), from_crm or both")
	}
	switch {
	case f.Prefer == "":
	case f.Prefer != SideAwardForce && f.Prefer != SideCRM:
		ps.add(key+".prefer", fmt.Sprintf("%q is not a side", f.Prefer), "use awardforce (the default) or crm")
	case f.EffectiveDirection() != DirectionBoth:
		ps.add(key+".prefer", "prefer decides between two sides that both changed a value: only a pair whose direction is both has two",
			"remove prefer, or set direction: both")
	}
	switch f.EffectiveOverwrite() {
	case OverwriteAlways, OverwriteIfEmpty:
	default:
		ps.add(key+".overwrite", fmt.Sprintf("%q is not an overwrite policy", f.Overwrite),
			"use always (the default for mapped fields) or if_empty (the default for static values)")
	}
	s.validateValueRules(ps, key, f)
}

// validateValueRules checks a pair's map, map_default and truncate.
func (s *Spec) validateValueRules(ps *problems, key string, f FieldPair) {
	dir := f.EffectiveDirection()
	if f.Static() && (f.Map != nil || f.MapDefault != "") {
		ps.add(key+".map", "a static value needs no map: it is written as it is", "remove map and map_default, or write the value you want")
	}
	if f.MapDefault != "" && f.Map == nil {
		ps.add(key+".map_default", "map_default is the value of Award Force values the map does not list, and there is no map",
			"add a map, e.g. `map: {Judge: Reviewer}`, or remove map_default")
	}
	if f.MapDefault != "" && dir == DirectionFromCRM {
		ps.add(key+".map_default", "map_default applies on the way to the CRM, and this pair only pulls from it",
			"remove map_default (CRM values the map does not list are pulled as they are)")
	}
	from := make([]string, 0, len(f.Map))
	for k := range f.Map {
		from = append(from, k)
	}
	sort.Strings(from)
	back := map[string]string{} // CRM value → the Award Force value mapped to it
	for _, k := range from {
		v := f.Map[k]
		switch {
		case k == "":
			ps.add(key+".map", "the map has an empty Award Force value", "remove it: an empty value is never written")
		case v == "":
			ps.add(fmt.Sprintf("%s.map[%q]", key, k), fmt.Sprintf("%q maps to nothing", k), "give it a CRM value, or remove it")
		case dir != DirectionToCRM && back[v] != "":
			ps.add(fmt.Sprintf("%s.map[%q]", key, k), fmt.Sprintf("%q and %q both map to %q, so a %q pulled from the CRM has two meanings", back[v], k, v, v),
				"map each Award Force value to its own CRM value, or set direction: to_crm")
		default:
			back[v] = k
		}
	}
	if f.Truncate && dir == DirectionFromCRM {
		ps.add(key+".truncate", "truncate cuts values on their way to the CRM, and this pair only pulls from it", "remove truncate")
	}
}

// validateTargets reports CRM fields written from two sources and Award Force
// fields filled from two sources.
func (s *Spec) validateTargets(ps *problems) {
	crmTargets := map[string]string{} // lower-case CRM name → key path of its first writer
	claimCRM := func(key, name string) {
		if name == "" {
			return
		}
		l := strings.ToLower(name)
		if first, ok := crmTargets[l]; ok {
			fix := "remove one of them: a CRM field takes a single source"
			if first == "unique_identifier.crm" {
				fix = "remove this pair: the unique identifier pair already writes " + name
			}
			ps.add(key, fmt.Sprintf("CRM field %s is already written by %s", name, first), fix)
			return
		}
		crmTargets[l] = key
	}
	claimCRM("unique_identifier.crm", s.UniqueIdentifier.CRM)
	claimCRM("external_id.crm", s.ExternalID.CRM)
	if s.Account != nil && s.Object == "Contact" {
		claimCRM("account", AccountField)
	}

	afTargets := map[string]string{}
	claimAF := func(key, name string) {
		if name == "" {
			return
		}
		if first, ok := afTargets[name]; ok {
			ps.add(key, fmt.Sprintf("Award Force field %s is already filled by %s", name, first),
				"remove one of them: an Award Force field takes a single source")
			return
		}
		afTargets[name] = key
	}
	claimAF("record_id_field", s.RecordIDField)

	for i, f := range s.Fields {
		key := fmt.Sprintf("fields[%d]", i)
		if f.toCRM() {
			claimCRM(key+".crm", f.CRM)
		}
		if !f.Static() && f.fromCRM() && f.AwardForce != s.UniqueIdentifier.AwardForce {
			claimAF(key+".awardforce", f.AwardForce)
		}
	}
}

// validateChanges checks crm_changes and awardforce_deletions.
func (s *Spec) validateChanges(ps *problems) {
	c := s.CRMChanges
	if c.Every != "" {
		d, err := time.ParseDuration(c.Every)
		switch {
		case err != nil:
			ps.add("crm_changes.every", fmt.Sprintf("%q is not a duration", c.Every), "write a duration such as 1m, 5m or 1h")
		case d < MinWatchEvery:
			ps.add("crm_changes.every", fmt.Sprintf("every %s is more often than afsync asks Salesforce (each poll costs two API calls)", d),
				"write "+MinWatchEvery.String()+" or more; 1m (the default) costs 120 calls an hour")
		}
	}
	switch c.OnDelete {
	case "", DeleteRecreate:
	case DeleteUnpair:
		if s.RecordIDField == "" {
			ps.add("crm_changes.on_delete", "unpair must remember which record was the person's, and the spec keeps its id nowhere",
				"set record_id_field (the Award Force field that holds the record id), or use on_delete: recreate")
		}
	default:
		ps.add("crm_changes.on_delete", fmt.Sprintf("%q is not a deletion policy", c.OnDelete),
			"use recreate (the default: the next sync creates the record again) or unpair (the person stays without one, reported)")
	}
	if st := s.AwardForceDeletions.Stamp; st != nil {
		switch {
		case st.CRM == "":
			ps.add("awardforce_deletions.stamp.crm", "the stamp names no CRM field", "set crm: to the field to stamp, e.g. Description")
		case st.Value == "":
			ps.add("awardforce_deletions.stamp.value", "the stamp has no value", "set value: to what the field should say, e.g. Deleted in Award Force")
		}
		checkCRMName(ps, "awardforce_deletions.stamp.crm", st.CRM)
		if s.ExternalID.CRM == "" {
			ps.add("awardforce_deletions.stamp", "a deleted user's record is found by its external id, and the spec has none",
				"set external_id: {crm: AwardForce_Slug__c}, or remove the stamp")
		}
	}
}

// validateAccount checks the account key: a Contact's, naming the Award
// Force field and, when given, a valid Account field.
func (s *Spec) validateAccount(ps *problems) {
	a := s.Account
	if a == nil {
		return
	}
	if s.Object != "" && s.Object != "Contact" {
		ps.add("account", fmt.Sprintf("account links Contacts to their Accounts, and the object is %s", s.Object),
			"remove account, or set object: Contact")
	}
	if a.AwardForce == "" {
		ps.add("account.awardforce", "account names no Award Force field",
			"set awardforce: to the Award Force field that names the user's organisation, e.g. awardforce: Employer")
	}
	checkAFName(ps, "account.awardforce", a.AwardForce)
	checkCRMName(ps, "account.match", a.Match)
	if strings.EqualFold(a.Match, "Id") {
		ps.add("account.match", "account.match names the Account field holding the organisation, and Id holds no organisation",
			"use Name (the default) or an external-id field of Account, e.g. AwardForce_Org__c")
	}
}

// writesOnCreate reports whether a create can set the CRM field name.
func (s *Spec) writesOnCreate(name string) bool {
	if strings.EqualFold(s.UniqueIdentifier.CRM, name) || strings.EqualFold(s.ExternalID.CRM, name) {
		return true
	}
	for _, f := range s.Fields {
		if f.toCRM() && strings.EqualFold(f.CRM, name) {
			return true
		}
	}
	return false
}

func checkCRMName(ps *problems, key, name string) {
	if name == "" || crmNameRE.MatchString(name) {
		return
	}
	ps.add(key, fmt.Sprintf("%q is not a valid CRM API field name", name),
		"use the field's API name from Salesforce Setup (letters, digits and underscores, starting with a letter), e.g. FirstName or AwardForce_Slug__c")
}

func checkAFName(ps *problems, key, name string) {
	if name == "" {
		return
	}
	for _, b := range BuiltinAFFields() {
		if name != b && strings.EqualFold(name, b) {
			ps.add(key, fmt.Sprintf("%q is not an Award Force field: built-in names are lower case", name),
				"write "+b)
			return
		}
	}
	if !afNameRE.MatchString(name) {
		ps.add(key, fmt.Sprintf("%q is not a valid Award Force field name", name),
			"use a built-in field (email, first_name, last_name, mobile) or a profile field slug from GET /field?resource=users")
	}
}

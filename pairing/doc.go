// Package pairing holds the integration spec that pairs Award Force users with
// Salesforce records, its loading and validation, and Decide: the pure function
// that turns one user and the CRM records matching them into what to write.
//
// # The spec
//
// A spec is YAML (see testdata/example.yaml). Default is used when none is given:
//
//	options:
//	  get_details_from_crm: false     # option 1: pull CRM values into the AF profile (registration)
//	  create_if_missing: true         # option 2: create the CRM record when none matches (registration)
//	  update_if_exists: true          # option 3: update the matching CRM record (registration)
//	  update_on_profile_change: true  # option 4: update the CRM record when the profile changes
//	object: Contact                   # Contact, Lead, or a custom object ending in __c
//	unique_identifier: {awardforce: email, crm: Email}   # required
//	external_id: {crm: AwardForce_Slug__c}  # optional: stores the AF slug; makes creates idempotent (upsert)
//	record_id_field: salesforce_id          # optional: AF profile field that receives the CRM record id
//	fields:
//	  - {awardforce: first_name, crm: FirstName}
//	  - {awardforce: last_name, crm: LastName}
//	  - {awardforce: mobile, crm: Phone, direction: to_crm, overwrite: always}
//	  - {crm: LeadSource, value: Award Force}   # a static value
//	  - {awardforce: Category, crm: Type__c, map: {Student: Learner}, map_default: Other}
//	  - {awardforce: JobTitle, crm: Title, truncate: true}
//	phone_region: GB                  # reads CRM phones without a country code as GB numbers
//	crm_changes: {every: 1m, on_delete: recreate}   # the CRM watch (README: Changes made in Salesforce)
//	awardforce_deletions: {stamp: {crm: Description, value: Deleted in Award Force}}
//	duplicate_rules: allow_save       # save past the org's Alert duplicate rules (default: respect)
//	account: {awardforce: Employer, match: Name, create: true}   # Contacts only: link each to its Account
//
// Options left out keep Default's values (1 off; 2, 3 and 4 on). Award Force
// fields are the built-ins email, first_name, last_name and mobile, or profile
// field slugs. A pair's direction is to_crm (the default), from_crm or both; its
// overwrite policy is always (the default for mapped fields) or if_empty (the
// default for static values, which are always written to the CRM).
//
// duplicate_rules says how creates and updates meet the org's duplicate
// rules. With respect (the default) a record a rule refuses
// (DUPLICATES_DETECTED) is that user's permanent refusal, never retried and
// never failing the others, with Salesforce's message and the ids of the
// duplicates it named. With allow_save every write carries
// Sforce-Duplicate-Rule-Header: allowSave=true, so rules whose action is
// Alert let the record be saved; rules whose action is Block still refuse.
//
// account links each Contact to the Account its user's organisation names:
// awardforce is the Award Force field holding the organisation, match the
// Account field holding the same value (Name, the default, compared
// case-insensitively as SOQL does, or an external-id field of Account), and
// create makes the Account (Name, and the match field, set to the
// organisation) when none matches; without it the Contact is left without
// one. The workflow finds the Accounts (Context.Account) and Decide writes
// AccountId as a to_crm pair with overwrite always would. Check needs the
// Account describe too (RelatedObjects): the match field must exist and be
// Name or an external id (Unique and case-insensitive is best), and with
// create nothing else may be required on an Account.
//
// Parse rejects unknown keys and every statically wrong setting at once, each
// problem naming its key path, line and fix (see ValidationError). Spec.Check
// then validates the spec against the CRM object's describe and Award Force's
// profile field slugs.
//
// # Decide
//
// Decide is deterministic and its changes follow the spec's field order.
//
//   - A trigger whose options are all off is skipped before anything else
//     (Handles reports this, so a workflow can avoid the lookups).
//   - An empty unique identifier (after trimming) is skipped ("user has no email");
//     more than one matching record is ambiguous, with the candidate ids and
//     nothing else.
//   - Registration, backfill and manual syncs apply options 1–3: no match creates
//     when create_if_missing is on, else skips; one match yields CRM updates when
//     update_if_exists is on and Award Force pulls when get_details_from_crm is on
//     (both off: skip).
//   - A profile update applies option 4: off skips; one match yields CRM updates
//     (never pulls of field values); no match creates when create_if_missing is on.
//   - A create sets every to_crm/both pair with a non-empty Award Force value,
//     every static value, the identifier and, when configured, the external id
//     (the Award Force slug).
//   - Updates (to_crm and both pairs, statics): an empty Award Force value never
//     blanks the CRM; always writes when the values differ; if_empty writes only
//     into an empty CRM field. The action is update when a CRM change exists,
//     else no_change.
//   - Pulls (from_crm; both, which only fills an empty Award Force value): an
//     empty CRM value never blanks Award Force; always and if_empty as above; the
//     identifier is never pulled.
//   - record_id_field: whenever one matching record is acted on (update or
//     no_change, any trigger) and the id stored in Award Force differs, a pull of
//     the record id (Source "Id"). After a create the id is unknown to Decide: the
//     workflow stores the new id itself.
//   - Values are compared after trimming spaces; the identifier pair and pairs
//     whose Award Force side is email compare case-insensitively, everything else
//     exactly. Values written are trimmed.
//   - map translates Award Force values on their way to the CRM (unlisted ones
//     take map_default, or go as they are without it) and CRM values back on
//     their way to Award Force (the map must be one-to-one for pairs that
//     pull); comparisons are made through it. Check refuses a map, a
//     map_default or a static value that a restricted picklist would refuse,
//     and a map without map_default into one.
//   - With RulesFieldFormats (Context.Rules; the lanes and dry runs use it):
//     a value longer than its CRM field (Context.Lengths, from the describe)
//     is cut when the pair has truncate, else flagged in Change.Note; a
//     phone pulled into mobile is made E.164 (phone_region reads numbers
//     without a country code), and one that cannot be is left out, with the
//     reason, in Decision.SkippedFields, the rest of the user's values still
//     written; a mobile and a CRM phone that are the same number are no change.
//   - A crm_change trigger (DecideIn, the CRM watch) pulls what the CRM owns
//     and settles both pairs by who changed since the last sync (prefer on a
//     conflict, listed in Decision.Conflicts).
//   - account (a spec with it, Context.Account set): a create sets AccountId
//     to the one Account found or made (after the pairs, before the external
//     id), an update writes it when it differs (an id and its 15-character
//     form are the same), the Change's Note naming the organisation. No
//     organisation, or no Account found and none made, leaves AccountId as
//     it is. Several Accounts make the user ambiguous, with their ids as the
//     candidates and nothing written, when a create or an update would link
//     one, unless the Contact belongs to one of them already (then the rest
//     is written). A dry run's Account that account.create would make shows
//     as After "(new Account: <organisation>)".
//
// Every type here is plain data with JSON tags so that it travels in Temporal
// payloads. The package does no I/O besides reading a spec file.
package pairing

package pairing

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const accountHead = head + "fields:\n  - {awardforce: last_name, crm: LastName}\n"

func TestAccountKeyParses(t *testing.T) {
	s, err := Parse([]byte(accountHead + "account: {awardforce: Employer, create: true}\n"))
	require.NoError(t, err)
	require.NotNil(t, s.Account)
	assert.Equal(t, AccountLink{AwardForce: "Employer", Match: "Name", Create: true}, *s.Account, "match defaults to Name")
	assert.Equal(t, []string{"Id", "Email", "LastName", "AccountId"}, s.CRMFields(), "the lookup reads AccountId")
	assert.Equal(t, []string{"Employer"}, s.ProfileFieldSlugs(), "the organisation is read from the profile")
	assert.Equal(t, []string{"Account"}, s.RelatedObjects())

	ext, err := Parse([]byte(accountHead + "account:\n  awardforce: Employer\n  match: AwardForce_Org__c\n"))
	require.NoError(t, err)
	assert.Equal(t, AccountLink{AwardForce: "Employer", Match: "AwardForce_Org__c"}, *ext.Account)
}

// A spec without account hashes and travels as before the key existed;
// with it, the key changes the fingerprint, and match: Name is its default.
func TestAccountKeyLeavesOlderSpecsAlone(t *testing.T) {
	assert.Equal(t, "a678ae942c72", Default().Fingerprint())
	data, err := json.Marshal(Default())
	require.NoError(t, err)
	assert.NotContains(t, string(data), "account")
	assert.Nil(t, Default().RelatedObjects())

	implicit, err := Parse([]byte(accountHead + "account: {awardforce: Employer}\n"))
	require.NoError(t, err)
	explicit, err := Parse([]byte(accountHead + "account: {awardforce: Employer, match: Name, create: false}\n"))
	require.NoError(t, err)
	without, err := Parse([]byte(accountHead))
	require.NoError(t, err)
	creating, err := Parse([]byte(accountHead + "account: {awardforce: Employer, create: true}\n"))
	require.NoError(t, err)
	assert.Equal(t, implicit.Fingerprint(), explicit.Fingerprint())
	assert.NotEqual(t, implicit.Fingerprint(), without.Fingerprint())
	assert.NotEqual(t, implicit.Fingerprint(), creating.Fingerprint())

	unset := *implicit
	unset.Account = &AccountLink{AwardForce: "Employer"}
	assert.Equal(t, implicit.Fingerprint(), unset.Fingerprint(), "an unset match hashes as Name")
	assert.Empty(t, unset.Account.Match, "Fingerprint must not mutate the spec")

	var back Spec
	data, err = json.Marshal(creating)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, creating, &back, "the key travels in payloads")
}

func TestAccountKeyProblems(t *testing.T) {
	tests := []struct {
		name, yaml, key string
		line            int
		msg, fix        string
	}{
		{"not a Contact", "object: Lead\nunique_identifier: {awardforce: email, crm: Email}\nfields:\n  - {crm: Company, value: X}\naccount: {awardforce: Employer}\n",
			"account", 5, "account links Contacts to their Accounts, and the object is Lead", "remove account, or set object: Contact"},
		{"no Award Force field", accountHead + "account: {create: true}\n",
			"account.awardforce", 5, "account names no Award Force field", "awardforce: Employer"},
		{"empty", accountHead + "account:\n",
			"account.awardforce", 5, "account names no Award Force field", "awardforce: Employer"},
		{"unknown key", accountHead + "account:\n  awardforce: Employer\n  matches: Name\n",
			"account.matches", 7, `unknown key "matches" in account`, `did you mean "match"? valid keys in account are: awardforce, match, create`},
		{"not a boolean", accountHead + "account:\n  awardforce: Employer\n  create: yes please\n",
			"account.create", 7, `account.create must be true or false, found "yes please"`, "`create: true` or `create: false`"},
		{"bad Award Force name", accountHead + "account: {awardforce: Email}\n",
			"account.awardforce", 5, `"Email" is not an Award Force field: built-in names are lower case`, "write email"},
		{"bad field name", accountHead + "account: {awardforce: Employer, match: Org-Id}\n",
			"account.match", 5, `"Org-Id" is not a valid CRM API field name`, "letters, digits and underscores"},
		{"match Id", accountHead + "account: {awardforce: Employer, match: Id}\n",
			"account.match", 5, "Id holds no organisation", "use Name (the default) or an external-id field"},
		{"a pair writes AccountId too", accountHead + "  - {awardforce: AccountRef, crm: AccountId}\naccount: {awardforce: Employer}\n",
			"fields[1].crm", 5, "CRM field AccountId is already written by account", "remove one of them"},
		{"not a mapping", accountHead + "account: Employer\n",
			"account", 5, "account must be a mapping of keys, found the value \"Employer\"", "awardforce, match, create"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			p := problemAt(t, err, tc.key)
			assert.Contains(t, p.Message, tc.msg)
			assert.Contains(t, p.Fix, tc.fix)
			assert.Equal(t, tc.line, p.Line)
		})
	}
}

func accountDescribe(extra ...CRMField) CRMObject {
	return describe("Account", append([]CRMField{
		{Name: "Id", Type: "id", Length: 18},
		{Name: "Name", Type: "string", Length: 255, Createable: true, Updateable: true},
		{Name: "Industry", Type: "picklist", Length: 255, Createable: true, Updateable: true, Nillable: true},
		{Name: "AwardForce_Org__c", Type: "string", Length: 255, Createable: true, Updateable: true, Nillable: true, ExternalID: true, Unique: true},
		{Name: "Region__c", Type: "string", Length: 40, Createable: true, Updateable: true, Nillable: true},
	}, extra...))
}

func contactWithAccount() CRMObject {
	c := contactDescribe()
	c.Fields["AccountId"] = CRMField{Name: "AccountId", Type: "reference", Length: 18, Createable: true, Updateable: true, Nillable: true}
	return c
}

func TestCheckAccount(t *testing.T) {
	parse := func(account string) *Spec { return mustParse(t, accountHead+account) }
	t.Run("passes with Name or an external id", func(t *testing.T) {
		for _, a := range []string{
			"account: {awardforce: Employer, create: true}\n",
			"account: {awardforce: Employer, match: awardforce_org__c, create: true}\n",
			"account: {awardforce: first_name}\n",
		} {
			require.NoError(t, parse(a).Check(contactWithAccount(), []string{"Employer"}, accountDescribe()), a)
		}
	})
	for _, tc := range []struct {
		name, account string
		contact       CRMObject
		related       []CRMObject
		slugs         []string
		key, msg, fix string
	}{
		{"the Account describe missing", "account: {awardforce: Employer}\n", contactWithAccount(), nil, nil,
			"account", "needs the Account describe", "describe Account along with Contact"},
		{"the match field missing", "account: {awardforce: Employer, match: AwardForce_Org_c}\n", contactWithAccount(), []CRMObject{accountDescribe()}, nil,
			"account.match", "Account has no field AwardForce_Org_c", "did you mean AwardForce_Org__c?"},
		{"the match field no external id", "account: {awardforce: Employer, match: Region__c}\n", contactWithAccount(), []CRMObject{accountDescribe()}, nil,
			"account.match", "Account.Region__c is not an external-id field", "tick External ID"},
		{"a required Account field", "account: {awardforce: Employer, create: true}\n", contactWithAccount(),
			[]CRMObject{accountDescribe(CRMField{Name: "Tier__c", Type: "string", Length: 10, Createable: true})}, nil,
			"account.create", "Account requires Tier__c on create, and afsync sets only Name", "give Tier__c a default value in Salesforce, or set account.create: false"},
		{"Name not createable", "account: {awardforce: Employer, create: true}\n", contactWithAccount(),
			[]CRMObject{accountDescribe(CRMField{Name: "Name", Type: "string", Length: 255})}, nil,
			"account.create", "Account.Name is not createable", "set account.create: false"},
		{"no AccountId on the object", "account: {awardforce: Employer}\n", contactDescribe(), []CRMObject{accountDescribe()}, nil,
			"account", "Contact has no field AccountId", "remove account"},
		{"the profile field missing", "account: {awardforce: Employr}\n", contactWithAccount(), []CRMObject{accountDescribe()}, []string{"Employer"},
			"account.awardforce", `Award Force has no profile field "Employr"`, "did you mean Employer?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := parse(tc.account)
			var err error
			if tc.slugs != nil {
				err = s.Check(tc.contact, tc.slugs, tc.related...)
			} else {
				err = s.CheckCRM(tc.contact, tc.related...)
			}
			p := problemAt(t, err, tc.key)
			assert.Contains(t, p.Message, tc.msg)
			assert.Contains(t, p.Fix, tc.fix)
		})
	}
	t.Run("a required field is fine without create", func(t *testing.T) {
		acct := accountDescribe(CRMField{Name: "Tier__c", Type: "string", Length: 10, Createable: true})
		require.NoError(t, parse("account: {awardforce: Employer}\n").CheckCRM(contactWithAccount(), acct))
	})
	t.Run("specs without account need no Account describe", func(t *testing.T) {
		require.NoError(t, Default().CheckCRM(contactWithAccount()))
	})
}

// Decide links the Contact to the Account the workflow found, like a
// to_crm pair whose overwrite is always: an unknown, missing or ambiguous
// Account never changes AccountId, and several Accounts make the user
// ambiguous rather than guessed.
func TestDecideLinksTheAccount(t *testing.T) {
	spec := func(o Options) *Spec {
		s := withPairs(o, FieldPair{AwardForce: "last_name", CRM: "LastName"})
		s.Account = &AccountLink{AwardForce: "Employer", Match: "Name", Create: true}
		return s
	}
	found := func(ids ...string) *Account { return &Account{Organisation: " Acme Ltd ", IDs: ids} }
	user := prof("email", "a@x.org", "last_name", "Lee", "Employer", "Acme Ltd")
	contact := func(account string) []CRMRecord {
		return []CRMRecord{rec("003A", "Email", "a@x.org", "LastName", "Lee", "AccountId", account)}
	}
	const acme, acme15, other = "001000000000ACMEAA", "001000000000ACM", "001000000000OTHRAA"
	tests := []struct {
		name    string
		spec    *Spec
		trigger Trigger
		account *Account
		matches []CRMRecord
		want    Decision
		reason  string
	}{
		{"resolved and different: AccountId changes", spec(writeOnly), TriggerBackfill, found(acme), contact(other),
			Decision{Action: ActionUpdate, RecordID: "003A", CRM: []Change{
				{Field: "AccountId", Source: "Employer", Before: other, After: acme, Note: `Account "Acme Ltd" (by Name)`}}}, "1 Contact field(s) differ"},
		{"resolved into an empty AccountId", spec(writeOnly), TriggerProfileUpdate, found(acme), contact(""),
			Decision{Action: ActionUpdate, RecordID: "003A", CRM: []Change{
				{Field: "AccountId", Source: "Employer", After: acme, Note: `Account "Acme Ltd" (by Name)`}}}, ""},
		{"the same Account: no change", spec(writeOnly), TriggerBackfill, found(acme), contact(acme),
			Decision{Action: ActionNoChange, RecordID: "003A"}, "up to date"},
		{"the same Account in its 15-character form: no change", spec(writeOnly), TriggerBackfill, found(acme), contact(acme15),
			Decision{Action: ActionNoChange, RecordID: "003A"}, ""},
		{"no organisation: AccountId left alone", spec(writeOnly), TriggerBackfill, &Account{Organisation: "  "}, contact(other),
			Decision{Action: ActionNoChange, RecordID: "003A"}, ""},
		{"no Account handed over: AccountId left alone", spec(writeOnly), TriggerBackfill, nil, contact(other),
			Decision{Action: ActionNoChange, RecordID: "003A"}, ""},
		{"none matches and none is made: AccountId left alone", spec(writeOnly), TriggerBackfill, found(), contact(other),
			Decision{Action: ActionNoChange, RecordID: "003A"}, ""},
		{"a create links the Account, before the external id", func() *Spec { s := spec(writeOnly); s.ExternalID.CRM = "AwardForce_Slug__c"; return s }(),
			TriggerRegistration, &Account{Organisation: "Acme Ltd", IDs: []string{acme}, New: true}, nil,
			Decision{Action: ActionCreate, CRM: []Change{
				{Field: "Email", Source: "email", After: "a@x.org"},
				{Field: "LastName", Source: "last_name", After: "Lee"},
				{Field: "AccountId", Source: "Employer", After: acme, Note: `Account "Acme Ltd", created (account.create)`},
				{Field: "AwardForce_Slug__c", Source: SourceSlug, After: "AbCdEfGh"}}}, ""},
		{"a create without an Account", spec(writeOnly), TriggerRegistration, found(), nil,
			Decision{Action: ActionCreate, CRM: []Change{
				{Field: "Email", Source: "email", After: "a@x.org"},
				{Field: "LastName", Source: "last_name", After: "Lee"}}}, ""},
		{"a plan shows the Account to be made", spec(writeOnly), TriggerBackfill, &Account{Organisation: "Acme Ltd", New: true}, contact(other),
			Decision{Action: ActionUpdate, RecordID: "003A", CRM: []Change{
				{Field: "AccountId", Source: "Employer", Before: other, After: "(new Account: Acme Ltd)", Note: `Account "Acme Ltd", to be created (account.create)`}}}, ""},
		{"several Accounts: a create is ambiguous", spec(writeOnly), TriggerRegistration, found(acme, other), nil,
			Decision{Action: ActionAmbiguous, CandidateIDs: []string{acme, other}}, "2 Accounts match the user's Employer (by Name)"},
		{"several Accounts: an update is ambiguous", spec(writeOnly), TriggerBackfill, found(acme, other), contact(""),
			Decision{Action: ActionAmbiguous, RecordID: "003A", CandidateIDs: []string{acme, other}}, "merge them in Salesforce"},
		{"several Accounts, the Contact in one of them: the rest is written", spec(writeOnly), TriggerBackfill, found(acme, other),
			[]CRMRecord{rec("003A", "Email", "a@x.org", "LastName", "Leigh", "AccountId", other)},
			Decision{Action: ActionUpdate, RecordID: "003A", CRM: []Change{{Field: "LastName", Source: "last_name", Before: "Leigh", After: "Lee"}}}, ""},
		{"several Accounts do not matter when nothing is written", spec(pullOnly), TriggerBackfill, found(acme, other), contact(""),
			Decision{Action: ActionNoChange, RecordID: "003A"}, "update_if_exists (option 3) is off"},
		{"the Contact stays ambiguous first", spec(writeOnly), TriggerBackfill, found(acme), []CRMRecord{rec("003A"), rec("003B")},
			Decision{Action: ActionAmbiguous, CandidateIDs: []string{"003A", "003B"}}, "2 Contact records"},
		{"a spec without account ignores it", withPairs(writeOnly, FieldPair{AwardForce: "last_name", CRM: "LastName"}), TriggerBackfill, found(acme), contact(other),
			Decision{Action: ActionNoChange, RecordID: "003A"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Context{Trigger: tc.trigger, Account: tc.account}
			for _, decide := range []func(Context, Profile, []CRMRecord) Decision{tc.spec.DecideWith, tc.spec.DecideIn} {
				got := decide(c, user, tc.matches)
				if tc.reason != "" {
					assert.Contains(t, got.Reason, tc.reason)
				}
				assert.NotContains(t, got.Reason, "Acme", "reasons carry no values")
				got.Reason = ""
				assert.Equal(t, tc.want, got)
			}
		})
	}

	// A spec without account decides as it did before, whatever the context.
	plain := withPairs(writeOnly, FieldPair{AwardForce: "last_name", CRM: "LastName"})
	for _, m := range [][]CRMRecord{nil, contact(other)} {
		assert.Equal(t, plain.Decide(TriggerBackfill, user, m), plain.DecideWith(Context{Trigger: TriggerBackfill, Account: found(acme, other)}, user, m))
	}
}

package pairing

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slugged is the default spec with an external id holding the slug.
func slugged() *Spec {
	s := Default()
	s.ExternalID = ExternalID{CRM: "AwardForce_Slug__c"}
	return s
}

func identityCtx(t Trigger) Context { return Context{Trigger: t, Rules: RulesIdentity} }

func TestAnEmailChangeReachesThePairedRecord(t *testing.T) {
	// The lane found the record by the record id or the slug the user is
	// paired with: it still holds the old address.
	p := prof("email", "new.address@x.org", "first_name", "Ada", "last_name", "Lee")
	r := rec("003A", "Email", "old.address@x.org", "FirstName", "Ada", "LastName", "Lee", "AwardForce_Slug__c", p.Slug)
	for _, s := range []*Spec{Default(), slugged()} {
		d := s.DecideIn(identityCtx(TriggerProfileUpdate), p, []CRMRecord{r})
		require.Equal(t, ActionUpdate, d.Action, d.Reason)
		assert.Equal(t, []Change{{Field: "Email", Source: "email", Before: "old.address@x.org", After: "new.address@x.org"}}, d.CRM)
		assert.Equal(t, "003A", d.RecordID)
	}
	// Older rule sets never wrote the identifier on an update (the bug).
	d := Default().DecideIn(Context{Trigger: TriggerProfileUpdate, Rules: RulesChangeBaselines}, p, []CRMRecord{r})
	assert.Equal(t, ActionNoChange, d.Action)
}

func TestAnIdentifierThatDiffersOnlyInCaseIsNotRewritten(t *testing.T) {
	p := prof("email", "Ada@X.org", "first_name", "Ada")
	r := rec("003A", "Email", "ada@x.org", "FirstName", "Ada")
	d := Default().DecideIn(identityCtx(TriggerProfileUpdate), p, []CRMRecord{r})
	assert.Equal(t, ActionNoChange, d.Action, "Salesforce and Award Force compare addresses case-insensitively")
}

func TestAnIdentifierEditedInTheCRMIsPutBack(t *testing.T) {
	// Award Force's address is the person's own (unique among live users);
	// the record found by its id is given it back.
	s := slugged()
	p := prof("email", "ada@x.org", "first_name", "Ada")
	r := rec("003A", "Email", "typo@x.org", "FirstName", "Ada", "AwardForce_Slug__c", p.Slug)
	d := s.DecideIn(identityCtx(TriggerManual), p, []CRMRecord{r})
	require.Equal(t, ActionUpdate, d.Action)
	assert.Equal(t, "Email", d.CRM[0].Field)
	assert.Equal(t, "ada@x.org", d.CRM[0].After)
	assert.Empty(t, d.AwardForce, "the identifier is never pulled into Award Force")
}

func TestARecordFoundByIdentifierIsAdopted(t *testing.T) {
	s := slugged()
	p := prof("email", "ada@x.org", "first_name", "Ada")
	r := rec("003A", "Email", "ada@x.org", "FirstName", "Ada") // made before afsync: no slug
	d := s.DecideIn(identityCtx(TriggerBackfill), p, []CRMRecord{r})
	require.Equal(t, ActionUpdate, d.Action)
	assert.Equal(t, []Change{{Field: "AwardForce_Slug__c", Source: SourceSlug, After: p.Slug}}, d.CRM)
	// Once it holds the slug, there is nothing more to write.
	r.Values["AwardForce_Slug__c"] = p.Slug
	assert.Equal(t, ActionNoChange, s.DecideIn(identityCtx(TriggerBackfill), p, []CRMRecord{r}).Action)
	// Adoption is an update: with update_if_exists off, nothing is written.
	pull := slugged()
	pull.Options = Options{GetDetailsFromCRM: true, CreateIfMissing: true}
	r.Values["AwardForce_Slug__c"] = ""
	assert.Empty(t, pull.DecideIn(identityCtx(TriggerBackfill), p, []CRMRecord{r}).CRM)
}

func TestAFreedAddressNeverHandsSomeoneElsesRecordToANewcomer(t *testing.T) {
	// A newcomer registers with an address someone else gave up; that
	// person's record still holds it (their change has not reached it).
	newcomer := prof("email", "freed@x.org", "first_name", "Nia", "last_name", "New")
	theirs := rec("003OLD", "Email", "freed@x.org", "FirstName", "Ola", "LastName", "Old", "AwardForce_Slug__c", "OldOwner")

	t.Run("the record's external id names its owner", func(t *testing.T) {
		d := slugged().DecideIn(identityCtx(TriggerRegistration), newcomer, []CRMRecord{theirs})
		require.Equal(t, ActionCreate, d.Action, d.Reason)
		assert.Contains(t, d.Reason, "003OLD")
		assert.Contains(t, d.Reason, "another person")
		assert.Contains(t, d.CRM, Change{Field: "AwardForce_Slug__c", Source: SourceSlug, After: newcomer.Slug})
		assert.Contains(t, d.CRM, Change{Field: "FirstName", Source: "first_name", After: "Nia"})
	})
	t.Run("the lanes remember whose it is", func(t *testing.T) {
		plain := rec("003OLD", "Email", "freed@x.org", "FirstName", "Ola", "LastName", "Old")
		c := identityCtx(TriggerRegistration)
		c.Others = []string{"003OLD"}
		d := Default().DecideIn(c, newcomer, []CRMRecord{plain})
		require.Equal(t, ActionCreate, d.Action)
		assert.Empty(t, d.RecordID)
		// A 15-character id names the same record.
		c.Others = []string{"003000000000OLD"}
		plain.ID = "003000000000OLDAAA"
		assert.Equal(t, ActionCreate, Default().DecideIn(c, newcomer, []CRMRecord{plain}).Action)
	})
	t.Run("without create_if_missing it is skipped, never taken", func(t *testing.T) {
		s := slugged()
		s.Options.CreateIfMissing = false
		d := s.DecideIn(identityCtx(TriggerRegistration), newcomer, []CRMRecord{theirs})
		assert.Equal(t, ActionSkip, d.Action)
		assert.Contains(t, d.Reason, "another person")
	})
	t.Run("the user's own record among others is theirs", func(t *testing.T) {
		own := rec("003OWN", "Email", "freed@x.org", "FirstName", "Nia", "LastName", "New", "AwardForce_Slug__c", newcomer.Slug)
		d := slugged().DecideIn(identityCtx(TriggerRegistration), newcomer, []CRMRecord{theirs, own})
		assert.Equal(t, ActionNoChange, d.Action, d.Reason)
		assert.Equal(t, "003OWN", d.RecordID)
	})
	t.Run("older rule sets took it over (the bug)", func(t *testing.T) {
		d := slugged().DecideIn(Context{Trigger: TriggerRegistration, Rules: RulesChangeBaselines}, newcomer, []CRMRecord{theirs})
		assert.Equal(t, ActionUpdate, d.Action)
		assert.Equal(t, "003OLD", d.RecordID)
	})
}

func TestAnIdentityChangeKeepsIfEmptyAndStaticValues(t *testing.T) {
	s := slugged()
	s.Fields = append(s.Fields,
		FieldPair{CRM: "LeadSource", Value: "Award Force"},
		FieldPair{AwardForce: "JobTitle", CRM: "Title", Overwrite: OverwriteIfEmpty})
	p := prof("email", "new@x.org", "first_name", "Ada", "JobTitle", "Analyst")
	r := rec("003A", "Email", "old@x.org", "FirstName", "Ada", "LeadSource", "Web", "Title", "Director", "AwardForce_Slug__c", p.Slug)
	d := s.DecideIn(identityCtx(TriggerProfileUpdate), p, []CRMRecord{r})
	require.Equal(t, ActionUpdate, d.Action)
	assert.Equal(t, []Change{{Field: "Email", Source: "email", Before: "old@x.org", After: "new@x.org"}}, d.CRM,
		"an existing record is never written as a create: if_empty and static values hold")
}

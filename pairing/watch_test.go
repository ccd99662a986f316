package pairing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	lastSync = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	before   = lastSync.Add(-time.Hour)
	after    = lastSync.Add(time.Hour)
	later    = lastSync.Add(2 * time.Hour)
)

const integration = "005000000000001AAA"

// watched is a Contact spec with a both pair (mobile ↔ Phone) and a
// from_crm pair (JobTitle ← Title): it watches the CRM.
func watched(prefer Side) *Spec {
	return withPairs(writeOnly,
		FieldPair{AwardForce: "last_name", CRM: "LastName"},
		FieldPair{AwardForce: "mobile", CRM: "Phone", Direction: DirectionBoth, Prefer: prefer},
		FieldPair{AwardForce: "JobTitle", CRM: "Title", Direction: DirectionFromCRM},
	)
}

func changedAt(p Profile, at time.Time) Profile { p.Updated = at; return p }

func modified(r CRMRecord, at time.Time, by string) CRMRecord {
	r.Modified, r.ModifiedBy = at, by
	return r
}

func TestTheWatchIsOnWhenAPairReadsTheCRM(t *testing.T) {
	assert.False(t, Default().Watches(), "the default spec writes only")
	assert.True(t, watched("").Watches())
	off := watched("")
	no := false
	off.CRMChanges.Watch = &no
	assert.False(t, off.Watches())
	assert.True(t, off.Handles(TriggerProfileUpdate))
	assert.False(t, off.Handles(TriggerCRMChange))
	assert.True(t, watched("").Handles(TriggerCRMChange))
	assert.Equal(t, time.Minute, watched("").WatchEvery())
}

func TestDecideInIsDecideForASpecThatDoesNotWatch(t *testing.T) {
	s := Default()
	p := prof("email", "a@x.org", "first_name", "A", "last_name", "Lee", "mobile", "+1")
	for _, m := range [][]CRMRecord{nil, {rec("003A", "LastName", "L")}, {rec("003A"), rec("003B")}} {
		for _, tr := range []Trigger{TriggerRegistration, TriggerProfileUpdate, TriggerBackfill, TriggerManual} {
			assert.Equal(t, s.Decide(tr, p, m), s.DecideIn(Context{Trigger: tr, LastSynced: lastSync}, p, m), "%s with %d matches", tr, len(m))
		}
	}
}

func TestAWatchedSpecPullsWhatTheCRMOwnsAtEverySync(t *testing.T) {
	s := watched("")
	p := prof("email", "a@x.org", "last_name", "Lee", "JobTitle", "Analyst")
	r := rec("003A", "Email", "a@x.org", "LastName", "Lee", "Title", "Director")
	d := s.DecideIn(Context{Trigger: TriggerProfileUpdate}, p, []CRMRecord{r})
	require.Len(t, d.AwardForce, 1, "a profile update pulls the CRM's title when the CRM is watched")
	assert.Equal(t, Change{Field: "JobTitle", Source: "Title", Before: "Analyst", After: "Director"}, d.AwardForce[0])
	// Decide, the rule set of older syncs, does not.
	assert.Empty(t, s.Decide(TriggerProfileUpdate, p, []CRMRecord{r}).AwardForce)
}

func TestACRMChangeNeverCreates(t *testing.T) {
	d := watched("").DecideIn(Context{Trigger: TriggerCRMChange}, prof("email", "a@x.org", "last_name", "Lee"), nil)
	assert.Equal(t, ActionSkip, d.Action)
	assert.Contains(t, d.Reason, "any more")
	assert.Equal(t, ActionSkip, Default().DecideIn(Context{Trigger: TriggerCRMChange}, prof("email", "a@x.org"), nil).Action,
		"a spec that does not watch skips CRM changes")
}

func TestABothPairTakesTheSideThatChanged(t *testing.T) {
	p := prof("email", "a@x.org", "last_name", "Lee", "mobile", "+447911123451")
	r := rec("003A", "Email", "a@x.org", "LastName", "Lee", "Phone", "+447911123452")
	pull := []Change{{Field: "mobile", Source: "Phone", Before: "+447911123451", After: "+447911123452"}}
	push := []Change{{Field: "Phone", Source: "mobile", Before: "+447911123452", After: "+447911123451"}}
	tests := []struct {
		name      string
		prefer    Side
		c         Context
		af        time.Time
		crm       time.Time
		crmBy     string
		wantCRM   []Change
		wantAF    []Change
		conflict  *Conflict
		wantOther string
	}{
		{"only the CRM changed since the last sync: it wins", "", Context{Trigger: TriggerBackfill, LastSynced: lastSync}, before, after, "005OTHER", nil, pull, nil, ""},
		{"only Award Force changed: it wins", "", Context{Trigger: TriggerCRMChange, LastSynced: lastSync}, after, before, "005OTHER", push, nil, nil, ""},
		{"both changed: awardforce is preferred by default", "", Context{Trigger: TriggerCRMChange, LastSynced: lastSync}, after, later, "005OTHER", push, nil,
			&Conflict{Field: "mobile ↔ Phone", Winner: SideAwardForce, Lost: "+447911123452"}, ""},
		{"both changed, prefer crm", SideCRM, Context{Trigger: TriggerProfileUpdate, LastSynced: lastSync}, later, after, "005OTHER", nil, pull,
			&Conflict{Field: "mobile ↔ Phone", Winner: SideCRM, Lost: "+447911123451"}, ""},
		{"afsync's own write is no CRM change", SideCRM, Context{Trigger: TriggerProfileUpdate, LastSynced: lastSync, IntegrationUser: integration}, after, later, integration, push, nil, nil, ""},
		{"neither changed: the trigger's side", "", Context{Trigger: TriggerCRMChange, LastSynced: lastSync}, before, before, "005OTHER", nil, pull, nil, ""},
		{"last sync unknown: the later edit wins (CRM)", "", Context{Trigger: TriggerBackfill}, before, after, "005OTHER", nil, pull, nil, ""},
		{"last sync unknown: the later edit wins (Award Force)", "", Context{Trigger: TriggerCRMChange}, later, after, "005OTHER", push, nil, nil, ""},
		// RulesChangeBaselines: Award Force changed when its version is newer
		// than the one the last sync paired, even if it is not newer than
		// the time that sync is known by (an edit made while it ran).
		{"baselines: an edit made while the last sync ran is a change, and a conflict", SideCRM,
			Context{Trigger: TriggerCRMChange, LastSynced: lastSync, LastVersion: before, Rules: RulesChangeBaselines}, lastSync, after, "005OTHER", nil, pull,
			&Conflict{Field: "mobile ↔ Phone", Winner: SideCRM, Lost: "+447911123451"}, ""},
		{"baselines: the version the last sync paired is no change", "",
			Context{Trigger: TriggerCRMChange, LastSynced: lastSync, LastVersion: after, Rules: RulesChangeBaselines}, after, later, "005OTHER", nil, pull, nil, ""},
		{"without baselines the same edit is no change", SideCRM,
			Context{Trigger: TriggerCRMChange, LastSynced: lastSync, LastVersion: before, Rules: RulesFieldFormats}, lastSync, after, "005OTHER", nil, pull, nil, ""},
		{"baselines with no version known: the time of the last sync", "",
			Context{Trigger: TriggerCRMChange, LastSynced: lastSync, Rules: RulesChangeBaselines}, after, later, "005OTHER", push, nil,
			&Conflict{Field: "mobile ↔ Phone", Winner: SideAwardForce, Lost: "+447911123452"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := watched(tc.prefer).DecideIn(tc.c, changedAt(p, tc.af), []CRMRecord{modified(r, tc.crm, tc.crmBy)})
			assert.Equal(t, tc.wantCRM, d.CRM)
			assert.Equal(t, tc.wantAF, d.AwardForce)
			if tc.conflict == nil {
				assert.Empty(t, d.Conflicts)
			} else {
				assert.Equal(t, []Conflict{*tc.conflict}, d.Conflicts)
			}
		})
	}
}

func TestWatchSettingsAreValidated(t *testing.T) {
	for yaml, key := range map[string]string{
		"crm_changes: {every: 5s}":         "crm_changes.every",
		"crm_changes: {every: soon}":       "crm_changes.every",
		"crm_changes: {on_delete: forget}": "crm_changes.on_delete",
		"external_id: {crm: AwardForce_Slug__c}\ncrm_changes: {on_delete: unpair}": "crm_changes.on_delete",
		"crm_changes: {watch: maybe}":                                      "crm_changes.watch",
		"awardforce_deletions: {stamp: {crm: Description}}":                "awardforce_deletions.stamp.value",
		"awardforce_deletions: {stamp: {crm: D, value: x}}":                "awardforce_deletions.stamp",
		"fields:\n  - {awardforce: last_name, crm: LastName, prefer: crm}": "fields[0].prefer",
	} {
		_, err := Parse([]byte(head + yaml + "\n"))
		problemAt(t, err, key)
	}
	s, err := Parse([]byte(head + "external_id: {crm: AwardForce_Slug__c}\nrecord_id_field: sf_id\ncrm_changes: {every: 5m, on_delete: unpair}\nawardforce_deletions: {stamp: {crm: Description, value: Deleted in Award Force}}\nfields:\n  - {awardforce: last_name, crm: LastName}\n  - {awardforce: mobile, crm: Phone, direction: both, prefer: crm}\n"))
	require.NoError(t, err)
	assert.Equal(t, 5*time.Minute, s.WatchEvery())
	assert.Equal(t, DeleteUnpair, s.OnCRMDelete())
	assert.True(t, s.Watches())
	assert.Equal(t, "Description", s.AwardForceDeletions.Stamp.CRM)
}

func TestTheWatchKeysLeaveAnOlderSpecsFingerprintAlone(t *testing.T) {
	// Backfill IDs derive from the fingerprint: a spec that uses none of
	// the new keys keeps the one it had.
	assert.Equal(t, "a678ae942c72", Default().Fingerprint())
}

package pairing

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The grid: every combination of the four options × every trigger × {no match,
// one identical, one stale, two matches} × {identifier present, empty}, checked
// against expectGrid, an oracle written independently of Decide.

type matchCase string

const (
	noMatch      matchCase = "0 matches"
	oneIdentical matchCase = "1 identical"
	oneStale     matchCase = "1 stale"
	twoMatches   matchCase = "2 matches"
)

var allTriggers = []Trigger{TriggerRegistration, TriggerProfileUpdate, TriggerBackfill, TriggerManual}

func gridSpec(o Options) *Spec {
	return &Spec{
		Options:          o,
		Object:           "Contact",
		UniqueIdentifier: Identifier{AwardForce: "email", CRM: "Email"},
		Fields: []FieldPair{
			{AwardForce: "first_name", CRM: "FirstName"},
			{AwardForce: "last_name", CRM: "LastName"},
			{AwardForce: "job_title", CRM: "Title", Direction: DirectionFromCRM},
			{CRM: "LeadSource", Value: "Award Force"},
		},
	}
}

func gridProfile(emptyID bool) Profile {
	p := Profile{Slug: "AbCdEfGh", Values: map[string]string{
		"email": "Ann@Example.org", "first_name": "Ann", "last_name": "Lee", "job_title": "Judge",
	}}
	if emptyID {
		p.Values["email"] = "  "
	}
	return p
}

// identical differs from the profile only in the case of its email.
var identicalRecord = CRMRecord{ID: "003IDENTICAL", Values: map[string]string{
	"Email": "ann@example.org", "FirstName": "Ann", "LastName": "Lee", "Title": "Judge", "LeadSource": "Award Force",
}}

// stale has an outdated LastName, another Title (pulled with option 1) and
// another LeadSource (kept: statics default to if_empty).
var staleRecord = CRMRecord{ID: "003STALE", Values: map[string]string{
	"Email": "ANN@example.org", "FirstName": "Ann", "LastName": "Leigh", "Title": "Chief Judge", "LeadSource": "Web",
}}

func gridMatches(m matchCase) []CRMRecord {
	switch m {
	case oneIdentical:
		return []CRMRecord{identicalRecord}
	case oneStale:
		return []CRMRecord{staleRecord}
	case twoMatches:
		return []CRMRecord{identicalRecord, staleRecord}
	}
	return nil
}

// expectGrid is the oracle, spelled out case by case.
func expectGrid(o Options, t Trigger, m matchCase, emptyID bool) Decision {
	var active bool
	if t == TriggerProfileUpdate {
		active = o.UpdateOnProfileChange
	} else {
		active = o.GetDetailsFromCRM || o.CreateIfMissing || o.UpdateIfExists
	}
	if !active || emptyID {
		return Decision{Action: ActionSkip}
	}
	if m == twoMatches {
		return Decision{Action: ActionAmbiguous, CandidateIDs: []string{"003IDENTICAL", "003STALE"}}
	}
	if m == noMatch {
		if !o.CreateIfMissing {
			return Decision{Action: ActionSkip}
		}
		return Decision{Action: ActionCreate, CRM: []Change{
			{Field: "Email", Source: "email", After: "Ann@Example.org"},
			{Field: "FirstName", Source: "first_name", After: "Ann"},
			{Field: "LastName", Source: "last_name", After: "Lee"},
			{Field: "LeadSource", Source: "static", After: "Award Force"},
		}}
	}
	writes, pulls := o.UpdateIfExists, o.GetDetailsFromCRM
	if t == TriggerProfileUpdate {
		writes, pulls = true, false
	}
	if !writes && !pulls {
		return Decision{Action: ActionSkip}
	}
	if m == oneIdentical {
		return Decision{Action: ActionNoChange, RecordID: "003IDENTICAL"}
	}
	d := Decision{Action: ActionNoChange, RecordID: "003STALE"}
	if writes {
		d.Action = ActionUpdate
		d.CRM = []Change{{Field: "LastName", Source: "last_name", Before: "Leigh", After: "Lee"}}
	}
	if pulls {
		d.AwardForce = []Change{{Field: "job_title", Source: "Title", Before: "Judge", After: "Chief Judge"}}
	}
	return d
}

func TestDecideGrid(t *testing.T) {
	n := 0
	for bits := 0; bits < 16; bits++ {
		o := Options{
			GetDetailsFromCRM:     bits&1 != 0,
			CreateIfMissing:       bits&2 != 0,
			UpdateIfExists:        bits&4 != 0,
			UpdateOnProfileChange: bits&8 != 0,
		}
		s := gridSpec(o)
		for _, trig := range allTriggers {
			for _, m := range []matchCase{noMatch, oneIdentical, oneStale, twoMatches} {
				for _, emptyID := range []bool{false, true} {
					name := fmt.Sprintf("opts=%d%d%d%d/%s/%s/emptyID=%t", b(o.GetDetailsFromCRM), b(o.CreateIfMissing), b(o.UpdateIfExists), b(o.UpdateOnProfileChange), trig, m, emptyID)
					n++
					got := s.Decide(trig, gridProfile(emptyID), gridMatches(m))
					want := expectGrid(o, trig, m, emptyID)
					assertDecision(t, name, want, got)
					assert.NotEmpty(t, got.Reason, name)
					if got.Action == ActionSkip && emptyID && s.Handles(trig) {
						assert.Equal(t, "user has no email", got.Reason, name)
					}
					if got.Action == ActionSkip && !emptyID && m == noMatch && s.Handles(trig) {
						assert.Contains(t, got.Reason, "create_if_missing (option 2)", name)
					}
					if got.Action == ActionSkip && trig == TriggerProfileUpdate && !o.UpdateOnProfileChange {
						assert.Contains(t, got.Reason, "update_on_profile_change (option 4)", name)
					}
				}
			}
		}
	}
	assert.Equal(t, 16*4*4*2, n)
}

func b(v bool) int {
	if v {
		return 1
	}
	return 0
}

// assertDecision compares everything but Reason, treating nil and empty lists alike.
func assertDecision(t *testing.T, name string, want, got Decision) {
	t.Helper()
	assert.Equal(t, want.Action, got.Action, "%s: action (reason %q)", name, got.Reason)
	assert.Equal(t, want.RecordID, got.RecordID, "%s: record id", name)
	assert.Equal(t, orEmpty(want.CandidateIDs), orEmpty(got.CandidateIDs), "%s: candidates", name)
	assert.Equal(t, orNone(want.CRM), orNone(got.CRM), "%s: CRM changes", name)
	assert.Equal(t, orNone(want.AwardForce), orNone(got.AwardForce), "%s: Award Force changes", name)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func orNone(c []Change) []Change {
	if c == nil {
		return []Change{}
	}
	return c
}

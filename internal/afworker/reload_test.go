package afworker

import (
	"strings"
	"testing"

	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// A reload tells added, removed and changed integrations apart: a changed
// one is one whose configuration or spec differs; what is new or changed
// is started, in the registry's order.
func TestAReloadTellsWhatChanged(t *testing.T) {
	spec, other := pairing.Default(), pairing.Default()
	other.Object = "Lead"
	cfg := config.Config{HTTPAddr: "127.0.0.1:8234", WebhookSigningKey: "k"}
	rotated := cfg
	rotated.WebhookSigningKey = "k2"
	served := func(id string, c config.Config, s *pairing.Spec) Served {
		return Served{Names: workflows.NamesOf(id), Config: c, Spec: s}
	}
	cur := []Served{served("default", cfg, spec), served("grants", cfg, spec), served("awards", cfg, spec), served("prizes", cfg, spec)}

	diff, fresh := diffServed(cur, []Served{served("grants", rotated, spec), served("fellows", cfg, spec), served("default", cfg, spec), served("prizes", cfg, other)})
	if got, want := diff.String(), "added fellows; removed awards; changed grants, prizes"; got != want {
		t.Fatalf("diff: %s, want %s", got, want)
	}
	var ids []string
	for _, s := range fresh {
		ids = append(ids, s.Names.Integration())
	}
	if got, want := ids, []string{"grants", "fellows", "prizes"}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("started: %v, want %v", got, want)
	}

	// The same registry read again (new spec values, equal) changes nothing.
	again := []Served{served("default", cfg, pairing.Default()), served("grants", cfg, pairing.Default()), served("awards", cfg, pairing.Default()), served("prizes", cfg, pairing.Default())}
	if diff, fresh := diffServed(cur, again); !diff.None() || len(fresh) != 0 || diff.String() != "no change" {
		t.Fatalf("the same registry: %s, %d started", diff, len(fresh))
	}
}

// One lane an org: two authenticated integrations reaching one org are
// refused, naming both, the org and the fix; integrations on orgs of their
// own are served, and so is one that depends on a served one, on its org,
// unless one of two pairing one object has an external id.
func TestTwoIntegrationsOnOneOrgAreRefused(t *testing.T) {
	const acme, beta = "00D000000000001AAA", "00D000000000002AAA"
	orgs := map[string]string{"awards": acme, "grants": beta, "fellows": acme, "prizes": acme}
	spec := func(field string) *pairing.Spec {
		s := pairing.Default()
		s.ExternalID.CRM = field
		return s
	}
	served := func(id, dependsOn string, s *pairing.Spec) Served {
		return Served{Names: workflows.NamesFor(id, dependsOn), Spec: s}
	}
	awards, grants := served("awards", "", spec("Awards_Slug__c")), served("grants", "", spec("Awards_Slug__c"))
	lead := spec("Fellows_Slug__c")
	lead.Object = "Lead"
	shared := spec("")
	shared.AcrossIntegrations = pairing.OneRecord
	for _, c := range []struct {
		name   string
		served []Served
		err    string
	}{
		{"two orgs", []Served{awards, grants}, ""},
		{"two authenticated on one org", []Served{awards, grants, served("fellows", "", spec(""))},
			"integrations awards and fellows both reach Salesforce org " + acme + ": each would pair people in a lane of its own"},
		{"dependents", []Served{served("awards", "", spec("")), grants, served("fellows", "awards", spec("")), served("prizes", "awards", lead)}, ""},
		{"a dependent of one not served", []Served{grants, served("fellows", "awards", spec(""))}, "integration fellows depends on awards, which is not served"},
		{"a dependent of a dependent", []Served{served("awards", "", spec("")), served("fellows", "awards", spec("")), served("prizes", "fellows", spec(""))},
			"integration prizes depends on fellows, itself dependent"},
		{"an external id on a shared object", []Served{awards, served("fellows", "awards", spec(""))},
			"integrations awards and fellows both pair Contact records of one org, and awards's spec keeps slugs in external_id Awards_Slug__c"},
		{"an external id on an object of its own", []Served{awards, served("fellows", "awards", lead)}, ""},
		{"one record across integrations, said by one spec", []Served{served("awards", "", spec("")), served("fellows", "awards", shared)},
			"integrations awards and fellows both pair Contact records of one org, but only fellows's spec has across_integrations: one_record"},
		{"one record across integrations, said by both", []Served{served("awards", "", shared), served("fellows", "awards", shared)}, ""},
	} {
		err := oneLanePerOrg(c.served, orgs)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
	}
	if err := oneLanePerOrg([]Served{awards, served("fellows", "", spec(""))}, orgs); err == nil || !strings.Contains(err.Error(), "give fellows depends_on: awards") {
		t.Errorf("the fix is named: %v", err)
	}
}

// An integration's Salesforce activities accept its dependents' specs: a
// dependent added, or its spec changed, restarts the integration it
// depends on.
func TestADependentChangesTheIntegrationItDependsOn(t *testing.T) {
	lead := pairing.Default()
	lead.Object = "Lead"
	awards := Served{Names: workflows.NamesOf("awards"), Spec: pairing.Default()}
	grants := Served{Names: workflows.NamesFor("grants", "awards"), Spec: lead}
	cur := bindDependents([]Served{awards})
	next := bindDependents([]Served{awards, grants})
	if len(next[0].dependents) != 1 || next[0].dependents[0] != lead {
		t.Fatalf("awards' dependents: %v", next[0].dependents)
	}
	if diff, _ := diffServed(cur, next); diff.String() != "added grants; changed awards" {
		t.Fatalf("adding a dependent: %s", diff)
	}
	if diff, _ := diffServed(next, bindDependents([]Served{awards, grants})); !diff.None() {
		t.Fatalf("the same again: %s", diff)
	}
}

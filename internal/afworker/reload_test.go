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

// One lane an org: two integrations reaching one org are refused, naming
// both and the org; integrations on orgs of their own are served.
func TestTwoIntegrationsOnOneOrgAreRefused(t *testing.T) {
	orgs := map[string]string{"awards": "00D000000000001AAA", "grants": "00D000000000002AAA", "fellows": "00D000000000001AAA"}
	if err := oneLanePerOrg([]string{"awards", "grants"}, orgs); err != nil {
		t.Fatal(err)
	}
	err := oneLanePerOrg([]string{"awards", "grants", "fellows"}, orgs)
	if err == nil || !strings.Contains(err.Error(), "integrations awards and fellows both reach Salesforce org 00D000000000001AAA") {
		t.Fatalf("two integrations on one org: %v", err)
	}
}

package sandbox

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/afsync/afsync/sandbox/afsim"
	"github.com/afsync/afsync/sandbox/sfsim"
)

func seeded(users int, seed uint64) (*afsim.Server, *sfsim.Server, SeedSummary) {
	af := afsim.New(afsim.Options{})
	sf := sfsim.New(sfsim.Options{})
	return af, sf, Seed(af, sf, SeedOptions{Users: users, Seed: seed})
}

func TestSeedIsRealisticAndReproducible(t *testing.T) {
	af, sf, sum := seeded(2000, 1)
	if sum.Users != 2000 || len(af.Users()) != 2000 {
		t.Fatalf("%d users seeded, summary %+v", len(af.Users()), sum)
	}
	if sum.NoEmail != 40 || sum.Duplicates != 20 {
		t.Errorf("no email %d (want 2%%), duplicates %d (want 1%%)", sum.NoEmail, sum.Duplicates)
	}
	if sum.Existing < 500 || sum.Existing > 700 {
		t.Errorf("%d already in Salesforce, want about 30%% of those with email", sum.Existing)
	}
	if sum.Stale == 0 || sum.CaseOnly == 0 {
		t.Errorf("want stale and case-only pairings: %+v", sum)
	}
	// Contacts: the existing ones, their duplicates, and CRM-only people.
	if n := len(sf.Records("Contact")); n != sum.Existing+sum.Duplicates+2000/10 {
		t.Errorf("%d contacts, summary %+v", n, sum)
	}
	upper := 0
	for _, r := range sf.Records("Contact") {
		if e, _ := r["Email"].(string); e != strings.ToLower(e) {
			upper++
		}
	}
	if upper == 0 {
		t.Error("no Contact has an email in another case")
	}

	af2, _, sum2 := seeded(2000, 1)
	if sum2 != sum {
		t.Errorf("same seed, different summary: %+v vs %+v", sum, sum2)
	}
	a, b := af.Users(), af2.Users()
	for i := range a {
		if a[i].Slug != b[i].Slug || a[i].Email != b[i].Email {
			t.Fatalf("same seed, different user %d: %s/%s vs %s/%s", i, a[i].Slug, a[i].Email, b[i].Slug, b[i].Email)
		}
	}
	_, _, other := seeded(2000, 2)
	if other == sum {
		t.Error("another seed gave the same data")
	}
}

// Award Force holds only E.164 mobiles, each one user's, and drop-down values
// among the field's options; the seed and bursts keep to that (afsim panics
// otherwise), however many people they make.
func TestSeedAndBurstKeepToWhatAwardForceHolds(t *testing.T) {
	af, _, sum := seeded(3000, 4)
	sb := &Sandbox{AwardForce: af}
	sb.Burst(context.Background(), Burst{Registrations: 300, Seed: 1})
	sb.Burst(context.Background(), Burst{Registrations: 300, Seed: 2})

	e164 := regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	seen := map[string]string{}
	industries := map[string]int{}
	mobiles, noEmail := 0, 0
	for _, u := range af.Users() {
		industries[u.Fields["Industry"]]++
		if u.Email == "" {
			noEmail++
			if u.Mobile == "" {
				t.Errorf("%s has neither email nor mobile", u.Slug)
			}
		}
		if u.Mobile == "" {
			continue
		}
		mobiles++
		if !e164.MatchString(u.Mobile) {
			t.Errorf("%s: mobile %q is not E.164", u.Slug, u.Mobile)
		}
		if other, dup := seen[u.Mobile]; dup {
			t.Errorf("%s and %s share the mobile %s", other, u.Slug, u.Mobile)
		}
		seen[u.Mobile] = u.Slug
	}
	if noEmail != sum.NoEmail || mobiles < 3600/2 {
		t.Errorf("%d without email (summary %d), %d with a mobile of 3600", noEmail, sum.NoEmail, mobiles)
	}
	if len(industries) != 6 || industries[""] == 0 {
		t.Errorf("want every Industry option and some users without one: %v", industries)
	}
}

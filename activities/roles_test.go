package activities

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/sandbox/afsim"
)

// RolesPage over real HTTP: a page's distinct roles, deleted users' too;
// asked about a slug, one user of that role, or none for a name.
func TestRolesPageReadsTheRolesUsersHold(t *testing.T) {
	sim := afsim.New(afsim.Options{Keys: map[string]bool{"key": true}})
	for i := range 150 {
		role := []string{"Entrant"}
		if i%50 == 0 {
			role = []string{"Judge", "Entrant"}
		}
		sim.AddUser(afsim.User{FirstName: "U", LastName: "Ser", Email: "u" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.org", Roles: role})
	}
	gone := sim.AddUser(afsim.User{FirstName: "G", LastName: "One", Email: "gone@example.org", Roles: []string{"Alumnus"}, Deleted: true})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := awardforce.New(awardforce.Config{BaseURL: srv.URL, APIKey: "key"})
	if err != nil {
		t.Fatal(err)
	}
	a := &AwardForce{Client: c}
	ctx := context.Background()
	names := func(p RolesPage) []string {
		var out []string
		for _, r := range p.Roles {
			if !awardforce.IsSlug(r.Slug) {
				t.Errorf("role %q has slug %q", r.Name, r.Slug)
			}
			out = append(out, r.Name)
		}
		slices.Sort(out)
		return out
	}

	p1, err := a.RolesPage(ctx, RolesPageInput{Page: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p1); !slices.Equal(got, []string{"Entrant", "Judge"}) || !p1.More {
		t.Errorf("page 1: %v more %v", got, p1.More)
	}
	p2, err := a.RolesPage(ctx, RolesPageInput{Page: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p2); !slices.Contains(got, "Alumnus") || p2.More {
		t.Errorf("page 2 (with the deleted user %s): %v more %v", gone.Slug, got, p2.More)
	}

	var judge string
	for _, r := range p1.Roles {
		if r.Name == "Judge" {
			judge = r.Slug
		}
	}
	bySlug, err := a.RolesPage(ctx, RolesPageInput{Page: 1, Role: judge})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(bySlug.Roles, func(r Role) bool { return r.Slug == judge && r.Name == "Judge" }) || bySlug.More {
		t.Errorf("by slug %s: %+v", judge, bySlug)
	}
	byName, err := a.RolesPage(ctx, RolesPageInput{Page: 1, Role: "Judge"})
	if err != nil {
		t.Fatal(err)
	}
	if len(byName.Roles) != 0 {
		t.Errorf("the role filter takes slugs: the name Judge matched %+v", byName.Roles)
	}
	if st := sim.Stats(); st.Requests != 4 {
		t.Errorf("%d requests, want one a call", st.Requests)
	}
}

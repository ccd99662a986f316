package activities

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/sandbox/afsim"
)

func TestAwardForceProfileRoundTrip(t *testing.T) {
	sim := afsim.New(afsim.Options{Keys: map[string]bool{"key": true}})
	sim.AddField(afsim.Field{Slug: "JobTitle", Type: "text", Label: "Job title"})
	u := sim.AddUser(afsim.User{Email: "Ada@Example.org", FirstName: "Ada", LastName: "Lovelace", Mobile: "+447700900001", Fields: map[string]string{"JobTitle": "Analyst"}})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := awardforce.New(awardforce.Config{BaseURL: srv.URL, APIKey: "key"})
	if err != nil {
		t.Fatal(err)
	}
	a := &AwardForce{Client: c}
	ctx := context.Background()

	p, err := a.GetUser(ctx, "ada@example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"email": "Ada@Example.org", "first_name": "Ada", "last_name": "Lovelace", "mobile": "+447700900001", "JobTitle": "Analyst"}
	if p.Slug != u.Slug {
		t.Fatalf("slug %q, want %q", p.Slug, u.Slug)
	}
	for k, v := range want {
		if p.Values[k] != v {
			t.Errorf("%s = %q, want %q", k, p.Values[k], v)
		}
	}

	_, err = a.UpdateUser(ctx, UpdateUserInput{Slug: u.Slug, Changes: []pairing.Change{
		{Field: "JobTitle", After: "Director"}, {Field: "mobile", After: "+447700900002"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := sim.User(u.Slug)
	if got.Fields["JobTitle"] != "Director" || got.Mobile != "+447700900002" || got.LastName != "Lovelace" {
		t.Fatalf("after update: %+v", got)
	}
	before := sim.Stats().Requests
	if _, err := a.UpdateUser(ctx, UpdateUserInput{Slug: u.Slug}); err != nil || sim.Stats().Requests != before {
		t.Fatalf("an empty update must cost no request (err %v)", err)
	}
	if fields, err := a.ProfileFieldSlugs(ctx); err != nil || len(fields) != 1 || fields[0] != "JobTitle" {
		t.Fatalf("profile fields %v %v", fields, err)
	}
}

func TestFindUserAnswersNotFoundWithoutAnError(t *testing.T) {
	sim := afsim.New(afsim.Options{Keys: map[string]bool{"key": true}})
	u := sim.AddUser(afsim.User{Email: "ada@example.org", FirstName: "Ada", LastName: "Lovelace"})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := awardforce.New(awardforce.Config{BaseURL: srv.URL, APIKey: "key"})
	if err != nil {
		t.Fatal(err)
	}
	a := &AwardForce{Client: c}
	got, err := a.FindUser(context.Background(), "ADA@example.org")
	if err != nil || !got.Found || got.Profile.Slug != u.Slug {
		t.Fatalf("find a user by email: %+v, %v", got, err)
	}
	got, err = a.FindUser(context.Background(), "stranger@example.org")
	if err != nil || got.Found {
		t.Fatalf("a stranger: %+v, %v; want not found and no error", got, err)
	}
}

package activities

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

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

// GetUsers reads each user at its moment, and one user Award Force does
// not know fails alone, classified as GetUser's error would be.
func TestGetUsersReadsEachAtItsMoment(t *testing.T) {
	sim := afsim.New(afsim.Options{Keys: map[string]bool{"key": true}})
	ada := sim.AddUser(afsim.User{Email: "ada@example.org", FirstName: "Ada", LastName: "Lovelace"})
	bea := sim.AddUser(afsim.User{Email: "bea@example.org", FirstName: "Bea", LastName: "Bell"})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := awardforce.New(awardforce.Config{BaseURL: srv.URL, APIKey: "key"})
	if err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&AwardForce{Client: c})
	now := time.Now()
	in := GetUsersInput{Slugs: []string{ada.Slug, "NoSuchUs", bea.Slug}, At: []time.Time{now, now.Add(300 * time.Millisecond), now.Add(600 * time.Millisecond)}}
	start := time.Now()
	v, err := env.ExecuteActivity((&AwardForce{}).GetUsers, in)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Fatalf("three reads due over 600 ms done in %v", took)
	}
	var out []UserRead
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].Profile.Slug != ada.Slug || out[2].Profile.Slug != bea.Slug || out[0].Failure != nil || out[2].Failure != nil {
		t.Fatalf("reads %+v", out)
	}
	_, single := (&AwardForce{Client: c}).GetUser(context.Background(), "NoSuchUs")
	var want *temporal.ApplicationError
	if !errors.As(single, &want) || out[1].Failure == nil || out[1].Failure.Type != want.Type() || out[1].Failure.NonRetryable != want.NonRetryable() {
		t.Fatalf("the unknown user's read: %+v, want GetUser's %v", out[1].Failure, single)
	}
	if got := sim.Stats().ByRoute["GET /user/{slug-or-email}"]; got != 4 {
		t.Fatalf("%d reads, want one a user (and GetUser's)", got)
	}
}

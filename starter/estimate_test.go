package main

import (
	"strings"
	"testing"
	"time"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// fieldsSpec maps a profile field and keeps the record id: one read and up
// to one write-back a user besides the list.
const fieldsSpec = `object: Contact
unique_identifier: {awardforce: email, crm: Email}
record_id_field: SfRecord
fields:
  - {awardforce: first_name, crm: FirstName}
  - {awardforce: last_name, crm: LastName}
  - {awardforce: Employer, crm: Department}
`

func TestABackfillEstimateCountsAwardForceRequests(t *testing.T) {
	withFields, err := pairing.Parse([]byte(fieldsSpec))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name                        string
		spec                        *pairing.Spec
		filter                      workflows.UserFilter
		dryRun                      bool
		users, limit                int
		pages, profiles, writeBacks int
		reads, most                 string
		timeoutDays                 int
		sentence                    []string
	}{
		{name: "the list alone", spec: pairing.Default(), users: 100_000,
			pages: 1_000, reads: "17 min", most: "17 min", timeoutDays: 30,
			sentence: []string{"100,000 users: 1,000 Award Force requests", "about 17 min at 60 requests a minute"}},
		{name: "profile fields and write-backs", spec: withFields, users: 10_000,
			pages: 100, profiles: 10_000, writeBacks: 10_000, reads: "2 h 48 min", most: "5 h 35 min", timeoutDays: 30,
			sentence: []string{"10,100 Award Force requests", "one a user for the profile fields", "adds up to 10,000 more requests: up to 5 h 35 min in all"}},
		{name: "a million users pass the usual bound", spec: withFields, users: 1_000_000,
			pages: 10_000, profiles: 1_000_000, writeBacks: 1_000_000, reads: "11 days 17 h", most: "23 days 6 h", timeoutDays: 47,
			sentence: []string{"1,000,000 users: 1,010,000 Award Force requests", "about 11 days 17 h"}},
		{name: "a limit caps the users", spec: withFields, users: 10_000, limit: 250,
			pages: 3, profiles: 250, writeBacks: 250, reads: "4 min", most: "8 min", timeoutDays: 30,
			sentence: []string{"250 users: 253 Award Force requests to read them (3 pages of the list"}},
		{name: "a dry run writes nothing back", spec: withFields, users: 600, dryRun: true,
			pages: 6, profiles: 600, reads: "10 min", most: "10 min", timeoutDays: 30},
		{name: "a sweep of deleted users reads the list only", spec: withFields, filter: workflows.UserFilter{Deleted: true}, users: 150,
			pages: 2, reads: "2 s", most: "2 s", timeoutDays: 30, sentence: []string{"(2 pages of the list)"}},
		{name: "no user still lists a page", spec: pairing.Default(), users: 0,
			pages: 1, reads: "1 s", most: "1 s", timeoutDays: 30, sentence: []string{"0 users: 1 Award Force request to read them (1 page of the list)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := estimateBackfill(tc.spec, tc.filter, tc.dryRun, tc.users, tc.limit, 60)
			if e.Pages != tc.pages || e.Profiles != tc.profiles || e.WriteBacks != tc.writeBacks {
				t.Errorf("requests: %d pages, %d profiles, %d write-backs; want %d, %d, %d", e.Pages, e.Profiles, e.WriteBacks, tc.pages, tc.profiles, tc.writeBacks)
			}
			if got := humanDuration(e.Reads()); got != tc.reads {
				t.Errorf("reads take %s, want %s", got, tc.reads)
			}
			if got := humanDuration(e.Most()); got != tc.most {
				t.Errorf("at most %s, want %s", got, tc.most)
			}
			if got := backfillTimeout(e); got != time.Duration(tc.timeoutDays)*24*time.Hour {
				t.Errorf("bound %s, want %d days", got, tc.timeoutDays)
			}
			if got := backfillTimeout(e); got < 2*e.Most() {
				t.Errorf("bound %s does not fit twice the longest estimate %s", got, e.Most())
			}
			for _, want := range tc.sentence {
				if !strings.Contains(e.String(), want) {
					t.Errorf("the estimate says:\n%s\nwant it to say %q", e, want)
				}
			}
		})
	}
}

func TestWithoutARateLimitTheEstimateCountsRequestsOnly(t *testing.T) {
	withFields, err := pairing.Parse([]byte(fieldsSpec))
	if err != nil {
		t.Fatal(err)
	}
	e := estimateBackfill(withFields, workflows.UserFilter{}, false, 1_000, 0, 0)
	if e.Reads() != 0 || e.Most() != 0 || backfillTimeout(e) != workflows.BackfillTimeout {
		t.Errorf("no limit: reads %s, most %s, bound %s", e.Reads(), e.Most(), backfillTimeout(e))
	}
	s := e.String()
	for _, want := range []string{"1,010 Award Force requests", "no Award Force rate limit is set", "write-backs add up to 1,000"} {
		if !strings.Contains(s, want) {
			t.Errorf("the estimate says:\n%s\nwant %q", s, want)
		}
	}
	if strings.Contains(s, "about") {
		t.Errorf("no limit, yet a duration: %s", s)
	}
}

func TestDurationsReadAsPeopleSayThem(t *testing.T) {
	for d, want := range map[time.Duration]string{
		40 * time.Second:                                "40 s",
		12*time.Minute + 20*time.Second:                 "12 min",
		2*time.Hour + 47*time.Minute:                    "2 h 47 min",
		3 * time.Hour:                                   "3 h",
		47 * time.Hour:                                  "47 h",
		3*24*time.Hour + 4*time.Hour:                    "3 days 4 h",
		30 * 24 * time.Hour:                             "30 days",
		29*time.Hour*24 + 23*time.Hour + 50*time.Minute: "30 days",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("%s reads %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

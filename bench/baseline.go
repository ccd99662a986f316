package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/sandbox"
)

// loopResult is what the plain loop measured.
type loopResult struct {
	Workers              int     `json:"baseline_workers"`
	Users                int     `json:"users"`
	Seconds              float64 `json:"seconds"`
	UsersPerSecond       float64 `json:"users_per_second"`
	SalesforceCallsPer1k float64 `json:"salesforce_calls_per_1000_users"`
	Failed               int     `json:"failed"`
}

// runLoop times the plain workers-way loop on a sandbox of its own, seeded
// as afsync's is.
func runLoop(ctx context.Context, o *options, workers int, out io.Writer) (loopResult, error) {
	sb, err := sandbox.Start(sandbox.Options{Seed: sandbox.SeedOptions{Users: o.users, Seed: o.seed}, Latency: o.latency, SalesforceDailyLimit: 10_000_000})
	if err != nil {
		return loopResult{}, err
	}
	defer sb.Close()
	return runBaseline(ctx, workers, sb, out)
}

// runBaseline pairs the sandbox's users with a plain loop and no durability:
// list the pages, then per user one SOQL query and one create or update,
// `workers` users at once. It is the yardstick the backfill is compared to.
func runBaseline(ctx context.Context, workers int, sb *sandbox.Sandbox, out io.Writer) (loopResult, error) {
	env := sb.Env()
	afc, err := awardforce.New(awardforce.Config{BaseURL: env[config.EnvAwardForceAPIURL], APIKey: env[config.EnvAwardForceAPIKey]})
	if err != nil {
		return loopResult{}, err
	}
	sfc, err := salesforce.New(salesforce.Config{LoginURL: env[config.EnvSalesforceLoginURL], ClientID: env[config.EnvSalesforceClientID], ClientSecret: env[config.EnvSalesforceClientSecret]})
	if err != nil {
		return loopResult{}, err
	}
	spec := pairing.Default()
	sb.AwardForce.ResetStats()
	sb.Salesforce.ResetStats()
	start := time.Now()
	var users []awardforce.User
	for page := 1; ; page++ {
		p, err := afc.ListUsers(ctx, awardforce.ListOptions{Page: page, PerPage: activities.PageSize, Order: "created_at", Dir: "asc"})
		if err != nil {
			return loopResult{}, err
		}
		users = append(users, p.Users...)
		if !p.HasMore() {
			break
		}
	}
	jobs := make(chan awardforce.User)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	fields := spec.CRMFields()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range jobs {
				if err := baselineOne(ctx, sfc, spec, fields, u); err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		}()
	}
	for _, u := range users {
		jobs <- u
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	sf := sb.Salesforce.Stats()
	r := loopResult{
		Workers: workers, Users: len(users), Seconds: round(elapsed, 2), UsersPerSecond: round(float64(len(users))/elapsed, 1),
		SalesforceCallsPer1k: round(float64(sf.APICalls)*1000/float64(len(users)), 2), Failed: failed,
	}
	fmt.Fprintf(out, "\nplain %d-way loop: %d users in %.2fs: %.1f users/s; %.2f Salesforce calls per 1,000 users; %d failed\n",
		workers, r.Users, r.Seconds, r.UsersPerSecond, r.SalesforceCallsPer1k, failed)
	return r, nil
}

func baselineOne(ctx context.Context, sfc *salesforce.Client, spec *pairing.Spec, fields []string, u awardforce.User) error {
	if strings.TrimSpace(u.Email) == "" {
		return nil
	}
	q := "SELECT " + strings.Join(fields, ", ") + " FROM Contact WHERE Email = " + salesforce.Quote(u.Email)
	recs, err := sfc.Query(ctx, q)
	if err != nil {
		return err
	}
	p := pairing.Profile{Slug: u.Slug, Values: map[string]string{pairing.AFEmail: u.Email, pairing.AFFirstName: u.FirstName, pairing.AFLastName: u.LastName, pairing.AFMobile: u.Mobile}}
	var matches []pairing.CRMRecord
	for _, r := range recs {
		vals := map[string]string{}
		for _, f := range fields {
			vals[f] = r.String(f)
		}
		matches = append(matches, pairing.CRMRecord{ID: r.ID(), Values: vals})
	}
	d := spec.Decide(pairing.TriggerBackfill, p, matches)
	values := map[string]any{}
	for _, c := range d.CRM {
		values[c.Field] = c.After
	}
	switch d.Action {
	case pairing.ActionCreate:
		_, err = sfc.Create(ctx, "Contact", values)
	case pairing.ActionUpdate:
		err = sfc.Update(ctx, "Contact", d.RecordID, values)
	}
	return err
}

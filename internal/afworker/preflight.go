package afworker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
)

// The APIs the start-up check waits for, as Wait.API names them.
const (
	APIAwardForce = "Award Force"
	APISalesforce = "Salesforce"
)

// Default backoff of the start-up check.
const (
	DefaultPreflightInitialDelay = time.Second
	DefaultPreflightMaxDelay     = time.Minute
)

// PreflightOptions tunes the start-up check's retries and says where its
// waits are reported. The zero value is the default.
type PreflightOptions struct {
	// InitialDelay is the first wait after a transient fault; each further
	// fault of the same API doubles it, up to MaxDelay. Defaults:
	// DefaultPreflightInitialDelay, DefaultPreflightMaxDelay.
	InitialDelay, MaxDelay time.Duration
	// Status, when set, follows the check (for /healthz).
	Status *Status
	// OnWait, when set, is called for every wait, before it starts.
	OnWait func(Wait)
	// Logger logs every wait ("Waiting for Award Force"); nil discards.
	Logger *slog.Logger
}

func (o PreflightOptions) delays() (initial, ceiling time.Duration) {
	initial, ceiling = o.InitialDelay, o.MaxDelay
	if initial <= 0 {
		initial = DefaultPreflightInitialDelay
	}
	if ceiling <= 0 {
		ceiling = DefaultPreflightMaxDelay
	}
	return initial, max(initial, ceiling)
}

// Preflight checks, before the worker polls, that both APIs accept the
// credentials and that the pairing spec fits the org's describes (its
// object's, and Account's when the spec links Contacts to Accounts) and the
// Award Force account's profile fields. Its errors name what to fix.
//
// Both APIs are checked at once. A transient fault (Award Force: 429, which
// waits at least its Retry-After, 5xx and the 503 of maintenance;
// Salesforce: 5xx, SERVER_UNAVAILABLE, UNABLE_TO_LOCK_ROW,
// REQUEST_LIMIT_EXCEEDED, a token endpoint answering 5xx; either: network
// errors and timeouts) is retried with exponential backoff until ctx ends,
// and every wait is reported (opts). A permanent fault (a rejected key or
// grant, any other 4xx, a spec that does not fit) ends the check at once,
// whatever the other API is doing.
func Preflight(ctx context.Context, cfg config.Config, spec *pairing.Spec, opts PreflightOptions) error {
	_, err := preflight(ctx, cfg, spec, opts)
	return err
}

// preflight is Preflight that also returns the id of the org the
// Salesforce grant reaches.
func preflight(ctx context.Context, cfg config.Config, spec *pairing.Spec, opts PreflightOptions) (org string, err error) {
	if opts.Status == nil {
		opts.Status = NewStatus() // what the error says when ctx ends
	}
	defer func() {
		if err != nil {
			opts.Status.Failed(err)
		} else {
			opts.Status.Passed()
		}
	}()
	afClient, sfClient, err := apiClients(cfg)
	if err != nil {
		return "", err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		slugs    []string
		describe *salesforce.ObjectDescribe
		related  []pairing.CRMObject // the describes of spec.RelatedObjects
		wg       sync.WaitGroup
		mu       sync.Mutex
		failure  error // the first permanent fault
	)
	check := func(api string, try func(context.Context) error, explain func(error) error) {
		wg.Go(func() {
			if err := retry(ctx, api, opts, try); err != nil {
				mu.Lock()
				defer mu.Unlock()
				if failure == nil && ctx.Err() == nil {
					failure = explain(err)
					cancel(failure) // the other API's wait ends too
				}
			}
		})
	}
	check(APIAwardForce, func(ctx context.Context) error {
		fields, err := afClient.ListUserFields(ctx)
		slugs = slugs[:0]
		for _, f := range fields {
			slugs = append(slugs, f.Slug)
		}
		return err
	}, func(err error) error {
		return awardForceSettings(err)
	})
	describing := spec.Object
	check(APISalesforce, func(ctx context.Context) (err error) {
		describing = spec.Object
		if describe, err = sfClient.Describe(ctx, spec.Object); err != nil {
			return err
		}
		related = related[:0]
		for _, name := range spec.RelatedObjects() {
			describing = name
			d, err := sfClient.Describe(ctx, name)
			if err != nil {
				return err
			}
			related = append(related, activities.CRMObjectOf(d))
		}
		describing = "the org"
		org, err = sfClient.OrgID(ctx)
		return err
	}, func(err error) error {
		return fmt.Errorf("salesforce (%s) describing %s: %w", config.SalesforceSettings(), describing, err)
	})
	wg.Wait()
	if failure != nil {
		return "", failure
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("start-up check: %w", waitingFor(opts.Status, context.Cause(ctx)))
	}
	if err := spec.Check(activities.CRMObjectOf(describe), slugs, related...); err != nil {
		return "", fmt.Errorf("pairing spec does not fit this org and account: %w", err)
	}
	return org, nil
}

// oneLanePerOrg refuses two integrations that reach one org (orgs: each
// integration's org, by integration id, in serving order): each would run a
// pairing lane of its own, and two lanes writing one org can give one
// person two records, or one record to two people. Their login URLs may
// differ (a My Domain and login.salesforce.com reach one org); only the
// org id the grant returns tells.
//
// A dependent integration (depends_on) writes through the lanes of the
// integration it depends on, which must be served with it and reach the
// same org. Integrations pairing one object of one org must do without an
// external id: a record holding one account's slug in its field looks
// unpaired to another account's spec, which would adopt it (one person's
// record taking another's values); the identity ledger, which the lane
// keeps when a spec has no external id, knows each account's people apart.
func oneLanePerOrg(served []Served, orgs map[string]string) error {
	first := map[string]string{}
	byID := map[string]Served{}
	for _, s := range served {
		byID[s.Names.Integration()] = s
	}
	for _, s := range served {
		id, org := s.Names.Integration(), orgs[s.Names.Integration()]
		if s.Names.Dependent() {
			auth, ok := byID[s.Names.Org()]
			switch {
			case !ok:
				return fmt.Errorf("integration %s depends on %s, which is not served: serve both, or neither", id, s.Names.Org())
			case auth.Names.Dependent():
				return fmt.Errorf("integration %s depends on %s, itself dependent: depend on the integration that holds the org's grant", id, s.Names.Org())
			case orgs[s.Names.Org()] != org:
				return fmt.Errorf("integration %s depends on %s, but reaches Salesforce org %s, not %s", id, s.Names.Org(), org, orgs[s.Names.Org()])
			}
			continue
		}
		if other, ok := first[org]; ok && org != "" {
			return fmt.Errorf("integrations %s and %s both reach Salesforce org %s: each would pair people in a lane of its own, and two lanes on one org "+
				"can give one person two records; give %s depends_on: %s instead of its own Salesforce connection", other, id, org, id, other)
		}
		first[org] = id
	}
	objects := map[string]Served{} // by org and object: the first integration pairing it
	for _, s := range served {
		if s.Spec == nil {
			continue
		}
		k := orgs[s.Names.Org()] + "/" + strings.ToLower(s.Spec.Object)
		other, ok := objects[k]
		if !ok {
			objects[k] = s
			continue
		}
		if other.Spec.SharesAcrossIntegrations() != s.Spec.SharesAcrossIntegrations() {
			sharing := s
			if other.Spec.SharesAcrossIntegrations() {
				sharing = other
			}
			return fmt.Errorf("integrations %s and %s both pair %s records of one org, but only %s's spec has across_integrations: one_record: "+
				"who the same identifier is must be one answer for the org; give both specs the same across_integrations",
				other.Names.Integration(), s.Names.Integration(), s.Spec.Object, sharing.Names.Integration())
		}
		for _, in := range []Served{other, s} {
			if in.Spec.ExternalID.CRM != "" {
				return fmt.Errorf("integrations %s and %s both pair %s records of one org, and %s's spec keeps slugs in external_id %s: "+
					"a record holding one account's slug there looks unpaired to the other's spec, which would adopt it; "+
					"remove external_id from %s's spec (the identity ledger then knows each account's people apart)",
					other.Names.Integration(), s.Names.Integration(), s.Spec.Object, in.Names.Integration(), in.Spec.ExternalID.CRM, in.Names.Integration())
			}
		}
	}
	return nil
}

// awardForceSettings names the variables behind the Award Force client's
// settings in err.
func awardForceSettings(err error) error {
	return fmt.Errorf("award force (%s, %s): %w", config.EnvAwardForceAPIURL, config.EnvAwardForceAPIKey, err)
}

// apiClients builds both API clients, which validates their settings
// without a request: a missing key or a malformed URL is reported here.
func apiClients(cfg config.Config) (*awardforce.Client, *salesforce.Client, error) {
	afClient, err := awardforce.New(cfg.AwardForce)
	if err != nil {
		return nil, nil, config.NameSettings(err)
	}
	sfClient, err := salesforce.New(cfg.Salesforce)
	if err != nil {
		return nil, nil, config.NameSettings(err)
	}
	return afClient, sfClient, nil
}

// waitingFor says why a check that ctx ended stopped, and what it was
// waiting for; it wraps cause.
func waitingFor(s *Status, cause error) error {
	if s.current() == checkRunning {
		if what := s.Checks(); what != "running" {
			return fmt.Errorf("%w while %s", cause, what)
		}
	}
	return cause
}

// retry calls try until it succeeds, fails permanently or ctx ends, waiting
// between attempts as opts say (opts.Status is set). It returns the
// permanent fault, or ctx's error once ctx ends.
func retry(ctx context.Context, api string, opts PreflightOptions, try func(context.Context) error) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	delay, ceiling := opts.delays()
	for attempt := 1; ; attempt++ {
		err := try(ctx)
		if err == nil {
			opts.Status.answered(api)
			if attempt > 1 {
				logger.Info(api+" answers", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		least, ok := transient(err)
		if !ok {
			return err
		}
		if least == quotaPause {
			least = ceiling
		}
		d := max(delay, least)
		w := Wait{API: api, Err: err, Attempt: attempt, Delay: d, Next: time.Now().Add(d)}
		logger.Warn("Waiting for "+api, "error", w.Reason(), "attempt", attempt, "retryIn", roundDelay(d).String())
		opts.Status.Waiting(w)
		if opts.OnWait != nil {
			opts.OnWait(w)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, ceiling)
	}
}

// quotaPause is what transient answers for a spent Salesforce allocation:
// wait the longest delay at once, retrying soon is useless.
const quotaPause = time.Duration(-1)

// transient reports whether err may go away if the check tries again, and
// the least wait the API asked for (Retry-After), or quotaPause.
func transient(err error) (least time.Duration, ok bool) {
	var af *awardforce.Error
	if errors.As(err, &af) {
		// 429 and 5xx, the 503 of maintenance included; 401, 403 (a wrong or
		// read-only key) and every other 4xx are permanent.
		return af.RetryAfter, af.Temporary()
	}
	var sf *salesforce.Error
	if errors.As(err, &sf) {
		switch {
		case sf.QuotaExhausted():
			return quotaPause, true
		case sf.Temporary(), sf.HTTPStatus >= http.StatusInternalServerError:
			// The token endpoint's 5xx included. invalid_grant,
			// invalid_client, a 401 after the client's one re-authentication
			// and every other 4xx are permanent.
			return 0, true
		}
		return 0, false
	}
	// Network errors (refused or reset connections, DNS, timeouts) and
	// answers cut short.
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, true
	}
	return 0, false
}

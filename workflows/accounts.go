package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/activities"
	"github.com/afsync/afsync/pairing"
)

// Accounts (the spec's account key) are found where the people are
// decided: by the lane for its batch, by a dry run's chunk for its users.
// Both ask Decide first, with a placeholder Account, whether a person's
// decision would link one at all (a skip, a Contact that stays ambiguous, a
// pull-only sync need none), and look up only those people's
// organisations, with one Accounts activity: one SOQL query per chunk of
// distinct organisations. The lane then creates the missing Accounts in
// the same activity (account.create); a dry run never does, and shows the
// Account it would make instead.
//
// An Account is made once per organisation even when many of its people
// register at the same moment: they meet in one lane (LaneCount is 1),
// where a batch holds its organisations (batch.orgKey) as it holds
// identifiers, so that no two batches in flight both find an organisation
// without an Account; within a batch the organisations are distinct; and a
// create whose answer never came holds its organisation until the commit
// horizon has passed, as a person's create holds their identifier.

// prospect is a person whose decision would link an Account: their index
// and organisation, and the decision made with a placeholder.
type prospect struct {
	i    int
	org  string
	prov pairing.Decision
}

// linksAccount reports whether d writes a Contact's AccountId.
func linksAccount(d pairing.Decision) bool {
	if d.Action != pairing.ActionCreate && d.Action != pairing.ActionUpdate {
		return false
	}
	for _, c := range d.CRM {
		if strings.EqualFold(c.Field, pairing.AccountField) {
			return true
		}
	}
	return false
}

// planned is the placeholder Account of organisation org: one that does
// not exist yet and would be made. Decide links it whenever a real one
// could be linked.
func planned(org string) *pairing.Account { return &pairing.Account{Organisation: org, New: true} }

// distinctOrgs lists the organisations of ps, each once (compared as
// activities.AccountKey does), in order.
func distinctOrgs(ps []prospect) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range ps {
		if k := activities.AccountKey(p.org); !seen[k] {
			seen[k] = true
			out = append(out, p.org)
		}
	}
	return out
}

// organisations says "1 organisation", "2 organisations".
func organisations(n int) string {
	if n == 1 {
		return "1 organisation"
	}
	return fmt.Sprintf("%d organisations", n)
}

// findAccounts finds the Accounts of the batch's open people whose
// decision links one, creating the missing ones when the spec says so, and
// keeps them in r.accounts. A person whose Account cannot be had is
// settled here: ambiguous when an org's duplicate rule refused the new
// Account, failed when Salesforce refused it otherwise (with its message;
// never the batch), put back after a transient fault, or held until the
// commit horizon when the create's answer never came, so that it is never
// made twice. Several matching Accounts are for Decide: the person is
// ambiguous, with their ids.
func (r *laneRun) findAccounts(ctx workflow.Context, found *activities.FindRecordsResult) {
	link := r.b.spec.Account
	ps := r.accountProspects(found)
	if len(ps) == 0 {
		return
	}
	orgs := distinctOrgs(ps)
	opts, verb := laneLookupOptions(ctx), "Find"
	if link.Create {
		// One attempt: only the lane may decide to create again.
		opts, verb = laneWriteOptions(ctx), "Find or create"
	}
	actx := workflow.WithActivityOptions(ctx, opts)
	actx = summarized(actx, "%s the Accounts of %s by %s", verb, organisations(len(orgs)), link.EffectiveMatch())
	var res activities.AccountsResult
	err := workflow.ExecuteActivity(actx, sf.Accounts, activities.AccountsInput{Spec: r.b.spec, Organisations: orgs, Create: link.Create}).Get(actx, &res)
	now := workflow.Now(ctx)
	r.calls += max(res.Calls, 1)
	if err != nil {
		is := make([]int, len(ps))
		for j, p := range ps {
			is[j] = p.i
		}
		var appErr *temporal.ApplicationError
		if link.Create && !errors.As(err, &appErr) {
			// The activity stopped without answering (a timeout, a worker
			// gone): its creates may be under way.
			for _, p := range ps {
				r.doubtAccount(now, p.i, errorMessage(err))
			}
			return
		}
		r.callFailed(now, is, err)
		return
	}
	r.settleAccounts(now, ps, &res)
}

// accountProspects lists the batch's open people whose decision, with
// their organisation's Account planned, links one.
func (r *laneRun) accountProspects(found *activities.FindRecordsResult) []prospect {
	var ps []prospect
	for _, i := range r.open() {
		it := r.b.items[i]
		if _, superseded := r.supersededBy(it); superseded || it.Deleted {
			continue
		}
		org := strings.TrimSpace(it.Profile.Values[r.b.spec.Account.AwardForce])
		if org == "" {
			continue
		}
		if d, ok := r.decideWith(it, found, planned(org)); ok && linksAccount(d) {
			ps = append(ps, prospect{i: i, org: org, prov: d})
		}
	}
	return ps
}

// settleAccounts keeps in r.accounts the Account each prospect's
// organisation found or made in res, and settles those whose Account
// cannot be had (see findAccounts).
func (r *laneRun) settleAccounts(now time.Time, ps []prospect, res *activities.AccountsResult) {
	r.accounts = map[int]*pairing.Account{}
	for _, p := range ps {
		o := res.Accounts[activities.AccountKey(p.org)]
		a := &pairing.Account{Organisation: p.org, IDs: o.IDs}
		switch c := o.Create; {
		case len(o.IDs) > 0 || c == nil:
		case c.Unknown:
			r.doubtAccount(now, p.i, c.Error)
			continue
		case r.dups && len(c.DuplicateIDs) > 0:
			r.answer(p.i, UserSyncResult{Outcome: OutcomeAmbiguous, RecordID: p.prov.RecordID, Decision: pairing.Decision{
				Action: pairing.ActionAmbiguous, RecordID: p.prov.RecordID, CandidateIDs: c.DuplicateIDs,
				Reason: "a Salesforce duplicate rule refused the new Account (" + c.Error + ")",
			}})
			continue
		case c.Error != "":
			r.refused(now, p.i, c.ErrorType, "creating the Account: "+trimType(c.Error, c.ErrorType), c.CallFailed)
			if res := r.outcomes[p.i].result; res != nil {
				res.Decision, res.RecordID = p.prov, p.prov.RecordID // the audit keeps what was decided
			}
			continue
		default:
			a.IDs, a.New = []string{c.ID}, c.Created
		}
		r.accounts[p.i] = a
	}
}

// doubtAccount puts person i back until the commit horizon, with the
// organisation whose Account's create has no known outcome: no batch
// creates it meanwhile, and the next one finds it if it committed.
func (r *laneRun) doubtAccount(now time.Time, i int, msg string) {
	r.doubt(now, []int{i}, msg)
	if org := r.b.orgs[r.b.items[i]]; org != "" {
		r.st.Doubt[org] = now.Add(r.settings.CommitHorizon)
	}
}

// findAccounts finds, read-only, the Accounts of the chunk's users whose
// decision links one (a dry run's): the plan shows the Account found, or
// the one account.create would make, or the user ambiguous. It returns
// them by user index.
func (c *chunk) findAccounts(ctx workflow.Context, rules pairing.Context) (map[int]*pairing.Account, error) {
	spec := &c.in.Spec
	var ps []prospect
	for i, p := range c.profiles {
		if c.res.Users[i].Outcome != "" {
			continue
		}
		org := strings.TrimSpace(p.Values[spec.Account.AwardForce])
		if org == "" {
			continue
		}
		rc := rules
		rc.Account = planned(org)
		if d := spec.DecideWith(rc, p, c.matches[activities.IdentifierKey(p.Values[spec.UniqueIdentifier.AwardForce])]); linksAccount(d) {
			ps = append(ps, prospect{i: i, org: org, prov: d})
		}
	}
	if len(ps) == 0 {
		return nil, nil
	}
	orgs := distinctOrgs(ps)
	actx := workflow.WithActivityOptions(ctx, backfillSalesforceOptions(ctx))
	actx = summarized(actx, "Find the Accounts of %s by %s", organisations(len(orgs)), spec.Account.EffectiveMatch())
	var res activities.AccountsResult
	err := workflow.ExecuteActivity(actx, sf.Accounts, activities.AccountsInput{Spec: *spec, Organisations: orgs}).Get(actx, &res)
	c.res.Counts.SalesforceCalls += res.Calls
	if err != nil {
		if isFatal(err) {
			return nil, err
		}
		for _, p := range ps {
			c.fail(p.i, err)
		}
		return nil, nil
	}
	out := map[int]*pairing.Account{}
	for _, p := range ps {
		a := &pairing.Account{Organisation: p.org, IDs: res.Accounts[activities.AccountKey(p.org)].IDs}
		if len(a.IDs) == 0 && spec.Account.Create {
			a = planned(p.org)
		}
		out[p.i] = a
	}
	return out, nil
}

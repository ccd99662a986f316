package activities

import (
	"context"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
)

// accountObject is the object the spec's account links Contacts to.
const accountObject = "Account"

// AccountsInput asks for the Accounts of some organisations (values of the
// spec's account.awardforce), and to create the missing ones.
type AccountsInput struct {
	Spec pairing.Spec `json:"spec"`
	// Organisations are the values to match; empty and repeated ones
	// (compared as AccountKey does) are dropped.
	Organisations []string `json:"organisations"`
	// Create makes an Account for each organisation none matches. Off (a
	// dry run, account.create false) Accounts only reads.
	Create bool `json:"create,omitempty"`
}

// AccountOutcome is what Accounts found, or did, for one organisation.
type AccountOutcome struct {
	// IDs are the Accounts whose account.match field holds the
	// organisation: none, one, or several (the org has duplicates).
	IDs []string `json:"ids,omitempty"`
	// Create is the fate of the Account made because none matched, when
	// the input asked for creates: its ID (Created false when an upsert
	// found one after all), Salesforce's refusal (Error, ErrorType,
	// DuplicateIDs), or Unknown when the answer never came and the create
	// may still commit.
	Create *WriteOutcome `json:"create,omitempty"`
}

// AccountsResult maps each organisation, by AccountKey, to its outcome.
type AccountsResult struct {
	Accounts map[string]AccountOutcome `json:"accounts"`
	// Queries is how many SOQL queries the lookup cost; Calls every
	// request, the queries and the create calls.
	Queries int `json:"queries"`
	Calls   int `json:"calls"`
}

// AccountKey is how AccountsResult keys an organisation: trimmed and
// lower-cased, as SOQL compares text and as a case-insensitive external
// id matches.
func AccountKey(organisation string) string { return IdentifierKey(organisation) }

// Accounts finds the Accounts of the organisations with one SOQL query per
// chunk of them (SELECT Id, <match> FROM Account WHERE <match> IN (…),
// within the URI limit) and, when asked, creates an Account for each
// organisation none matches: one sObject Collections call per MaxBatch of
// them, allOrNone off, as upserts on account.match when it is an external
// id (idempotent), plain creates on Name otherwise. Like Write, it makes one
// attempt at the creates and never fails as a whole for their faults: each
// organisation's outcome, refused, transient or unknown, is in the result,
// so that the lane decides what happens to its people. A failed lookup
// fails the activity, before any create.
func (a *Salesforce) Accounts(ctx context.Context, in AccountsInput) (AccountsResult, error) {
	defer keepAlive(ctx)()
	if err := a.checkSpec(ctx, &in.Spec); err != nil {
		return AccountsResult{}, err
	}
	link := in.Spec.Account
	if link == nil {
		return AccountsResult{}, temporal.NewNonRetryableApplicationError(
			"the pairing spec has no account: there are no Accounts to look for", ErrTypeInvalidSpec, nil)
	}
	match := link.EffectiveMatch()
	res := AccountsResult{Accounts: map[string]AccountOutcome{}}
	var orgs []string // first spelling of each key, in input order
	for _, o := range in.Organisations {
		k := AccountKey(o)
		if _, seen := res.Accounts[k]; k == "" || seen {
			continue
		}
		res.Accounts[k] = AccountOutcome{}
		orgs = append(orgs, strings.TrimSpace(o))
	}
	if len(orgs) == 0 {
		return res, nil
	}
	err := a.eachRecord(ctx, buildLookupQueries(accountObject, match, []string{"Id", match}, orgs), false, &res.Queries, func(r salesforce.Record) {
		k := AccountKey(r.String(match))
		if o, ok := res.Accounts[k]; ok {
			o.IDs = append(o.IDs, r.ID())
			res.Accounts[k] = o
		}
	})
	res.Calls = res.Queries
	if err != nil {
		return res, err
	}
	if !in.Create {
		return res, nil
	}
	var missing []string
	for _, o := range orgs {
		if len(res.Accounts[AccountKey(o)].IDs) == 0 {
			missing = append(missing, o)
		}
	}
	ext := ""
	if !strings.EqualFold(match, pairing.DefaultAccountMatch) {
		ext = match
	}
	opts := saveOptions(&in.Spec)
	for start := 0; start < len(missing); start += MaxBatch {
		chunk := missing[start:min(start+MaxBatch, len(missing))]
		outs := make([]WriteOutcome, len(chunk))
		records := make([]salesforce.SObject, len(chunk))
		for i, o := range chunk {
			records[i] = salesforce.SObject{Type: accountObject, Fields: map[string]any{pairing.DefaultAccountMatch: o}}
			if ext != "" {
				records[i].Fields[ext] = o
			}
		}
		var (
			saved []salesforce.SaveResult
			err   error
		)
		if ext != "" {
			saved, err = a.Client.UpsertCollection(ctx, accountObject, ext, records, false, opts...)
		} else {
			saved, err = a.Client.CreateCollection(ctx, records, false, opts...)
		}
		res.Calls++
		settle(outs, saved, err, ext == "", ext)
		for i, o := range chunk {
			out := res.Accounts[AccountKey(o)]
			out.Create = &outs[i]
			res.Accounts[AccountKey(o)] = out
		}
	}
	return res, nil
}

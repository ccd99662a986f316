package activities

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/salesforce"
)

// maxQueryURI keeps a query's request URI under Salesforce's 16,384-byte
// limit, with room for the instance path and API version.
const maxQueryURI = 15_000

// Salesforce holds the Salesforce activities. They run on the main task
// queue. Register one instance with the worker.
type Salesforce struct {
	Client *salesforce.Client
	// Spec is the worker's pairing spec: an input carrying another is
	// refused (ErrTypeInvalidSpec), so that whoever may start workflows
	// cannot point the worker's credentials at other objects and fields.
	// Nil checks nothing (tests that build activities by hand).
	Spec *pairing.Spec
	// Dependents are the specs of the integrations that depend on this
	// one (depends_on): their people are paired in this worker's lanes, on
	// its org, so their specs are accepted too.
	Dependents []*pairing.Spec
	// Begin records on the Temporal server that the Write activity
	// running in ctx has begun (a heartbeat carrying WriteBegun), and
	// returns once the server holds it; Write makes no Salesforce call
	// before. The worker sets it (afworker: the client's
	// RecordActivityHeartbeat). Nil falls back on the SDK's first heartbeat,
	// which is sent at once but whose failure the activity never learns:
	// for activities built by hand in tests.
	Begin func(ctx context.Context) error

	mu        sync.Mutex
	describes map[string]pairing.CRMObject // by object name; an org's schema rarely changes while a worker runs
}

// FindRecordsInput is the input of FindRecords.
type FindRecordsInput struct {
	// Spec names the object, the identifier field and the fields to read.
	Spec pairing.Spec `json:"spec"`
	// Identifiers are unique-identifier values (usually emails) to look up.
	Identifiers []string `json:"identifiers"`
	// RecordIDs are records people are known to be paired with (their
	// record_id_field, a change the CRM watch saw): read by id, deleted and
	// merged ones too, with the survivors of merges.
	RecordIDs []string `json:"record_ids,omitempty"`
	// ExternalIDs are external-id values (slugs) to read live records by.
	ExternalIDs []string `json:"external_ids,omitempty"`
}

// FindRecordsResult maps each identifier, lower-cased, to every record that
// holds it (none, one, or several when the CRM has duplicates).
type FindRecordsResult struct {
	Matches map[string][]pairing.CRMRecord `json:"matches"`
	// Queries is how many SOQL queries the lookup cost.
	Queries int `json:"queries"`
	// ByID holds the records read by id (RecordIDs and the survivors of
	// their merges), by 18-character id.
	ByID map[string]KnownRecord `json:"by_id,omitempty"`
	// ByExternalID holds the live records holding each external-id value.
	ByExternalID map[string][]pairing.CRMRecord `json:"by_external_id,omitempty"`
	// IntegrationUser is the CRM user afsync writes as.
	IntegrationUser string `json:"integration_user,omitempty"`
	// Lengths are the maximum lengths of the text fields the spec writes
	// (the describe's), by the spec's spelling of their names.
	Lengths map[string]int `json:"lengths,omitempty"`
}

// KnownRecord is a record read by id: live, deleted, or merged into another.
type KnownRecord struct {
	Record     pairing.CRMRecord `json:"record"`
	Deleted    bool              `json:"deleted,omitempty"`
	MergedInto string            `json:"merged_into,omitempty"`
}

// IdentifierKey is how FindRecordsResult keys an identifier: Salesforce
// compares text case-insensitively, so lookups do too.
func IdentifierKey(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// FindRecords looks records up by the spec's unique identifier, with as few
// SOQL queries as the URI limit allows (one `IN (…)` per chunk). It checks the
// spec against the object's describe first, so that a spec naming a field the
// org does not have fails here, before any write, with a non-retryable error.
func (a *Salesforce) FindRecords(ctx context.Context, in FindRecordsInput) (FindRecordsResult, error) {
	defer keepAlive(ctx)()
	if err := a.checkSpec(ctx, &in.Spec); err != nil {
		return FindRecordsResult{}, err
	}
	res := FindRecordsResult{Matches: map[string][]pairing.CRMRecord{}}
	obj, err := a.describe(ctx, in.Spec.Object)
	if err != nil {
		return FindRecordsResult{}, err
	}
	fields := in.Spec.CRMFields()
	ext := in.Spec.ExternalID.CRM
	if ext != "" && !slices.ContainsFunc(fields, func(f string) bool { return strings.EqualFold(f, ext) }) {
		fields = append(fields, ext) // whose record it is: Decide never takes another person's
	}
	// One pass finds the records holding an identifier, those holding a
	// slug in the external id and those read by id: one query a chunk,
	// their clauses joined by OR (through queryAll when ids are asked, so
	// that deleted and merged records answer too).
	terms := []lookupTerm{{field: in.Spec.UniqueIdentifier.CRM, values: in.Identifiers, key: IdentifierKey}}
	askedExt := map[string]bool{}
	if ext != "" && len(in.ExternalIDs) > 0 {
		res.ByExternalID = map[string][]pairing.CRMRecord{}
		for _, v := range in.ExternalIDs {
			askedExt[strings.TrimSpace(v)] = true
		}
		terms = append(terms, lookupTerm{field: ext, values: in.ExternalIDs, key: strings.TrimSpace})
	}
	askedID := map[string]bool{}
	for _, v := range in.Identifiers {
		askedID[IdentifierKey(v)] = true
	}
	byID := len(in.RecordIDs) > 0
	askedRec := map[string]bool{} // by the 15-character form, which both forms share
	if byID {
		res.ByID = map[string]KnownRecord{}
		for _, id := range in.RecordIDs {
			askedRec[shortID(id)] = true
		}
		terms = append(terms, lookupTerm{field: "Id", values: in.RecordIDs, key: strings.TrimSpace})
	}
	var survivors []string
	queries := buildTermQueries(in.Spec.Object, withSystemFields(obj, fields, byID), terms...)
	if err := a.eachRecord(ctx, queries, byID, &res.Queries, func(r salesforce.Record) {
		if askedRec[shortID(r.ID())] {
			if k := knownRecordOf(obj, r, fields); res.keep(k) {
				survivors = append(survivors, k.MergedInto)
			}
		}
		if r.String("IsDeleted") == "true" {
			return // queryAll's: only asked for by id
		}
		rec := crmRecordOf(r, fields)
		if key := IdentifierKey(rec.Values[in.Spec.UniqueIdentifier.CRM]); askedID[key] {
			res.Matches[key] = append(res.Matches[key], rec)
		}
		if ext != "" {
			if v := r.String(ext); askedExt[v] {
				res.ByExternalID[v] = append(res.ByExternalID[v], rec)
			}
		}
	}); err != nil {
		return FindRecordsResult{}, err
	}
	if len(survivors) > 0 {
		if err := a.readByID(ctx, &in.Spec, obj, fields, survivors, &res); err != nil {
			return FindRecordsResult{}, err
		}
	}
	if res.IntegrationUser, err = a.Client.UserID(ctx); err != nil {
		return FindRecordsResult{}, fail(ctx, err)
	}
	res.Lengths = lengthsOf(obj, &in.Spec)
	return res, nil
}

// lengthsOf gives the describe's length of every field spec writes.
func lengthsOf(obj pairing.CRMObject, spec *pairing.Spec) map[string]int {
	out := map[string]int{}
	for _, f := range spec.Fields {
		if cf, ok := obj.Field(f.CRM); ok && cf.Length > 0 {
			out[f.CRM] = cf.Length
		}
	}
	return out
}

// readByID reads the survivors of merges by id (deleted ones too), and
// theirs in turn once more, into res.ByID.
func (a *Salesforce) readByID(ctx context.Context, spec *pairing.Spec, obj pairing.CRMObject, fields, ids []string, res *FindRecordsResult) error {
	selected := withSystemFields(obj, fields, true)
	for round := 0; round < 2 && len(ids) > 0; round++ {
		var next []string
		if err := a.eachRecord(ctx, buildLookupQueries(spec.Object, "Id", selected, ids), true, &res.Queries, func(r salesforce.Record) {
			if k := knownRecordOf(obj, r, fields); res.keep(k) {
				next = append(next, k.MergedInto)
			}
		}); err != nil {
			return err
		}
		ids = next
	}
	return nil
}

// knownRecordOf is r read by id: live, deleted, or merged into another.
func knownRecordOf(obj pairing.CRMObject, r salesforce.Record, fields []string) KnownRecord {
	k := KnownRecord{Record: crmRecordOf(r, fields), Deleted: r.String("IsDeleted") == "true"}
	if _, merges := obj.Field("MasterRecordId"); merges {
		k.MergedInto = r.String("MasterRecordId")
	}
	return k
}

// keep records k in ByID and reports whether its survivor remains to be
// read.
func (res *FindRecordsResult) keep(k KnownRecord) bool {
	res.ByID[k.Record.ID] = k
	if k.MergedInto == "" {
		return false
	}
	_, seen := res.ByID[k.MergedInto]
	return !seen
}

// shortID is the 15-character form of a Salesforce id (the form 15- and
// 18-character ids share); other strings come back trimmed.
func shortID(id string) string {
	id = strings.TrimSpace(id)
	if len(id) == 18 {
		return id[:15]
	}
	return id
}

// eachRecord runs each query, through queryAll (deleted and merged records
// too) when all, and hands fn every record; n counts the requests.
func (a *Salesforce) eachRecord(ctx context.Context, queries []string, all bool, n *int, fn func(salesforce.Record)) error {
	for _, q := range queries {
		run := a.Client.Query
		if all {
			run = a.Client.QueryAll
		}
		records, err := run(ctx, q)
		*n++
		if err != nil {
			return fail(ctx, err)
		}
		for _, r := range records {
			fn(r)
		}
	}
	return nil
}

// withSystemFields adds to fields what a lookup reads besides the spec's:
// who changed the record last and when, and, read by id, whether it is
// deleted or merged, as far as the object's describe has them.
func withSystemFields(obj pairing.CRMObject, fields []string, byID bool) []string {
	out := append([]string(nil), fields...)
	extra := []string{"LastModifiedDate", "LastModifiedById"}
	if byID {
		extra = append(extra, "IsDeleted", "MasterRecordId")
	}
	for _, f := range extra {
		if _, ok := obj.Field(f); ok && !slices.ContainsFunc(out, func(have string) bool { return strings.EqualFold(have, f) }) {
			out = append(out, f)
		}
	}
	return out
}

// buildLookupQueries returns the SOQL queries that find every identifier
// (compared case-insensitively, as Salesforce does) in idField, as few as
// the URI limit allows.
func buildLookupQueries(object, idField string, fields, identifiers []string) []string {
	return buildTermQueries(object, fields, lookupTerm{field: idField, values: identifiers, key: IdentifierKey})
}

// lookupTerm is one `field IN (…)` clause of a lookup: the values, and how
// two of them are told apart (duplicates are asked once).
type lookupTerm struct {
	field  string
	values []string
	key    func(string) string
}

// buildTermQueries returns the SOQL queries that find the records holding
// any of the terms' values, `a IN (…) OR b IN (…)`, packing as many values
// into each query as keep its request URI under maxQueryURI.
func buildTermQueries(object string, fields []string, terms ...lookupTerm) []string {
	head := "SELECT " + strings.Join(fields, ", ") + " FROM " + object + " WHERE "
	escaped := func(s string) int { return len(url.QueryEscape(s)) }
	var (
		queries []string
		lits    = make([][]string, len(terms)) // the current query's literals, by term
		size    = escaped(head)
		n       int
	)
	// A clause costs its field, " IN (", ")" and " OR " besides its literals.
	clause := func(t lookupTerm) int { return escaped(t.field+" IN ()") + escaped(" OR ") }
	flush := func() {
		if n == 0 {
			return
		}
		var b strings.Builder
		b.WriteString(head)
		first := true
		for i, l := range lits {
			if len(l) == 0 {
				continue
			}
			if !first {
				b.WriteString(" OR ")
			}
			first = false
			b.WriteString(terms[i].field + " IN (" + strings.Join(l, ", ") + ")")
			lits[i] = nil
		}
		queries = append(queries, b.String())
		size, n = escaped(head), 0
	}
	for i, t := range terms {
		seen := map[string]bool{}
		for _, v := range t.values {
			k := t.key(v)
			if k == "" || seen[k] {
				continue
			}
			seen[k] = true
			lit := salesforce.Quote(strings.TrimSpace(v))
			cost := escaped(lit) + escaped(", ")
			if len(lits[i]) == 0 {
				cost += clause(t)
			}
			if n > 0 && size+cost > maxQueryURI {
				flush()
				cost = escaped(lit) + escaped(", ") + clause(t)
			}
			lits[i] = append(lits[i], lit)
			size += cost
			n++
		}
	}
	flush()
	return queries
}

// checkSpec validates the spec against the describes of its object and of
// the objects it relates to (Account), each fetched once per worker.
func (a *Salesforce) checkSpec(ctx context.Context, spec *pairing.Spec) error {
	if err := a.owns(spec); err != nil {
		return err
	}
	obj, err := a.describe(ctx, spec.Object)
	if err != nil {
		return err
	}
	var related []pairing.CRMObject
	for _, name := range spec.RelatedObjects() {
		o, err := a.describe(ctx, name)
		if err != nil {
			return err
		}
		related = append(related, o)
	}
	if err := spec.CheckCRM(obj, related...); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidSpec, err)
	}
	return nil
}

// Describe returns the object's schema as pairing specs see it.
func (a *Salesforce) describe(ctx context.Context, object string) (pairing.CRMObject, error) {
	a.mu.Lock()
	obj, ok := a.describes[strings.ToLower(object)]
	a.mu.Unlock()
	if ok {
		return obj, nil
	}
	d, err := a.Client.Describe(ctx, object)
	if err != nil {
		return pairing.CRMObject{}, fail(ctx, err)
	}
	obj = CRMObjectOf(d)
	a.mu.Lock()
	if a.describes == nil {
		a.describes = map[string]pairing.CRMObject{}
	}
	a.describes[strings.ToLower(object)] = obj
	a.mu.Unlock()
	return obj, nil
}

// CRMObjectOf converts a Salesforce describe into the schema pairing checks
// specs against.
func CRMObjectOf(d *salesforce.ObjectDescribe) pairing.CRMObject {
	obj := pairing.CRMObject{Name: d.Name, Fields: make(map[string]pairing.CRMField, len(d.Fields))}
	for _, f := range d.Fields {
		cf := pairing.CRMField{
			Name: f.Name, Type: f.Type, Length: f.Length,
			Createable: f.Createable, Updateable: f.Updateable, Nillable: f.Nillable,
			ExternalID: f.ExternalID, Unique: f.Unique, CaseSensitive: f.CaseSensitive,
			DefaultedOnCreate: f.DefaultedOnCreate, Restricted: f.RestrictedPicklist,
		}
		for _, v := range f.PicklistValues {
			if v.Active {
				cf.Picklist = append(cf.Picklist, v.Value)
			}
		}
		obj.Fields[f.Name] = cf
	}
	return obj
}

// crmRecordOf reads a queried record's values under the spec's own field
// names (Salesforce answers with the describe's spelling), and who changed
// it last and when, when read.
func crmRecordOf(r salesforce.Record, fields []string) pairing.CRMRecord {
	lower := make(map[string]string, len(r))
	for k := range r {
		lower[strings.ToLower(k)] = k
	}
	values := make(map[string]string, len(fields))
	for _, f := range fields {
		if k, ok := lower[strings.ToLower(f)]; ok {
			values[f] = r.String(k)
		}
	}
	return pairing.CRMRecord{ID: r.ID(), Values: values, Modified: r.Time("LastModifiedDate"), ModifiedBy: r.String("LastModifiedById")}
}

// saveOptions are the Salesforce save options spec asks for: with
// duplicate_rules: allow_save, the header that saves past Alert duplicate
// rules. Otherwise none, and a duplicate rule's refusal is the record's
// permanent refusal (ErrTypeSalesforceRejected), naming the duplicates.
func saveOptions(spec *pairing.Spec) []salesforce.SaveOption {
	if spec.AllowsDuplicateSave() {
		return []salesforce.SaveOption{salesforce.DuplicateRuleHeader{AllowSave: true}}
	}
	return nil
}

func fieldsOf(changes []pairing.Change) map[string]any {
	m := make(map[string]any, len(changes))
	for _, c := range changes {
		m[c.Field] = c.After
	}
	return m
}

// owns refuses spec unless it is the worker's (a.Spec), by fingerprint.
func (a *Salesforce) owns(spec *pairing.Spec) error {
	if a.Spec == nil {
		return nil
	}
	got, want := spec.Fingerprint(), a.Spec.Fingerprint()
	for _, d := range a.Dependents {
		if d.Fingerprint() == got {
			return nil
		}
	}
	if got != want {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"this workflow carries pairing spec %s (%s), not the worker's %s (%s): the worker reads and writes Salesforce with its own spec only; "+
				"start syncs and backfills with the worker's spec file (the starter's --config), or deploy the new spec to the workers first",
			got, spec.Object, want, a.Spec.Object), ErrTypeInvalidSpec, nil)
	}
	return nil
}

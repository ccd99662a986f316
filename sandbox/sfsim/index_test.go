package sfsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"
)

// direct drives a Server through ServeHTTP without a network, so that
// thousands of requests stay cheap.
type direct struct {
	tb    testing.TB
	s     *Server
	token string
}

func newDirect(tb testing.TB, opts Options) *direct {
	tb.Helper()
	opts.ClientID, opts.ClientSecret = "cid", "csecret"
	d := &direct{tb: tb, s: New(opts)}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"csecret"}}
	req := httptest.NewRequest(http.MethodPost, "/services/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	d.s.ServeHTTP(w, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		tb.Fatalf("token: %d %s", w.Code, w.Body)
	}
	d.token = tok.AccessToken
	return d
}

func (d *direct) do(method, path string, body any) (int, []byte) {
	d.tb.Helper()
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			d.tb.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	if !strings.HasPrefix(path, "/services/") {
		path = api + path
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	d.s.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// pages runs soql and follows nextRecordsUrl, returning every page in a
// comparable form: status, envelope and records, with the locator (which
// differs between runs) reduced to the offset it resumes at.
func (d *direct) pages(soql string) string {
	d.tb.Helper()
	return d.pagesOf("query", soql)
}

// pagesOf is pages through resource, query or queryAll.
func (d *direct) pagesOf(resource, soql string) string {
	d.tb.Helper()
	var sb strings.Builder
	status, body := d.do(http.MethodGet, "/"+resource+"?q="+url.QueryEscape(soql), nil)
	for pages := 0; ; pages++ {
		fmt.Fprintf(&sb, "%d ", status)
		if status != http.StatusOK || pages > 100 {
			sb.Write(body)
			return sb.String()
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(body, &page); err != nil {
			d.tb.Fatalf("%s: %v: %s", soql, err, body)
		}
		next := page["nextRecordsUrl"]
		delete(page, "nextRecordsUrl")
		canon, _ := json.Marshal(page)
		sb.Write(canon)
		if next == nil {
			return sb.String()
		}
		var u string
		if err := json.Unmarshal(next, &u); err != nil {
			d.tb.Fatal(err)
		}
		fmt.Fprintf(&sb, " next@%s\n", u[strings.LastIndexByte(u, '-')+1:])
		status, body = d.do(http.MethodGet, u, nil)
	}
}

// orbit returns the runes strings.EqualFold treats as equal to r.
func orbit(r rune) []rune {
	out := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		out = append(out, f)
	}
	return out
}

func TestFoldIsEqualFold(t *testing.T) {
	// Exhaustively: the key of a rune is a member of its folding orbit and is
	// the same for every member, so keys are equal exactly when EqualFold is.
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		k := foldRune(r)
		if !strings.EqualFold(string(r), string(k)) {
			t.Fatalf("foldRune(%U) = %U, not EqualFold", r, k)
		}
		for _, m := range orbit(r) {
			if foldRune(m) != k {
				t.Fatalf("foldRune(%U) = %U but foldRune(%U) = %U", r, k, m, foldRune(m))
			}
		}
	}
	// Strings, including the runes where lower-casing and folding disagree
	// and invalid UTF-8, which EqualFold reads as U+FFFD.
	alphabet := []string{"a", "A", "k", "K", "\u212a", "s", "S", "\u017f", "\u03c3", "\u03c2", "\u03a3", "\u00df", "\u1e9e", "\u0130", "i", "I", "\u0131", "\xff", "\ufffd", "@", ".", ""}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 200000 {
		a, b := word(), word()
		if got, want := fold(a) == fold(b), strings.EqualFold(a, b); got != want {
			t.Fatalf("fold(%q) == fold(%q) is %v, EqualFold %v", a, b, got, want)
		}
	}
	if s := "plain@example.org"; fold(s) != s {
		t.Errorf("fold(%q) = %q", s, fold(s))
	}
}

func TestPlanProbe(t *testing.T) {
	objs := schema()
	for soql, want := range map[string]bool{
		"SELECT Id FROM Contact WHERE Email = 'a@b.c'":                                            true,
		"SELECT Id FROM Contact WHERE email IN ('a@b.c', 'D@e.f')":                                true,
		"SELECT Id FROM Contact WHERE LastName = 'x' AND Email = 'a@b.c'":                         true,
		"SELECT Id FROM Contact WHERE LastName = 'x' AND (Email = 'a' OR Id = null)":              false,
		"SELECT Id FROM Contact WHERE (Email = 'a' OR AwardForce_Slug__c = 'b') AND Title = null": true,
		"SELECT Id FROM Contact WHERE Id = '003000000000001'":                                     true,
		"SELECT Id FROM Contact WHERE AwardForce_Id__c IN ('1', '2')":                             true,
		"SELECT Id FROM Award_Participant__c WHERE Name = 'x'":                                    true,
		"SELECT Id FROM Award_Participant__c WHERE Email__c = 'x'":                                true,
		"SELECT Id FROM Contact":                                     false,
		"SELECT Id FROM Contact WHERE Email = null":                  false,
		"SELECT Id FROM Contact WHERE Email IN ('a', null)":          false,
		"SELECT Id FROM Contact WHERE Email != 'a'":                  false,
		"SELECT Id FROM Contact WHERE Email NOT IN ('a')":            false,
		"SELECT Id FROM Contact WHERE Email = 'a' OR LastName = 'b'": false,
		"SELECT Id FROM Contact WHERE Title = 'CEO'":                 false,
		"SELECT Id FROM Contact WHERE AccountId = '001000000000001'": false,
	} {
		pq, err := ParseSOQL(soql)
		if err != nil {
			t.Fatal(err)
		}
		var p *probe
		if pq.Where != nil {
			p = planProbe(objs[strings.ToLower(pq.Object)], pq.Where)
		}
		if got := p != nil; got != want {
			t.Errorf("%s: indexed %v, want %v", soql, got, want)
		}
	}
}

// dataset builds a random org through seeding and the API and returns the
// ids it handed out (some since deleted) and the values it used.
type dataset struct {
	rng    *rand.Rand
	d      *direct
	ids    []string
	parts  []string
	emails []string
	slugs  []string
	afIDs  []string
	names  []string
	lasts  []string
	titles []string
}

func (ds *dataset) pick(s []string) string { return s[ds.rng.IntN(len(s))] }

// variant spells s in a random case: each rune becomes a random member of
// its folding orbit (so k may become the Kelvin sign and s a long s).
func (ds *dataset) variant(s string) string {
	var b strings.Builder
	for _, r := range s {
		o := orbit(r)
		b.WriteRune(o[ds.rng.IntN(len(o))])
	}
	return b.String()
}

func (ds *dataset) maybe(p float64, v func() string) any {
	if ds.rng.Float64() < p {
		return v()
	}
	return nil
}

func (ds *dataset) contactFields() map[string]any {
	m := map[string]any{"LastName": ds.pick(ds.lasts)}
	for k, v := range map[string]any{
		"FirstName":          ds.maybe(0.6, func() string { return ds.pick([]string{"Ann", "ann", "Bo"}) }),
		"Email":              ds.maybe(0.8, func() string { return ds.variant(ds.pick(ds.emails)) }),
		"Title":              ds.maybe(0.5, func() string { return ds.pick(ds.titles) }),
		"AwardForce_Slug__c": ds.maybe(0.4, func() string { return ds.variant(ds.pick(ds.slugs)) }),
		"AwardForce_Id__c":   ds.maybe(0.5, func() string { return ds.variant(ds.pick(ds.afIDs)) }),
	} {
		if v != nil {
			m[k] = v
		}
	}
	return m
}

func (ds *dataset) build() {
	rng, d := ds.rng, ds.d
	for range rng.IntN(40) {
		f := ds.contactFields()
		if rng.IntN(10) == 0 {
			delete(f, "Email")
		}
		ds.ids = append(ds.ids, d.s.Insert("Contact", f))
	}
	for range rng.IntN(6) {
		f := map[string]any{"Email__c": ds.variant(ds.pick(ds.emails))}
		if rng.IntN(2) == 0 {
			f["Name"] = ds.variant(ds.pick(ds.names))
		}
		ds.parts = append(ds.parts, d.s.Insert("Award_Participant__c", f))
	}
	created := func(body []byte) {
		var res struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(body, &res) == nil && res.ID != "" {
			ds.ids = append(ds.ids, res.ID)
		}
	}
	someID := func() string {
		if len(ds.ids) == 0 {
			return makeID("003", 999999)
		}
		return ds.pick(ds.ids)
	}
	// Updates may set a field to null, which "" means on the platform.
	changes := func() map[string]any {
		m := map[string]any{}
		for range 1 + rng.IntN(2) {
			switch rng.IntN(4) {
			case 0:
				m["Email"] = ds.pick([]string{"", ds.variant(ds.pick(ds.emails))})
			case 1:
				m["AwardForce_Slug__c"] = ds.pick([]string{"", ds.variant(ds.pick(ds.slugs))})
			case 2:
				m["AwardForce_Id__c"] = ds.pick([]string{"", ds.variant(ds.pick(ds.afIDs))})
			default:
				m["LastName"] = ds.pick(ds.lasts)
			}
		}
		return m
	}
	for range rng.IntN(25) {
		switch rng.IntN(8) {
		case 7:
			// Someone merges or deletes records in Salesforce.
			live := d.s.Records("Contact")
			if len(live) < 3 {
				continue
			}
			rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
			id := func(i int) string { return live[i]["Id"].(string) }
			if rng.IntN(3) == 0 {
				_ = d.s.DeleteAs("Contact", id(0))
			} else if err := d.s.Merge("Contact", id(0), id(1), id(2)); err != nil {
				d.tb.Fatal(err)
			}
		case 0:
			_, body := d.do(http.MethodPost, "/sobjects/Contact", ds.contactFields())
			created(body)
		case 1:
			d.do(http.MethodPatch, "/sobjects/Contact/"+someID(), changes())
		case 2:
			d.do(http.MethodDelete, "/sobjects/Contact/"+someID(), nil)
		case 3:
			f := ds.contactFields()
			delete(f, "AwardForce_Slug__c")
			_, body := d.do(http.MethodPatch, "/sobjects/Contact/AwardForce_Slug__c/"+url.PathEscape(ds.variant(ds.pick(ds.slugs))), f)
			created(body)
		case 4:
			// Some records lack LastName, so allOrNone requests roll back.
			var recs []any
			for range 1 + rng.IntN(3) {
				f := ds.contactFields()
				if rng.IntN(4) == 0 {
					delete(f, "LastName")
				}
				f["attributes"] = map[string]any{"type": "Contact"}
				recs = append(recs, f)
			}
			_, body := d.do(http.MethodPost, "/composite/sobjects", map[string]any{"allOrNone": rng.IntN(2) == 0, "records": recs})
			var res []struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(body, &res)
			for _, r := range res {
				if r.ID != "" {
					ds.ids = append(ds.ids, r.ID)
				}
			}
		case 5:
			var recs []any
			for range 1 + rng.IntN(3) {
				f := ds.contactFields()
				f["AwardForce_Id__c"] = ds.variant(ds.pick(ds.afIDs))
				recs = append(recs, f)
			}
			d.do(http.MethodPatch, "/composite/sobjects/Contact/AwardForce_Id__c", map[string]any{"allOrNone": rng.IntN(2) == 0, "records": recs})
		default:
			m := changes()
			m["Id"] = someID()
			m["attributes"] = map[string]any{"type": "Contact"}
			d.do(http.MethodPatch, "/composite/sobjects", map[string]any{"records": []any{m}})
		}
	}
	// Ids handed out by collection upserts are not tracked above; pick them
	// up, and deleted ids stay in ids too.
	for _, r := range d.s.Records("Contact") {
		ds.ids = append(ds.ids, r["Id"].(string))
	}
}

func lit(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (ds *dataset) idLit() string {
	if len(ds.ids) == 0 {
		return lit(makeID("003", 424242))
	}
	id := ds.pick(ds.ids)
	if ds.rng.IntN(2) == 0 {
		id = id[:15]
	}
	return lit(id)
}

func (ds *dataset) list(n int, v func() string) string {
	var out []string
	for range n {
		out = append(out, v())
	}
	return "(" + strings.Join(out, ", ") + ")"
}

// contactCond returns a random Contact condition; depth bounds nesting.
func (ds *dataset) contactCond(depth int) string {
	rng := ds.rng
	email := func() string { return lit(ds.variant(ds.pick(ds.emails))) }
	if depth > 0 && rng.IntN(3) == 0 {
		op := ds.pick([]string{"AND", "OR"})
		var terms []string
		for range 2 + rng.IntN(2) {
			terms = append(terms, "("+ds.contactCond(depth-1)+")")
		}
		return strings.Join(terms, " "+op+" ")
	}
	switch rng.IntN(16) {
	case 13:
		return "IsDeleted = " + ds.pick([]string{"true", "false"})
	case 14:
		// Every record is stamped after 2000 and before 2100.
		return ds.pick([]string{"SystemModstamp", "CreatedDate"}) + ds.pick([]string{" > 2000-01-01T00:00:00Z", " < 2100-01-01T00:00:00.000+0000", " <= 2000-01-01T00:00:00+00:00"})
	case 0, 1:
		return "Email = " + email()
	case 2:
		return "Email IN " + ds.list(1+rng.IntN(4), email)
	case 3:
		l := ds.list(1+rng.IntN(2), email)
		return "Email IN " + l[:len(l)-1] + ", null)"
	case 4:
		return "Email = null"
	case 5:
		return "Email != " + email()
	case 6:
		return "Id = " + ds.idLit()
	case 7:
		return "Id IN " + ds.list(1+rng.IntN(4), ds.idLit)
	case 8:
		return "AwardForce_Slug__c = " + lit(ds.variant(ds.pick(ds.slugs)))
	case 9:
		return "AwardForce_Id__c IN " + ds.list(1+rng.IntN(3), func() string { return lit(ds.variant(ds.pick(ds.afIDs))) })
	case 10:
		return "LastName = " + lit(ds.variant(ds.pick(ds.lasts)))
	case 11:
		return "FirstName = null"
	case 12:
		return "Title NOT IN ('CEO', null)"
	}
	return "Title = " + lit(ds.variant(ds.pick(ds.titles)))
}

func (ds *dataset) query() string {
	rng := ds.rng
	if rng.IntN(5) == 0 {
		var where string
		switch rng.IntN(3) {
		case 0:
			where = "Name = " + lit(ds.variant(ds.pick(ds.names)))
		case 1:
			where = "Email__c IN " + ds.list(1+rng.IntN(3), func() string { return lit(ds.variant(ds.pick(ds.emails))) })
		default:
			if len(ds.parts) > 0 {
				where = "Name = " + lit(ds.pick(ds.parts))
			} else {
				where = "Name = 'none'"
			}
		}
		return "SELECT Id, Name, Email__c FROM Award_Participant__c WHERE " + where
	}
	var where string
	switch rng.IntN(4) {
	case 0:
		where = "Email = " + lit(ds.variant(ds.pick(ds.emails)))
	case 1:
		// An indexed comparison ANDed with arbitrary other terms.
		where = "Email IN " + ds.list(1+rng.IntN(3), func() string { return lit(ds.variant(ds.pick(ds.emails))) }) + " AND (" + ds.contactCond(1) + ")"
	default:
		where = ds.contactCond(2)
	}
	soql := "SELECT Id, Email, LastName, AwardForce_Id__c FROM Contact WHERE " + where
	if rng.IntN(3) == 0 {
		soql += " ORDER BY " + ds.pick([]string{"LastName", "Email", "Title", "Id"}) + ds.pick([]string{"", " DESC", " NULLS LAST", " DESC NULLS FIRST"})
	}
	if rng.IntN(3) == 0 {
		soql += fmt.Sprintf(" LIMIT %d", rng.IntN(6))
	}
	return soql
}

// TestIndexedQueriesMatchScan checks on random orgs, built by seeding and by
// every kind of API write, that queries answered from the indexes return
// exactly what a scan returns, page by page.
func TestIndexedQueriesMatchScan(t *testing.T) {
	datasets, queries := 300, 15
	if testing.Short() {
		datasets = 50
	}
	var total, indexed int
	for seed := range uint64(datasets) {
		ds := &dataset{
			rng:    rand.New(rand.NewPCG(seed, 0x5f5)),
			emails: []string{"ann@example.org", "bob@example.org", "kit@ski.io", "sis@kiss.net", "zo\u00eb@\u00e9t\u00e9.fr", "stra\u00dfe@x.de", "\u03c3\u03b1\u03c2@x.gr", "i\u0130@x.tr"},
			slugs:  []string{"abc", "kks", "\u03c3q", "z1"},
			afIDs:  []string{"ak1", "AK1", "bs2", "x"},
			names:  []string{"Kes", "\u03a3ara", "nobody"},
			lasts:  []string{"Smith", "smith", "Jones", "Lee"},
			titles: []string{"CEO", "cto", "Kiosk"},
		}
		ds.d = newDirect(t, Options{QueryPageSize: 1 + ds.rng.IntN(4)})
		ds.build()
		for i := range queries {
			soql := ds.query()
			pq, err := ParseSOQL(soql)
			if err != nil {
				t.Fatalf("seed %d: generated %s: %v", seed, soql, err)
			}
			total++
			if planProbe(ds.d.s.objects[strings.ToLower(pq.Object)], pq.Where) != nil {
				indexed++
			}
			// queryAll too, for a third of the queries: the recycle bin
			// is searched beside the indexes.
			resources := []string{"query"}
			if i%3 == 0 {
				resources = append(resources, "queryAll")
			}
			for _, resource := range resources {
				ds.d.s.forceScan.Store(false)
				got := ds.d.pagesOf(resource, soql)
				ds.d.s.forceScan.Store(true)
				want := ds.d.pagesOf(resource, soql)
				if got != want {
					t.Fatalf("seed %d: %s %s\nindexed:\n%s\nscan:\n%s", seed, resource, soql, got, want)
				}
				if !strings.HasPrefix(got, "200 ") {
					t.Fatalf("seed %d: %s %s: %s", seed, resource, soql, got)
				}
			}
		}
	}
	if indexed < total/2 {
		t.Errorf("only %d of %d queries used the indexes", indexed, total)
	}
	t.Logf("%d queries, %d from the indexes", total, indexed)
}

// TestQueriesDuringWrites runs index and scan queries, with paging, while
// records change, for the race detector: records are rendered after the
// lock is released.
func TestQueriesDuringWrites(t *testing.T) {
	d := newDirect(t, Options{QueryPageSize: 5})
	for i := range 50 {
		d.s.Insert("Contact", map[string]any{"LastName": "n", "Email": fmt.Sprintf("u%d@example.org", i%10), "AwardForce_Slug__c": fmt.Sprint("s", i)})
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				slug := fmt.Sprint("s", (i*7+w)%60)
				d.do(http.MethodPatch, "/sobjects/Contact/AwardForce_Slug__c/"+slug, map[string]any{"LastName": "w", "Email": fmt.Sprintf("U%d@Example.org", i%10)})
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for i := range 30 {
				d.pages(fmt.Sprintf("SELECT Id, Email, LastName FROM Contact WHERE Email = 'u%d@example.org'", i%10))
				d.pages("SELECT Id, Email FROM Contact WHERE LastName IN ('n', 'w') ORDER BY Email")
			}
		})
	}
	wg.Wait()
	if got := d.pages("SELECT Id FROM Contact WHERE Email = 'U3@EXAMPLE.ORG' LIMIT 0"); !strings.HasPrefix(got, "200 ") {
		t.Fatal(got)
	}
}

// BenchmarkQueryByEmail looks up one contact by e-mail among 20,000, the
// per-user query of a sync, by scanning (the old behaviour) and from the
// index.
func BenchmarkQueryByEmail(b *testing.B) {
	const n = 20000
	d := newDirect(b, Options{DailyLimit: 1 << 62})
	for i := range n {
		d.s.Insert("Contact", map[string]any{"LastName": fmt.Sprint("User", i), "FirstName": "F", "Email": fmt.Sprintf("user%d@example.org", i)})
	}
	for _, mode := range []struct {
		name string
		scan bool
	}{{"scan", true}, {"index", false}} {
		b.Run(mode.name, func(b *testing.B) {
			d.s.forceScan.Store(mode.scan)
			i := 0
			for b.Loop() {
				soql := fmt.Sprintf("SELECT Id, Email, FirstName FROM Contact WHERE Email = 'user%d@example.org'", i*7919%n)
				status, body := d.do(http.MethodGet, q(soql), nil)
				if status != http.StatusOK || !bytes.Contains(body, []byte(`"totalSize":1,`)) {
					b.Fatalf("%s: %d %s", soql, status, body)
				}
				i++
			}
		})
	}
}

// TestExternalIDMatchesLikeQueries checks that a Unique, case-insensitive
// external id matches upserts by the same case-insensitive comparison as
// queries, Unicode folding included, and that a case-sensitive one matches
// byte for byte while queries still ignore case.
func TestExternalIDMatchesLikeQueries(t *testing.T) {
	d := newDirect(t, Options{})
	d.s.objects["contact"].field("AwardForce_Slug__c").CaseSensitive = false
	id := d.s.Insert("Contact", map[string]any{"LastName": "x", "AwardForce_Slug__c": "kiss"})
	// The Kelvin sign and the long s fold to k and s, as strings.EqualFold has it.
	status, body := d.do(http.MethodPatch, "/sobjects/Contact/AwardForce_Slug__c/"+url.PathEscape("\u212aIS\u017f"), map[string]any{"Title": "t"})
	if status != http.StatusOK || !strings.Contains(string(body), id) {
		t.Fatalf("upsert: %d %s, want an update of %s", status, body, id)
	}
	if got := d.pages("SELECT Title FROM Contact WHERE AwardForce_Slug__c = '\u212aIS\u017f'"); !strings.Contains(got, `"Title":"t"`) {
		t.Fatalf("query: %s", got)
	}

	d = newDirect(t, Options{})
	id = d.s.Insert("Contact", map[string]any{"LastName": "x", "AwardForce_Slug__c": "kiss"})
	status, body = d.do(http.MethodPatch, "/sobjects/Contact/AwardForce_Slug__c/"+url.PathEscape("\u212aIS\u017f"), map[string]any{"LastName": "y"})
	if status != http.StatusCreated || strings.Contains(string(body), id) {
		t.Fatalf("case-sensitive upsert: %d %s, want a new record", status, body)
	}
	if got := d.pages("SELECT Id FROM Contact WHERE AwardForce_Slug__c = 'KISS'"); !strings.Contains(got, `"totalSize":2`) {
		t.Fatalf("queries stay case-insensitive: %s", got)
	}
}

package sfsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// send makes one API request under ctx and reports a transport error
// (a dropped connection, a timeout) instead of failing the test.
func (e *env) send(ctx context.Context, method, path string, body any) (result, error) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+api+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b}, nil
}

// dropped asserts that a request is answered by dropping the connection.
func (e *env) dropped(method, path string, body any) {
	e.t.Helper()
	if r, err := e.send(context.Background(), method, path, body); err == nil {
		e.t.Fatalf("%s %s: got %d %s, want the connection dropped", method, path, r.status, r.body)
	}
}

// eventually polls cond every few milliseconds until it holds or within
// passes, and returns how long that took.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("after %v: %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func contacts(e *env) int { return len(e.sim.Records("Contact")) }

func sobj(typ string, fields map[string]any) map[string]any {
	m := map[string]any{"attributes": map[string]any{"type": typ}}
	for k, v := range fields {
		m[k] = v
	}
	return m
}

type recResult struct {
	ID      string           `json:"id"`
	Success bool             `json:"success"`
	Created bool             `json:"created"`
	Errors  []map[string]any `json:"errors"`
}

func (r result) records(t *testing.T) []recResult {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("collection: %d %s", r.status, r.body)
	}
	var res []recResult
	mustJSON(t, r.body, &res)
	return res
}

func TestMaxRequestTime(t *testing.T) {
	if got := New(Options{}).opts.MaxRequestTime; got != 10*time.Minute {
		t.Errorf("default MaxRequestTime %v", got)
	}
	// A request that can only start its work past the horizon is stopped.
	e := newEnv(t, Options{Latency: 40 * time.Millisecond, MaxRequestTime: 30 * time.Millisecond})
	e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "Slow"}).apiErr(t, 500, "REQUEST_RUNNING_TOO_LONG")
	if contacts(e) != 0 {
		t.Error("a stopped request wrote")
	}
	// So is a transaction whose WriteTime would end past it.
	e = newEnv(t, Options{WriteTime: 50 * time.Millisecond, MaxRequestTime: 30 * time.Millisecond})
	e.do("PATCH", "/sobjects/Contact/AwardForce_Slug__c/SlowSlug", map[string]any{"LastName": "Slow"}).apiErr(t, 500, "REQUEST_RUNNING_TOO_LONG")
	if contacts(e) != 0 {
		t.Error("a stopped upsert wrote")
	}
}

func TestWriteGoesOnAfterTheClientHangsUp(t *testing.T) {
	e := newEnv(t, Options{Latency: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	sent := time.Now()
	if r, err := e.send(ctx, "POST", "/sobjects/Contact", map[string]any{"LastName": "Abandoned"}); err == nil {
		t.Fatalf("got %d, want the client to time out", r.status)
	}
	if contacts(e) != 0 {
		t.Fatal("committed before the latency elapsed")
	}
	eventually(t, time.Second, "the abandoned write never committed", func() bool { return contacts(e) == 1 })
	if since := time.Since(sent); since < 100*time.Millisecond {
		t.Errorf("committed after %v, before the latency", since)
	}

	// A read, by contrast, gives up with its caller: it is not charged.
	before := e.sim.Stats().APICalls
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := e.send(ctx, "GET", "/limits", nil); err == nil {
		t.Fatal("want the read to time out")
	}
	time.Sleep(120 * time.Millisecond)
	if after := e.sim.Stats().APICalls; after != before {
		t.Errorf("an abandoned read was served: APICalls %d → %d", before, after)
	}
}

func TestLateCommits(t *testing.T) {
	e := newEnv(t, Options{})
	const delay = 120 * time.Millisecond
	e.sim.InjectLateCommits(1, delay)
	if r := e.do("GET", "/limits", nil); r.status != 200 {
		t.Fatalf("reads are never affected: %d", r.status)
	}
	sent := time.Now()
	e.dropped("POST", "/sobjects/Contact", map[string]any{"LastName": "Late"})
	if took := time.Since(sent); took > delay/2 {
		t.Errorf("the connection was dropped after %v, want at once", took)
	}
	time.Sleep(delay - 40*time.Millisecond - time.Since(sent))
	if contacts(e) != 0 {
		t.Fatal("the late write committed before its delay")
	}
	eventually(t, time.Second, "the late write never committed", func() bool { return contacts(e) == 1 })
	if since := time.Since(sent); since < delay {
		t.Errorf("committed after %v, want %v", since, delay)
	}
	e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "OnTime"}).object(t, 201)
	st := e.sim.Stats()
	if st.Faults["late_commit"] != 1 || st.APICalls != 3 || st.Writes != 2 {
		t.Errorf("stats %+v", st)
	}

	// The write is validated and applied against the store as it is when
	// it commits: here, an upsert finds the record created meanwhile.
	e.sim.InjectLateCommits(1, 60*time.Millisecond)
	e.dropped("PATCH", "/sobjects/Contact/AwardForce_Slug__c/LateSlug", map[string]any{"LastName": "Upserted", "Title": "Late"})
	id := e.sim.Insert("Contact", map[string]any{"LastName": "Meanwhile", "AwardForce_Slug__c": "LateSlug"})
	eventually(t, time.Second, "the late upsert never committed", func() bool {
		rec, _ := e.sim.Record("Contact", id)
		return rec["Title"] == "Late"
	})
	if n := contacts(e); n != 3 {
		t.Errorf("%d contacts, want the late upsert to update, not create", n)
	}
}

func TestLateCommitIsCappedByMaxRequestTime(t *testing.T) {
	const horizon = 100 * time.Millisecond
	e := newEnv(t, Options{MaxRequestTime: horizon})
	e.sim.InjectLateCommits(1, time.Hour)
	sent := time.Now()
	e.dropped("POST", "/sobjects/Contact", map[string]any{"LastName": "Capped"})
	// A client that waits out the horizon from sending finds the write.
	time.Sleep(horizon - time.Since(sent))
	if contacts(e) != 1 {
		t.Fatal("the write had not committed at the commit horizon")
	}
}

func TestLostResponsesAreCounted(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.InjectLostResponses(2)
	e.do("GET", "/limits", nil).object(t, 200)
	e.do("POST", "/sobjects/Contact", map[string]any{"FirstName": "NoLastName"}).apiErr(t, 400, "REQUIRED_FIELD_MISSING") // failed writes are answered
	e.dropped("POST", "/sobjects/Contact", map[string]any{"LastName": "One"})
	e.dropped("DELETE", "/sobjects/Contact/"+e.sim.Insert("Contact", map[string]any{"LastName": "Two"}), nil)
	e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "Three"}).object(t, 201)
	if st := e.sim.Stats(); st.Faults["lost_response"] != 2 || st.Writes != 3 {
		t.Errorf("stats %+v", st)
	}
	if n := contacts(e); n != 2 {
		t.Errorf("%d contacts, want One and Three", n)
	}
}

const lockMsg = "unable to obtain exclusive access to this record or 1 records: 0035g0000000001AAA"

func TestRecordFaultsInCollections(t *testing.T) {
	tests := []struct {
		name string
		// call sends two records, a then b, for the fault to strike a.
		call func(e *env) result
		// written reports whether the record named a or b was written.
		written func(e *env, which string) bool
	}{
		{
			name: "create",
			call: func(e *env) result {
				return e.do("POST", "/composite/sobjects", map[string]any{"records": []any{
					sobj("Contact", map[string]any{"LastName": "a"}), sobj("Contact", map[string]any{"LastName": "b"})}})
			},
			written: func(e *env, which string) bool { return hasContact(e, "LastName", which) },
		},
		{
			name: "update",
			call: func(e *env) result {
				a := e.sim.Insert("Contact", map[string]any{"LastName": "a"})
				b := e.sim.Insert("Contact", map[string]any{"LastName": "b"})
				return e.do("PATCH", "/composite/sobjects", map[string]any{"records": []any{
					sobj("Contact", map[string]any{"Id": a, "Title": "T"}), sobj("Contact", map[string]any{"Id": b, "Title": "T"})}})
			},
			written: func(e *env, which string) bool {
				for _, r := range e.sim.Records("Contact") {
					if r["LastName"] == which {
						return r["Title"] == "T"
					}
				}
				return false
			},
		},
		{
			name: "upsert",
			call: func(e *env) result {
				return e.do("PATCH", "/composite/sobjects/Contact/AwardForce_Slug__c", map[string]any{"records": []any{
					sobj("Contact", map[string]any{"AwardForce_Slug__c": "a", "LastName": "a"}), sobj("Contact", map[string]any{"AwardForce_Slug__c": "b", "LastName": "b"})}})
			},
			written: func(e *env, which string) bool { return hasContact(e, "AwardForce_Slug__c", which) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			e.sim.InjectRecordFaults(1, "UNABLE_TO_LOCK_ROW", lockMsg)
			res := tt.call(e).records(t)
			if len(res) != 2 || res[0].Success || !res[1].Success {
				t.Fatalf("results %+v", res)
			}
			want := []map[string]any{{"statusCode": "UNABLE_TO_LOCK_ROW", "message": lockMsg, "fields": []any{}}}
			if !reflect.DeepEqual(res[0].Errors, want) {
				t.Errorf("errors %v, want %v", res[0].Errors, want)
			}
			if tt.written(e, "a") || !tt.written(e, "b") {
				t.Errorf("a written %v, b written %v: want only b", tt.written(e, "a"), tt.written(e, "b"))
			}
			st := e.sim.Stats()
			if st.APICalls != 1 || st.Writes != 1 || st.Faults["UNABLE_TO_LOCK_ROW"] != 1 {
				t.Errorf("stats %+v", st)
			}
			// The fault was used up.
			if res := tt.call(e).records(t); !res[0].Success {
				t.Errorf("second call %+v", res)
			}
		})
	}
}

func hasContact(e *env, field, value string) bool {
	for _, r := range e.sim.Records("Contact") {
		if r[field] == value {
			return true
		}
	}
	return false
}

func TestRecordFaultsInSingleRecordWrites(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   func(id string) string
		body   map[string]any
		// unchanged reports whether the write left the org as it was.
		unchanged func(e *env, id string) bool
	}{
		{"create", "POST", func(string) string { return "/sobjects/Contact" }, map[string]any{"LastName": "New"},
			func(e *env, _ string) bool { return contacts(e) == 1 }},
		{"update", "PATCH", func(id string) string { return "/sobjects/Contact/" + id }, map[string]any{"Title": "T"},
			func(e *env, id string) bool { r, _ := e.sim.Record("Contact", id); return r["Title"] == nil }},
		{"upsert update", "PATCH", func(string) string { return "/sobjects/Contact/AwardForce_Slug__c/Existing" }, map[string]any{"Title": "T"},
			func(e *env, id string) bool { r, _ := e.sim.Record("Contact", id); return r["Title"] == nil }},
		{"upsert create", "PATCH", func(string) string { return "/sobjects/Contact/AwardForce_Slug__c/NewSlug" }, map[string]any{"LastName": "New"},
			func(e *env, _ string) bool { return contacts(e) == 1 }},
		{"delete", "DELETE", func(id string) string { return "/sobjects/Contact/" + id }, nil,
			func(e *env, id string) bool { _, ok := e.sim.Record("Contact", id); return ok }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			id := e.sim.Insert("Contact", map[string]any{"LastName": "Existing", "AwardForce_Slug__c": "Existing"})
			e.sim.InjectRecordFaults(1, "UNABLE_TO_LOCK_ROW", lockMsg)
			var body any
			if tt.body != nil {
				body = tt.body
			}
			r := e.do(tt.method, tt.path(id), body)
			if r.status != 400 {
				t.Fatalf("%d %s, want 400", r.status, r.body)
			}
			var errs []map[string]any
			mustJSON(t, r.body, &errs)
			want := []map[string]any{{"errorCode": "UNABLE_TO_LOCK_ROW", "message": lockMsg, "fields": []any{}}}
			if !reflect.DeepEqual(errs, want) {
				t.Errorf("body %s", r.body)
			}
			if !tt.unchanged(e, id) {
				t.Error("the failed record was written")
			}
			if st := e.sim.Stats(); st.APICalls != 1 || st.Writes != 0 || st.Faults["UNABLE_TO_LOCK_ROW"] != 1 {
				t.Errorf("stats %+v", st)
			}
			if r := e.do(tt.method, tt.path(id), body); r.status >= 300 {
				t.Errorf("after the fault: %d %s", r.status, r.body)
			}
		})
	}
}

func TestRecordFaultsCountRecordsAndQueue(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.InjectRecordFaults(2, "UNABLE_TO_LOCK_ROW", "locked")
	e.sim.InjectRecordFaults(1, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "rejected by a validation rule")
	var recs []any
	for i := range 4 {
		recs = append(recs, sobj("Contact", map[string]any{"LastName": fmt.Sprint(i)}))
	}
	res := e.do("POST", "/composite/sobjects", map[string]any{"records": recs}).records(t)
	var got []string
	for _, r := range res {
		if r.Success {
			got = append(got, "ok")
		} else {
			got = append(got, r.Errors[0]["statusCode"].(string))
		}
	}
	if want := "UNABLE_TO_LOCK_ROW UNABLE_TO_LOCK_ROW FIELD_CUSTOM_VALIDATION_EXCEPTION ok"; strings.Join(got, " ") != want {
		t.Errorf("results %v, want %s", got, want)
	}
	if f := e.sim.Stats().Faults; f["UNABLE_TO_LOCK_ROW"] != 2 || f["FIELD_CUSTOM_VALIDATION_EXCEPTION"] != 1 {
		t.Errorf("faults %v", f)
	}
	// allOrNone: the faulted record rolls the others back, as any failure.
	e.sim.InjectRecordFaults(1, "UNABLE_TO_LOCK_ROW", "locked")
	before := contacts(e)
	res = e.do("POST", "/composite/sobjects", map[string]any{"allOrNone": true, "records": recs[:2]}).records(t)
	if res[0].Success || res[1].Success || res[1].Errors[0]["statusCode"] != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || contacts(e) != before {
		t.Errorf("allOrNone: %+v", res)
	}
}

func TestInjectFaultsAreCounted(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.InjectFaults(2, 503, "SERVER_UNAVAILABLE", "Server unavailable")
	e.do("GET", "/limits", nil).apiErr(t, 503, "SERVER_UNAVAILABLE")
	e.do("GET", "/limits", nil).apiErr(t, 503, "SERVER_UNAVAILABLE")
	if f := e.sim.Stats().Faults; !reflect.DeepEqual(f, map[string]int{"SERVER_UNAVAILABLE": 2}) {
		t.Errorf("faults %v", f)
	}
	e.sim.ResetStats()
	if f := e.sim.Stats().Faults; f == nil || len(f) != 0 {
		t.Errorf("after ResetStats: %v", f)
	}
}

var transientCodes = map[int]string{503: "SERVER_UNAVAILABLE", 500: "UNKNOWN_EXCEPTION", 403: "REQUEST_LIMIT_EXCEEDED"}

func TestChaosTransient(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.SetChaos(Chaos{Transient: 1, Seed: 3})
	statuses := map[int]int{}
	for range 30 {
		r := e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "x"})
		code, ok := transientCodes[r.status]
		if !ok {
			t.Fatalf("%d %s, want a transient error", r.status, r.body)
		}
		m := r.apiErr(t, r.status, code)
		switch code {
		case "UNKNOWN_EXCEPTION":
			if m["message"] != "An unexpected error occurred" {
				t.Errorf("message %v", m["message"])
			}
		case "REQUEST_LIMIT_EXCEEDED":
			if m["message"] != "ConcurrentRequests (concurrent API requests) Limit exceeded." {
				t.Errorf("message %v", m["message"])
			}
		}
		if r.header.Get("Sforce-Limit-Info") == "" {
			t.Error("a charged request carries its usage")
		}
		statuses[r.status]++
	}
	if len(statuses) != 3 {
		t.Errorf("statuses %v, want all three kinds", statuses)
	}
	if contacts(e) != 0 {
		t.Error("a transient error wrote")
	}
	status, body := e.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"csecret"}})
	if status != 503 || string(body) != "Service Unavailable" {
		t.Errorf("token: %d %q", status, body)
	}
	st := e.sim.Stats()
	if st.APICalls != 30 || st.Faults["transient"] != 30 || st.Faults["token_unavailable"] != 1 || st.TokenRequests != 2 {
		t.Errorf("stats %+v", st)
	}
	e.sim.SetChaos(Chaos{})
	e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "x"}).object(t, 201)
}

func TestChaosRecordLock(t *testing.T) {
	e := newEnv(t, Options{})
	id := e.sim.Insert("Contact", map[string]any{"LastName": "Locked"})
	e.sim.SetChaos(Chaos{RecordLock: 1})
	res := e.do("POST", "/composite/sobjects", map[string]any{"records": []any{
		sobj("Contact", map[string]any{"LastName": "a"}), sobj("Contact", map[string]any{"LastName": "b"})}}).records(t)
	for _, r := range res {
		if r.Success || r.Errors[0]["statusCode"] != "UNABLE_TO_LOCK_ROW" {
			t.Errorf("result %+v", r)
		}
	}
	m := e.do("PATCH", "/sobjects/Contact/"+id, map[string]any{"Title": "T"}).apiErr(t, 400, "UNABLE_TO_LOCK_ROW")
	if m["message"] != "unable to obtain exclusive access to this record or 1 records: "+id {
		t.Errorf("message %v", m["message"])
	}
	if contacts(e) != 1 || e.sim.Stats().Faults["record_lock"] != 3 {
		t.Errorf("%d contacts, stats %+v", contacts(e), e.sim.Stats())
	}
}

func TestChaosLostResponseAndLateCommit(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.SetChaos(Chaos{LostResponse: 1})
	e.dropped("POST", "/sobjects/Contact", map[string]any{"LastName": "Lost"})
	if contacts(e) != 1 {
		t.Fatal("a lost response's write must commit")
	}
	e.do("GET", "/limits", nil).object(t, 200)

	e.sim.SetChaos(Chaos{LateCommit: 1, LateCommitDelay: 50 * time.Millisecond})
	sent := time.Now()
	e.dropped("POST", "/sobjects/Contact", map[string]any{"LastName": "Late"})
	e.do("GET", "/limits", nil).object(t, 200)
	eventually(t, time.Second, "the late commit never landed", func() bool { return contacts(e) == 2 })
	if since := time.Since(sent); since < 50*time.Millisecond {
		t.Errorf("landed after %v", since)
	}
	if f := e.sim.Stats().Faults; f["lost_response"] != 1 || f["late_commit"] != 1 {
		t.Errorf("faults %v", f)
	}
}

func TestChaosShareZeroInjectsNothing(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.SetChaos(Chaos{Seed: 99, LateCommitDelay: time.Hour})
	for i := range 20 {
		e.do("POST", "/composite/sobjects", map[string]any{"records": []any{sobj("Contact", map[string]any{"LastName": fmt.Sprint(i)})}}).records(t)
		e.do("PATCH", "/sobjects/Contact/AwardForce_Slug__c/s"+fmt.Sprint(i), map[string]any{"LastName": "x"}).object(t, 201)
		e.do("GET", "/limits", nil).object(t, 200)
	}
	if st := e.sim.Stats(); len(st.Faults) != 0 || st.Writes != 40 {
		t.Errorf("stats %+v", st)
	}
}

func TestChaosIsReproducible(t *testing.T) {
	run := func(c Chaos) string {
		e := newEnv(t, Options{})
		e.sim.SetChaos(c)
		var out []string
		for i := range 40 {
			r := e.do("POST", "/composite/sobjects", map[string]any{"records": []any{
				sobj("Contact", map[string]any{"LastName": fmt.Sprint(i)}), sobj("Contact", map[string]any{"LastName": fmt.Sprint(i)})}})
			if r.status != 200 {
				out = append(out, fmt.Sprint(r.status))
				continue
			}
			for _, rr := range r.records(t) {
				out = append(out, fmt.Sprint(rr.Success))
			}
		}
		return strings.Join(out, ",")
	}
	c := Chaos{Transient: 0.3, RecordLock: 0.3, Seed: 7}
	a, b := run(c), run(c)
	if a != b {
		t.Fatalf("same seed, different faults:\n%s\n%s", a, b)
	}
	c.Seed = 8
	if run(c) == a {
		t.Error("another seed gave the same faults")
	}
}

func TestSetChaosValidates(t *testing.T) {
	for name, c := range map[string]Chaos{
		"negative":       {Transient: -0.1},
		"above one":      {RecordLock: 1.5},
		"NaN":            {LostResponse: math.NaN()},
		"late above one": {LateCommit: 2},
		"negative delay": {LateCommit: 0.5, LateCommitDelay: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			New(Options{}).SetChaos(c)
		})
	}
	New(Options{}).SetChaos(Chaos{Transient: 0, RecordLock: 1, LostResponse: 0.5}) // valid
}

// TestSetChaosWhileServing is for the race detector.
func TestSetChaosWhileServing(t *testing.T) {
	e := newEnv(t, Options{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 15 {
				e.do("POST", "/composite/sobjects", map[string]any{"records": []any{sobj("Contact", map[string]any{"LastName": fmt.Sprint(w, i)})}})
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			e.sim.SetChaos(Chaos{Transient: 0.2, RecordLock: 0.2, Seed: uint64(i)})
			_ = e.sim.Stats()
		}
	})
	wg.Wait()
}

// setCaseSensitive redefines a Contact field of s; the schema has no Unique
// case-insensitive external id to test with. Matching reads the flag under
// s.mu.
func setCaseSensitive(s *Server, field string, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects["contact"].field(field).CaseSensitive = v
}

func TestExternalIDCaseSensitivity(t *testing.T) {
	tests := []struct {
		name        string
		field       string
		insensitive bool // make the field Unique and case-insensitive
		stored, ask string
		match       bool
	}{
		{"slug exact", "AwardForce_Slug__c", false, "AbCdEfGh", "AbCdEfGh", true},
		{"slug other case", "AwardForce_Slug__c", false, "AbCdEfGh", "abcdefgh", false},
		{"unique case-insensitive", "AwardForce_Slug__c", true, "AbCdEfGh", "abcdefgh", true},
		{"non-unique exact", "AwardForce_Id__c", false, "Af-1", "Af-1", true},
		{"non-unique other case", "AwardForce_Id__c", false, "Af-1", "AF-1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			setCaseSensitive(e.sim, tt.field, !tt.insensitive && tt.field == "AwardForce_Slug__c")
			id := e.sim.Insert("Contact", map[string]any{"LastName": "Stored", tt.field: tt.stored})
			path := "/sobjects/Contact/" + tt.field + "/" + tt.ask

			// GET by external id.
			if r := e.do("GET", path, nil); tt.match != (r.status == 200) {
				t.Errorf("GET: %d, want match %v", r.status, tt.match)
			}
			// Queries stay case-insensitive.
			if m := e.do("GET", q("SELECT Id FROM Contact WHERE "+tt.field+" IN ('"+tt.ask+"')"), nil).object(t, 200); m["totalSize"] != float64(1) {
				t.Errorf("query: %v", m)
			}
			// Collection upsert; then single upsert with the body's value.
			res := e.do("PATCH", "/composite/sobjects/Contact/"+tt.field, map[string]any{"records": []any{
				sobj("Contact", map[string]any{tt.field: tt.ask, "LastName": "Coll"})}}).records(t)
			if !res[0].Success || res[0].Created == tt.match || tt.match && res[0].ID != id {
				t.Errorf("collection upsert %+v, want match %v", res[0], tt.match)
			}
			if tt.match {
				m := e.do("PATCH", path, map[string]any{"Title": "T", tt.field: tt.ask}).object(t, 200)
				if m["id"] != id || m["created"] != false {
					t.Errorf("single upsert %v", m)
				}
			} else {
				// The value now names the record the collection created.
				if m := e.do("PATCH", path, map[string]any{"Title": "T"}).object(t, 200); m["id"] == id {
					t.Errorf("single upsert matched the stored record: %v", m)
				}
			}
		})
	}
}

func TestUniqueAndDuplicateExternalIDFollowCase(t *testing.T) {
	for _, insensitive := range []bool{false, true} {
		t.Run(fmt.Sprint("insensitive=", insensitive), func(t *testing.T) {
			e := newEnv(t, Options{})
			setCaseSensitive(e.sim, "AwardForce_Slug__c", !insensitive)
			e.sim.Insert("Contact", map[string]any{"LastName": "A", "AwardForce_Slug__c": "AbCdEfGh"})
			r := e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "B", "AwardForce_Slug__c": "abcdefgh"})
			if insensitive {
				r.apiErr(t, 400, "DUPLICATE_VALUE")
			} else {
				r.object(t, 201)
			}
			res := e.do("PATCH", "/composite/sobjects/Contact/AwardForce_Slug__c", map[string]any{"records": []any{
				sobj("Contact", map[string]any{"AwardForce_Slug__c": "xyzXYZab", "LastName": "x"}),
				sobj("Contact", map[string]any{"AwardForce_Slug__c": "XYZxyzAB", "LastName": "y"})}}).records(t)
			for _, rr := range res {
				if insensitive == rr.Success || insensitive && rr.Errors[0]["statusCode"] != "DUPLICATE_EXTERNAL_ID" {
					t.Errorf("result %+v", rr)
				}
			}
		})
	}
	// A non-unique external id matches case-sensitively, so two values that
	// differ in case are two external ids.
	e := newEnv(t, Options{})
	res := e.do("PATCH", "/composite/sobjects/Contact/AwardForce_Id__c", map[string]any{"records": []any{
		sobj("Contact", map[string]any{"AwardForce_Id__c": "k1", "LastName": "x"}),
		sobj("Contact", map[string]any{"AwardForce_Id__c": "K1", "LastName": "y"})}}).records(t)
	if !res[0].Success || !res[1].Success {
		t.Errorf("results %+v", res)
	}
}

func TestDescribeCaseSensitive(t *testing.T) {
	e := newEnv(t, Options{})
	var d struct {
		Fields []struct {
			Name          string
			Unique        bool
			ExternalID    bool `json:"externalId"`
			CaseSensitive *bool
		}
	}
	mustJSON(t, e.do("GET", "/sobjects/Contact/describe", nil).body, &d)
	got := map[string]string{}
	for _, f := range d.Fields {
		if f.CaseSensitive == nil {
			t.Fatalf("%s lacks caseSensitive", f.Name)
		}
		got[f.Name] = fmt.Sprint(f.ExternalID, f.Unique, *f.CaseSensitive)
	}
	if got["AwardForce_Slug__c"] != "true true true" || got["AwardForce_Id__c"] != "true false false" || got["Email"] != "false false false" {
		t.Errorf("externalId unique caseSensitive: %v", got)
	}
}

func TestConcurrentUpsertsOfOneValue(t *testing.T) {
	tests := []struct {
		name       string
		field      string
		collection bool
		records    int
	}{
		{"unique, single", "AwardForce_Slug__c", false, 1},
		{"unique, collection", "AwardForce_Slug__c", true, 1},
		{"non-unique, single", "AwardForce_Id__c", false, 2},
		{"non-unique, collection", "AwardForce_Id__c", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, Options{WriteTime: 200 * time.Millisecond})
			upsert := func() (created bool, dup map[string]any) {
				if tt.collection {
					res := e.do("PATCH", "/composite/sobjects/Contact/"+tt.field, map[string]any{"records": []any{
						sobj("Contact", map[string]any{tt.field: "RaceKey1", "LastName": "Racer"})}}).records(t)
					if res[0].Success {
						return res[0].Created, nil
					}
					return false, res[0].Errors[0]
				}
				r := e.do("PATCH", "/sobjects/Contact/"+tt.field+"/RaceKey1", map[string]any{"LastName": "Racer"})
				if r.status == 400 {
					return false, r.apiErr(t, 400, "DUPLICATE_VALUE")
				}
				return r.object(t, 201)["created"] == true, nil
			}
			var mu sync.Mutex
			var created int
			var dups []map[string]any
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					c, d := upsert()
					mu.Lock()
					defer mu.Unlock()
					if c {
						created++
					}
					if d != nil {
						dups = append(dups, d)
					}
				})
			}
			wg.Wait()
			recs := e.sim.Records("Contact")
			if len(recs) != tt.records || created != tt.records {
				t.Fatalf("%d records, %d created; want %d", len(recs), created, tt.records)
			}
			if tt.records == 2 {
				return
			}
			if len(dups) != 1 {
				t.Fatalf("refusals %v, want one DUPLICATE_VALUE", dups)
			}
			code := dups[0]["errorCode"]
			if tt.collection {
				code = dups[0]["statusCode"]
			}
			wantMsg := "duplicate value found: AwardForce_Slug__c duplicates value on record with id: " + recs[0]["Id"].(string)
			if code != "DUPLICATE_VALUE" || dups[0]["message"] != wantMsg || fmt.Sprint(dups[0]["fields"]) != "[]" {
				t.Errorf("refusal %v, want DUPLICATE_VALUE %q", dups[0], wantMsg)
			}
		})
	}
}

func TestWriteTimeZeroIsAtomic(t *testing.T) {
	e := newEnv(t, Options{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			e.do("PATCH", "/sobjects/Contact/AwardForce_Id__c/Atomic1", map[string]any{"LastName": "x"})
		})
	}
	wg.Wait()
	if n := contacts(e); n != 1 {
		t.Errorf("%d records, want 1: without WriteTime an upsert is atomic", n)
	}
}

func TestASpentAllocationRefusesEveryRequestUntilRestored(t *testing.T) {
	e := newEnv(t, Options{DailyLimit: 50})
	e.sim.SpendAllocation()
	r := e.do("GET", "/limits", nil)
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "TotalRequests Limit exceeded.") {
		t.Fatalf("with the allocation spent: %d %s", r.status, r.body)
	}
	e.sim.RestoreAllocation()
	if r := e.do("GET", "/limits", nil); r.status != http.StatusOK {
		t.Fatalf("after RestoreAllocation: %d %s", r.status, r.body)
	}
}

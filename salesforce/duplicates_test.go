package salesforce_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// headerLog records the Sforce-Duplicate-Rule-Header of every API request
// that reaches the simulator behind it.
type headerLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *headerLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return "(no request)"
	}
	return l.seen[len(l.seen)-1]
}

// newLoggedSim is newSim with the requests' duplicate rule headers logged.
func newLoggedSim(t *testing.T, opts sfsim.Options) (*sfsim.Server, *salesforce.Client, *headerLog) {
	t.Helper()
	opts.ClientID, opts.ClientSecret = clientID, secret
	sim := sfsim.New(opts)
	log := &headerLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/services/data/") {
			log.mu.Lock()
			log.seen = append(log.seen, r.Header.Get(salesforce.DuplicateRuleHeaderName))
			log.mu.Unlock()
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := salesforce.New(salesforce.Config{LoginURL: srv.URL, ClientID: clientID, ClientSecret: secret})
	require.NoError(t, err)
	return sim, c, log
}

// Every write path sends DuplicateRuleHeader when asked, and only then;
// a refusal names the duplicates, in single-record errors and in each
// collection record's errors alike.
func TestDuplicateRuleHeaderOnEveryWrite(t *testing.T) {
	allow := salesforce.DuplicateRuleHeader{AllowSave: true}
	type write func(c *salesforce.Client, opts ...salesforce.SaveOption) (ids []string, err error)
	one := func(err error) ([]string, error) {
		if err != nil {
			return apiErrorIDs(err), err
		}
		return nil, nil
	}
	many := func(res []salesforce.SaveResult, err error) ([]string, error) {
		if err != nil {
			return nil, err
		}
		if !res[0].Success {
			return salesforce.DuplicateIDs(res[0].Errors), &salesforce.Error{ErrorCode: res[0].Errors[0].StatusCode}
		}
		return nil, nil
	}
	ctx := context.Background()
	dup := map[string]any{"LastName": "Twin", "Email": "TAKEN@example.org"}
	tests := []struct {
		name  string
		write func(sim *sfsim.Server) write
	}{
		{"Create", func(*sfsim.Server) write {
			return func(c *salesforce.Client, opts ...salesforce.SaveOption) ([]string, error) {
				_, err := c.Create(ctx, "Contact", dup, opts...)
				return one(err)
			}
		}},
		{"Update", func(sim *sfsim.Server) write {
			id := sim.Insert("Contact", map[string]any{"LastName": "Other", "Email": "other@example.org"})
			return func(c *salesforce.Client, opts ...salesforce.SaveOption) ([]string, error) {
				return one(c.Update(ctx, "Contact", id, map[string]any{"Email": "taken@example.org"}, opts...))
			}
		}},
		{"Upsert", func(*sfsim.Server) write {
			return func(c *salesforce.Client, opts ...salesforce.SaveOption) ([]string, error) {
				_, err := c.Upsert(ctx, "Contact", "AwardForce_Slug__c", "Twin0001", dup, opts...)
				return one(err)
			}
		}},
		{"CreateCollection", func(*sfsim.Server) write {
			return func(c *salesforce.Client, opts ...salesforce.SaveOption) ([]string, error) {
				return many(c.CreateCollection(ctx, []salesforce.SObject{{Type: "Contact", Fields: dup}}, false, opts...))
			}
		}},
		{"UpdateCollection", func(sim *sfsim.Server) write {
			id := sim.Insert("Contact", map[string]any{"LastName": "Other", "Email": "other@example.org"})
			return func(c *salesforce.Client, opts ...salesforce.SaveOption) ([]string, error) {
				return many(c.UpdateCollection(ctx, []salesforce.SObject{{Type: "Contact", ID: id, Fields: map[string]any{"Email": "taken@example.org"}}}, false, opts...))
			}
		}},
		{"UpsertCollection", func(*sfsim.Server) write {
			return func(c *salesforce.Client, opts ...salesforce.SaveOption) ([]string, error) {
				rec := salesforce.SObject{Fields: map[string]any{"AwardForce_Slug__c": "Twin0002", "LastName": "Twin", "Email": "taken@example.org"}}
				return many(c.UpsertCollection(ctx, "Contact", "AwardForce_Slug__c", []salesforce.SObject{rec}, false, opts...))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, action := range []sfsim.DuplicateAction{sfsim.DuplicateAlert, sfsim.DuplicateBlock} {
				sim, c, log := newLoggedSim(t, sfsim.Options{DuplicateRules: []sfsim.DuplicateRule{{Object: "Contact", Action: action}}})
				taken := sim.Insert("Contact", map[string]any{"LastName": "Taken", "Email": "taken@example.org"})
				w := tt.write(sim)

				ids, err := w(c)
				require.Error(t, err, "%s rule, no header", action)
				assert.Equal(t, "DUPLICATES_DETECTED", apiError(t, err).ErrorCode)
				assert.Equal(t, []string{taken}, ids, "the duplicates Salesforce named")
				assert.Empty(t, log.last(), "no header unless asked")

				ids, err = w(c, allow)
				assert.Equal(t, "allowSave=true; includeRecordDetails=false; runAsCurrentUser=false", log.last())
				if action == sfsim.DuplicateBlock {
					require.Error(t, err, "a Block rule refuses whatever the header says")
					assert.Equal(t, []string{taken}, ids)
				} else {
					require.NoError(t, err, "an Alert rule lets allowSave through")
				}
			}
		})
	}
}

func apiErrorIDs(err error) []string {
	var e *salesforce.Error
	if errors.As(err, &e) {
		return e.DuplicateIDs
	}
	return nil
}

// The client reads the platform's DUPLICATES_DETECTED answers, whichever
// rule and match engine produced them: the ids come from
// duplicateResult.matchResults[].matchRecords[].record.Id.
func TestDuplicatesDetectedIsDecoded(t *testing.T) {
	const single = `[{"duplicateResult":{"allowSave":true,"duplicateRule":"Standard_Contact_Duplicate_Rule","duplicateRuleEntityType":"Contact",` +
		`"errorMessage":"Use one of these records?","matchResults":[{"entityType":"Contact","errors":[],"matchEngine":"FuzzyMatchEngine",` +
		`"matchRecords":[{"additionalInformation":[],"fieldDiffs":[],"matchConfidence":95.5,"record":{"attributes":{"type":"Contact","url":"/services/data/v62.0/sobjects/Contact/003000000000001AAA"},"Id":"003000000000001AAA"}},` +
		`{"additionalInformation":[],"fieldDiffs":[],"matchConfidence":88.0,"record":{"attributes":{"type":"Contact","url":"/services/data/v62.0/sobjects/Contact/003000000000002AAA"},"Id":"003000000000002AAA","LastName":"Doe"}}],` +
		`"rule":"Standard_Contact_Match_Rule_v1_1","size":2,"success":true}]},"errorCode":"DUPLICATES_DETECTED","message":"Use one of these records?"}]`
	const collection = `[{"success":false,"errors":[{"statusCode":"DUPLICATES_DETECTED","message":"Use one of these records?","fields":[],` +
		`"duplicateResult":{"allowSave":false,"duplicateRule":"Block_Twins","duplicateRuleEntityType":"Contact","errorMessage":"Use one of these records?",` +
		`"matchResults":[{"entityType":"Contact","errors":[],"matchEngine":"ExactMatchEngine","matchRecords":[{"matchConfidence":100.0,"record":{"attributes":{"type":"Contact"},"Id":"003000000000003AAA"}}],"rule":"Email_Rule","size":1,"success":true}]}}]}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/services/oauth2/token":
			_, _ = w.Write([]byte(`{"access_token":"tok","instance_url":"http://` + r.Host + `","id":"x/005000000000001AAA"}`))
		case "/services/data/" + salesforce.DefaultAPIVersion + "/sobjects/Contact":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(single))
		default:
			_, _ = w.Write([]byte(collection))
		}
	}))
	t.Cleanup(srv.Close)
	c, err := salesforce.New(salesforce.Config{LoginURL: srv.URL, ClientID: clientID, ClientSecret: secret})
	require.NoError(t, err)

	_, err = c.Create(context.Background(), "Contact", map[string]any{"LastName": "Doe"})
	e := apiError(t, err)
	assert.Equal(t, "DUPLICATES_DETECTED", e.ErrorCode)
	assert.Equal(t, "Use one of these records?", e.Message)
	assert.Equal(t, []string{"003000000000001AAA", "003000000000002AAA"}, e.DuplicateIDs)
	assert.Contains(t, e.Error(), "(duplicates: 003000000000001AAA, 003000000000002AAA)")
	assert.True(t, e.Answered() && salesforce.IsPermanentCode(e.ErrorCode) && !e.Temporary())

	res, err := c.CreateCollection(context.Background(), []salesforce.SObject{{Type: "Contact", Fields: map[string]any{"LastName": "Doe"}}}, false)
	require.NoError(t, err)
	require.Len(t, res[0].Errors, 1)
	d := res[0].Errors[0].DuplicateResult
	require.NotNil(t, d)
	assert.False(t, d.AllowSave)
	assert.Equal(t, "Block_Twins", d.DuplicateRule)
	assert.Equal(t, []string{"003000000000003AAA"}, d.RecordIDs())
	assert.Equal(t, []string{"003000000000003AAA"}, salesforce.DuplicateIDs(res[0].Errors))
	assert.Empty(t, salesforce.DuplicateIDs([]salesforce.RecordError{{StatusCode: "REQUIRED_FIELD_MISSING"}}))
}

// The describe says which picklists are restricted, and the org refuses
// what they do not list.
func TestRestrictedPicklist(t *testing.T) {
	_, c := newSim(t, sfsim.Options{})
	ctx := context.Background()
	d, err := c.Describe(ctx, "Lead")
	require.NoError(t, err)
	status, _ := d.Field("Status")
	source, _ := d.Field("LeadSource")
	assert.True(t, status.RestrictedPicklist)
	assert.False(t, source.RestrictedPicklist)

	_, err = c.Create(ctx, "Lead", map[string]any{"LastName": "L", "Company": "C", "Status": "Hot", "LeadSource": "Award Force"})
	e := apiError(t, err)
	assert.Equal(t, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", e.ErrorCode)
	assert.Equal(t, []string{"Status"}, e.Fields)
	assert.Equal(t, "bad value for restricted picklist field: Hot", e.Message)
	_, err = c.Create(ctx, "Lead", map[string]any{"LastName": "L", "Company": "C", "LeadSource": "Award Force"})
	assert.NoError(t, err, "an unrestricted picklist takes any value")
}

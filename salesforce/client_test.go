package salesforce_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/sandbox/sfsim"
)

const (
	clientID = "3MVG9-consumer-key"
	secret   = "s3cr3t-value-never-logged"
)

// newSim starts sfsim behind a real HTTP server and returns a
// client-credentials client for it.
func newSim(t *testing.T, opts sfsim.Options, mutate ...func(*salesforce.Config)) (*sfsim.Server, *salesforce.Client) {
	t.Helper()
	opts.ClientID, opts.ClientSecret = clientID, secret
	sim := sfsim.New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cfg := salesforce.Config{LoginURL: srv.URL, ClientID: clientID, ClientSecret: secret}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := salesforce.New(cfg)
	require.NoError(t, err)
	return sim, c
}

func apiError(t *testing.T, err error) *salesforce.Error {
	t.Helper()
	var e *salesforce.Error
	require.True(t, errors.As(err, &e), "want *salesforce.Error, got %T: %v", err, err)
	return e
}

func TestNewValidation(t *testing.T) {
	key := pemKey(t, mustKey(t))
	tests := []struct {
		name      string
		cfg       salesforce.Config
		want      string
		wantField string
	}{
		{"no login url", salesforce.Config{ClientID: "x", ClientSecret: "y"}, "LoginURL", "LoginURL"},
		{"relative login url", salesforce.Config{LoginURL: "acme.my.salesforce.com", ClientID: "x", ClientSecret: "y"}, "LoginURL", "LoginURL"},
		{"no client id", salesforce.Config{LoginURL: "https://x", ClientSecret: "y"}, "ClientID", "ClientID"},
		{"no flow", salesforce.Config{LoginURL: "https://x", ClientID: "x"}, "ClientSecret", "ClientSecret"},
		{"both flows", salesforce.Config{LoginURL: "https://x", ClientID: "x", ClientSecret: "y", Username: "u", PrivateKeyPEM: key}, "not both", "ClientSecret"},
		{"key without user", salesforce.Config{LoginURL: "https://x", ClientID: "x", PrivateKeyPEM: key}, "Username", "Username"},
		{"user without key", salesforce.Config{LoginURL: "https://x", ClientID: "x", Username: "u"}, "PrivateKeyPEM", "PrivateKeyPEM"},
		{"garbage key", salesforce.Config{LoginURL: "https://x", ClientID: "x", Username: "u", PrivateKeyPEM: []byte("nope")}, "PrivateKeyPEM", "PrivateKeyPEM"},
		{"bad version", salesforce.Config{LoginURL: "https://x", ClientID: "x", ClientSecret: "y", APIVersion: "latest"}, "APIVersion", "APIVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := salesforce.New(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "-----BEGIN")
			var se *salesforce.SettingError
			require.ErrorAs(t, err, &se, "a refused setting names its Config fields")
			assert.Contains(t, se.Fields, tt.wantField)
		})
	}
	_, err := salesforce.New(salesforce.Config{LoginURL: "https://x", ClientID: "x", ClientSecret: "y", APIVersion: "61.0"})
	assert.NoError(t, err)
}

func TestClientCredentialsTokenReuse(t *testing.T) {
	sim, c := newSim(t, sfsim.Options{})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		_, err := c.Query(ctx, "SELECT Id FROM Contact")
		require.NoError(t, err)
	}
	st := sim.Stats()
	assert.Equal(t, 1, st.TokenRequests)
	assert.Equal(t, 5, st.APICalls)

	// Concurrent first calls share one token fetch.
	sim2, c2 := newSim(t, sfsim.Options{Latency: 20 * time.Millisecond})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c2.Describe(ctx, "Contact")
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, sim2.Stats().TokenRequests)
	assert.Equal(t, 20, sim2.Stats().APICalls)
}

func mustKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}

func pemKey(t *testing.T, k *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestJWTBearer(t *testing.T) {
	key := mustKey(t)
	sim := sfsim.New(sfsim.Options{JWTConsumerKey: clientID, JWTUsername: "integration@acme.test", JWTPublicKey: &key.PublicKey})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	ctx := context.Background()

	c, err := salesforce.New(salesforce.Config{LoginURL: srv.URL, ClientID: clientID, Username: "integration@acme.test", PrivateKeyPEM: pemKey(t, key)})
	require.NoError(t, err)
	_, err = c.Describe(ctx, "Contact")
	require.NoError(t, err)
	assert.Equal(t, 1, sim.Stats().TokenRequests)

	// PKCS#1 keys work too.
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	c, err = salesforce.New(salesforce.Config{LoginURL: srv.URL, ClientID: clientID, Username: "integration@acme.test", PrivateKeyPEM: pkcs1, Audience: "https://test.salesforce.com"})
	require.NoError(t, err)
	_, err = c.Describe(ctx, "Contact")
	require.NoError(t, err)

	for name, cfg := range map[string]salesforce.Config{
		"wrong user": {LoginURL: srv.URL, ClientID: clientID, Username: "someone@acme.test", PrivateKeyPEM: pemKey(t, key)},
		"wrong key":  {LoginURL: srv.URL, ClientID: clientID, Username: "integration@acme.test", PrivateKeyPEM: pemKey(t, mustKey(t))},
		"wrong aud":  {LoginURL: srv.URL, ClientID: clientID, Username: "integration@acme.test", PrivateKeyPEM: pemKey(t, key), Audience: "https://acme.my.salesforce.com"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := salesforce.New(cfg)
			require.NoError(t, err)
			_, err = c.Describe(ctx, "Contact")
			e := apiError(t, err)
			assert.Equal(t, 400, e.HTTPStatus)
			assert.Equal(t, "invalid_grant", e.ErrorCode)
			assert.True(t, salesforce.IsPermanentCode(e.ErrorCode))
			assert.False(t, e.Temporary())
		})
	}
}

func TestInvalidClient(t *testing.T) {
	_, c := newSim(t, sfsim.Options{}, func(cfg *salesforce.Config) { cfg.ClientSecret = "wrong-" + secret })
	_, err := c.Query(context.Background(), "SELECT Id FROM Contact")
	e := apiError(t, err)
	assert.Equal(t, "invalid_client", e.ErrorCode)
	assert.NotContains(t, err.Error(), secret)
}

func TestSessionRefreshOnce(t *testing.T) {
	sim, c := newSim(t, sfsim.Options{})
	ctx := context.Background()
	_, err := c.Describe(ctx, "Contact")
	require.NoError(t, err)
	sim.ExpireSessions()
	_, err = c.Describe(ctx, "Contact")
	require.NoError(t, err, "an expired session is renewed transparently")
	assert.Equal(t, 2, sim.Stats().TokenRequests)

	// A session that is dead on arrival: one refresh, one retry, then the 401.
	sim, c = newSim(t, sfsim.Options{SessionTTL: time.Nanosecond})
	_, err = c.Describe(ctx, "Contact")
	e := apiError(t, err)
	assert.Equal(t, 401, e.HTTPStatus)
	assert.Equal(t, "INVALID_SESSION_ID", e.ErrorCode)
	assert.Equal(t, 2, sim.Stats().TokenRequests)
}

func TestQueryPaging(t *testing.T) {
	sim, c := newSim(t, sfsim.Options{QueryPageSize: 2})
	for i := 0; i < 5; i++ {
		sim.Insert("Contact", map[string]any{"LastName": fmt.Sprintf("L%d", i), "Email": fmt.Sprintf("u%d@example.com", i)})
	}
	recs, err := c.Query(context.Background(), "SELECT Id, LastName, Email FROM Contact ORDER BY LastName")
	require.NoError(t, err)
	require.Len(t, recs, 5)
	for i, r := range recs {
		assert.Equal(t, fmt.Sprintf("L%d", i), r.String("LastName"))
		assert.Len(t, r.ID(), 18)
		assert.NotContains(t, r, "attributes")
	}
	st := sim.Stats()
	assert.Equal(t, 3, st.Queries)
	assert.Equal(t, 2, st.ByRoute["GET /query/{locator}"])

	one, err := c.Query(context.Background(), "SELECT Id FROM Contact WHERE Email = "+salesforce.Quote("U3@EXAMPLE.COM"))
	require.NoError(t, err)
	require.Len(t, one, 1)

	_, err = c.Query(context.Background(), "SELECT Id FROM Contact WHERE Email = 'unterminated")
	assert.Equal(t, "MALFORMED_QUERY", apiError(t, err).ErrorCode)

	// An unbounded IN list: the URI limit answers 414, a permanent error.
	values := make([]string, 800)
	for i := range values {
		values[i] = fmt.Sprintf("user%04d@example.com", i)
	}
	_, err = c.Query(context.Background(), "SELECT Id FROM Contact WHERE Email IN ("+quoted(values)+")")
	e := apiError(t, err)
	assert.Equal(t, 414, e.HTTPStatus)
	assert.True(t, salesforce.IsPermanentCode(e.ErrorCode), e.ErrorCode)
}

func TestRecordOperations(t *testing.T) {
	sim, c := newSim(t, sfsim.Options{})
	ctx := context.Background()

	id, err := c.Create(ctx, "Contact", map[string]any{"LastName": "Lovelace", "Email": "ada@example.com"})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(id, "003"))

	require.NoError(t, c.Update(ctx, "Contact", id, map[string]any{"Title": "Countess", "Email": nil}))
	rec, _ := sim.Record("Contact", id)
	assert.Equal(t, "Countess", rec["Title"])
	assert.NotContains(t, rec, "Email")

	_, err = c.Create(ctx, "Contact", map[string]any{"FirstName": "No last name"})
	e := apiError(t, err)
	assert.Equal(t, 400, e.HTTPStatus)
	assert.Equal(t, "REQUIRED_FIELD_MISSING", e.ErrorCode)
	assert.Equal(t, []string{"LastName"}, e.Fields)
	assert.True(t, salesforce.IsPermanentCode(e.ErrorCode))

	err = c.Update(ctx, "Contact", "003bogus", map[string]any{"Title": "x"})
	assert.Equal(t, "MALFORMED_ID", apiError(t, err).ErrorCode)

	// Upsert: created, then updated.
	res, err := c.Upsert(ctx, "Contact", "AwardForce_Slug__c", "ab/12", map[string]any{"LastName": "Slashed"})
	require.NoError(t, err)
	assert.True(t, res.Created)
	rec, _ = sim.Record("Contact", res.ID)
	assert.Equal(t, "ab/12", rec["AwardForce_Slug__c"], "the external id travels as one escaped path segment")
	res2, err := c.Upsert(ctx, "Contact", "AwardForce_Slug__c", "ab/12", map[string]any{"Title": "Again"})
	require.NoError(t, err)
	assert.Equal(t, salesforce.UpsertResult{ID: res.ID, Created: false}, res2)

	// Several matches: 300 → MULTIPLE_CHOICES, nothing written.
	sim.Insert("Contact", map[string]any{"LastName": "A", "AwardForce_Id__c": "7"})
	sim.Insert("Contact", map[string]any{"LastName": "B", "AwardForce_Id__c": "7"})
	_, err = c.Upsert(ctx, "Contact", "AwardForce_Id__c", "7", map[string]any{"Title": "x"})
	e = apiError(t, err)
	assert.Equal(t, 300, e.HTTPStatus)
	assert.Equal(t, "MULTIPLE_CHOICES", e.ErrorCode)
	assert.True(t, salesforce.IsPermanentCode(e.ErrorCode))

	_, err = c.Upsert(ctx, "Contact", "Email", "a@b.co", map[string]any{"LastName": "x"})
	e = apiError(t, err)
	assert.Equal(t, 404, e.HTTPStatus)
	assert.Equal(t, "NOT_FOUND", e.ErrorCode)

	// Names that are not API names never reach a URL.
	_, err = c.Create(ctx, "Contact/../../x", map[string]any{})
	require.Error(t, err)
	var notAPI *salesforce.Error
	assert.False(t, errors.As(err, &notAPI))
}

func TestDescribe(t *testing.T) {
	_, c := newSim(t, sfsim.Options{})
	d, err := c.Describe(context.Background(), "Contact")
	require.NoError(t, err)
	assert.Equal(t, "Contact", d.Name)
	f, ok := d.Field("lastname")
	require.True(t, ok)
	assert.Equal(t, salesforce.Field{Name: "LastName", Type: "string", Length: 80, Createable: true, Updateable: true, PicklistValues: []salesforce.PicklistValue{}}, f)
	source, ok := d.Field("LeadSource")
	require.True(t, ok)
	assert.Contains(t, source.PicklistValues, salesforce.PicklistValue{Value: "Web", Label: "Web", Active: true}, "a picklist's values are read")
	slug, ok := d.Field("AwardForce_Slug__c")
	require.True(t, ok)
	assert.True(t, slug.ExternalID && slug.Unique)
	assert.Equal(t, 8, slug.Length)
	_, ok = d.Field("Nope__c")
	assert.False(t, ok)

	_, err = c.Describe(context.Background(), "Nope__c")
	assert.Equal(t, "NOT_FOUND", apiError(t, err).ErrorCode)
}

func TestCollections(t *testing.T) {
	sim, c := newSim(t, sfsim.Options{DuplicateRules: []sfsim.DuplicateRule{{Object: "Contact", Action: sfsim.DuplicateBlock}}})
	ctx := context.Background()
	existing := sim.Insert("Contact", map[string]any{"LastName": "Existing", "Email": "dup@example.com"})

	res, err := c.CreateCollection(ctx, []salesforce.SObject{
		{Type: "Contact", Fields: map[string]any{"LastName": "One"}},
		{Type: "Contact", Fields: map[string]any{"LastName": "Two", "Email": "DUP@example.com"}},
		{Type: "Lead", Fields: map[string]any{"LastName": "Three", "Company": "Acme"}},
	}, false)
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.True(t, res[0].Success)
	assert.True(t, strings.HasPrefix(res[0].ID, "003"))
	assert.False(t, res[1].Success)
	require.Len(t, res[1].Errors, 1)
	assert.Equal(t, "DUPLICATES_DETECTED", res[1].Errors[0].StatusCode)
	assert.Equal(t, []string{existing}, salesforce.DuplicateIDs(res[1].Errors), "the duplicates Salesforce named")
	assert.True(t, res[2].Success)
	assert.True(t, strings.HasPrefix(res[2].ID, "00Q"))

	up, err := c.UpdateCollection(ctx, []salesforce.SObject{
		{Type: "Contact", ID: res[0].ID, Fields: map[string]any{"Title": "Updated"}},
		{Type: "Contact", ID: res[0].ID[:3] + "5g0zzzzzzzzz", Fields: map[string]any{"Title": "x"}},
	}, false)
	require.NoError(t, err)
	assert.True(t, up[0].Success)
	assert.False(t, up[1].Success)
	rec, _ := sim.Record("Contact", res[0].ID)
	assert.Equal(t, "Updated", rec["Title"])

	ups, err := c.UpsertCollection(ctx, "Contact", "AwardForce_Slug__c", []salesforce.SObject{
		{Fields: map[string]any{"AwardForce_Slug__c": "k1", "LastName": "New"}},
		{Fields: map[string]any{"AwardForce_Slug__c": "k2"}},
	}, false)
	require.NoError(t, err)
	assert.True(t, ups[0].Success && ups[0].Created)
	assert.False(t, ups[1].Success)
	assert.Equal(t, "REQUIRED_FIELD_MISSING", ups[1].Errors[0].StatusCode)
	ups, err = c.UpsertCollection(ctx, "Contact", "AwardForce_Slug__c", []salesforce.SObject{
		{Fields: map[string]any{"AwardForce_Slug__c": "k1", "Title": "Second"}},
	}, true)
	require.NoError(t, err)
	assert.True(t, ups[0].Success)
	assert.False(t, ups[0].Created)

	// allOrNone: the valid record is rolled back too.
	before := len(sim.Records("Contact"))
	res, err = c.CreateCollection(ctx, []salesforce.SObject{
		{Type: "Contact", Fields: map[string]any{"LastName": "Fine"}},
		{Type: "Contact", Fields: map[string]any{"Email": "bad"}},
	}, true)
	require.NoError(t, err)
	assert.False(t, res[0].Success)
	assert.Equal(t, "ALL_OR_NONE_OPERATION_ROLLED_BACK", res[0].Errors[0].StatusCode)
	assert.Equal(t, before, len(sim.Records("Contact")))

	// Over the limit: refused locally, no request.
	sim.ResetStats()
	_, err = c.CreateCollection(ctx, make([]salesforce.SObject, 201), false)
	assert.ErrorIs(t, err, salesforce.ErrCollectionTooLarge)
	assert.Equal(t, 0, sim.Stats().APICalls)
	// Empty: nothing to do, no request.
	res, err = c.CreateCollection(ctx, nil, false)
	assert.NoError(t, err)
	assert.Empty(t, res)
	assert.Equal(t, 0, sim.Stats().APICalls)
}

func TestTypedErrorsAndNoRetries(t *testing.T) {
	sim, c := newSim(t, sfsim.Options{DailyLimit: 5})
	ctx := context.Background()
	_, err := c.Describe(ctx, "Contact")
	require.NoError(t, err)
	sim.ResetStats()

	sim.InjectFaults(1, 503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
	_, err = c.Create(ctx, "Contact", map[string]any{"LastName": "x"})
	e := apiError(t, err)
	assert.True(t, e.Temporary())
	assert.False(t, e.QuotaExhausted())
	assert.Equal(t, 1, sim.Stats().APICalls, "resty must not retry")
	assert.Empty(t, sim.Records("Contact"))

	sim.InjectFaults(1, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (concurrent API requests) Limit exceeded.")
	_, err = c.Describe(ctx, "Contact")
	e = apiError(t, err)
	assert.True(t, e.Temporary())
	assert.False(t, e.QuotaExhausted())

	// Spend the rest of the allocation (5), then the quota error.
	for i := 0; i < 2; i++ {
		_, err = c.Describe(ctx, "Contact")
		require.NoError(t, err)
	}
	assert.Equal(t, salesforce.Usage{Used: 5, Max: 5}, c.Usage())
	_, err = c.Describe(ctx, "Contact")
	e = apiError(t, err)
	assert.Equal(t, 403, e.HTTPStatus)
	assert.True(t, e.QuotaExhausted())
	assert.False(t, e.Temporary())
	assert.Equal(t, salesforce.Usage{Used: 5, Max: 5}, c.Usage())
}

func TestUsageFromHeaders(t *testing.T) {
	_, c := newSim(t, sfsim.Options{DailyLimit: 1000})
	assert.Equal(t, salesforce.Usage{}, c.Usage())
	_, err := c.Describe(context.Background(), "Contact")
	require.NoError(t, err)
	assert.Equal(t, salesforce.Usage{Used: 1, Max: 1000}, c.Usage())
}

func TestTimeoutAndContext(t *testing.T) {
	_, c := newSim(t, sfsim.Options{Latency: 300 * time.Millisecond}, func(cfg *salesforce.Config) { cfg.Timeout = 50 * time.Millisecond })
	_, err := c.Describe(context.Background(), "Contact")
	require.Error(t, err)
	var e *salesforce.Error
	assert.False(t, errors.As(err, &e), "a timeout is a transport error, not an API error")

	_, c = newSim(t, sfsim.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Describe(ctx, "Contact")
	assert.ErrorIs(t, err, context.Canceled)
}

// An error body that echoes the session must not leak it into Error().
func TestErrorRedactsToken(t *testing.T) {
	sim := sfsim.New(sfsim.Options{ClientID: clientID, ClientSecret: secret})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/services/oauth2/") {
			sim.ServeHTTP(w, r)
			return
		}
		w.WriteHeader(400)
		_ = json.NewEncoder(w).Encode([]map[string]any{{"errorCode": "BAD", "message": "saw " + r.Header.Get("Authorization") + " and " + secret}})
	}))
	defer srv.Close()
	c, err := salesforce.New(salesforce.Config{LoginURL: srv.URL, ClientID: clientID, ClientSecret: secret})
	require.NoError(t, err)
	_, err = c.Describe(context.Background(), "Contact")
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "[redacted]")
	assert.NotContains(t, msg, secret)
	assert.NotRegexp(t, `Bearer [^\[ ]`, msg)
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		err                 salesforce.Error
		temporary, exhaused bool
	}{
		{salesforce.Error{HTTPStatus: 503, ErrorCode: "SERVER_UNAVAILABLE"}, true, false},
		{salesforce.Error{HTTPStatus: 500, ErrorCode: "UNKNOWN_EXCEPTION"}, true, false},
		{salesforce.Error{HTTPStatus: 400, ErrorCode: "UNABLE_TO_LOCK_ROW"}, true, false},
		{salesforce.Error{HTTPStatus: 403, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "ConcurrentRequests (concurrent API requests) Limit exceeded."}, true, false},
		{salesforce.Error{HTTPStatus: 403, ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "TotalRequests Limit exceeded."}, false, true},
		{salesforce.Error{HTTPStatus: 400, ErrorCode: "REQUIRED_FIELD_MISSING"}, false, false},
		{salesforce.Error{HTTPStatus: 401, ErrorCode: "INVALID_SESSION_ID"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.err.ErrorCode+"/"+tt.err.Message, func(t *testing.T) {
			wrapped := fmt.Errorf("activity: %w", &tt.err)
			var e *salesforce.Error
			require.True(t, errors.As(wrapped, &e))
			assert.Equal(t, tt.temporary, e.Temporary())
			assert.Equal(t, tt.exhaused, e.QuotaExhausted())
		})
	}
	for _, code := range []string{"REQUIRED_FIELD_MISSING", "STRING_TOO_LONG", "INVALID_EMAIL_ADDRESS", "INVALID_FIELD", "MALFORMED_ID", "DUPLICATE_VALUE", "DUPLICATES_DETECTED", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "NOT_FOUND"} {
		assert.True(t, salesforce.IsPermanentCode(code), code)
	}
	for _, code := range []string{"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "INVALID_SESSION_ID", ""} {
		assert.False(t, salesforce.IsPermanentCode(code), code)
	}
}

func TestRecordAndSObject(t *testing.T) {
	r := salesforce.Record{"Id": "003x", "N": json.Number("12.50"), "B": true, "F": 1.5, "Nil": nil}
	assert.Equal(t, "003x", r.ID())
	assert.Equal(t, "12.50", r.String("N"))
	assert.Equal(t, "true", r.String("B"))
	assert.Equal(t, "1.5", r.String("F"))
	assert.Equal(t, "", r.String("Nil"))
	assert.Equal(t, "", r.String("Absent"))

	b, err := json.Marshal(salesforce.SObject{Type: "Contact", ID: "003A", Fields: map[string]any{"LastName": "x", "Id": "other", "Email": nil}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"attributes":{"type":"Contact"},"Id":"003A","Email":null,"LastName":"x"}`, string(b))
	assert.True(t, strings.HasPrefix(string(b), `{"attributes":`))
}

// quoted joins values as SOQL literals.
func quoted(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = salesforce.Quote(v)
	}
	return strings.Join(q, ", ")
}

package salesforce_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// usageClient returns a client whose API responses carry header as their
// Sforce-Limit-Info (tokens come from sfsim).
func usageClient(t *testing.T, header string) *salesforce.Client {
	t.Helper()
	sim := sfsim.New(sfsim.Options{ClientID: clientID, ClientSecret: secret})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/services/oauth2/") {
			sim.ServeHTTP(w, r)
			return
		}
		if header != "" {
			w.Header().Set("Sforce-Limit-Info", header)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"DailyApiRequests":{"Max":5000,"Remaining":4982}}`))
	}))
	t.Cleanup(srv.Close)
	c, err := salesforce.New(salesforce.Config{LoginURL: srv.URL, ClientID: clientID, ClientSecret: secret})
	require.NoError(t, err)
	return c
}

func TestUsageHeaderEntries(t *testing.T) {
	tests := []struct {
		name, header string
		want         salesforce.Usage
	}{
		{"single", "api-usage=18/5000", salesforce.Usage{Used: 18, Max: 5000}},
		{"per-app after", "api-usage=18/5000; per-app-api-usage=17/250(appName=sample-app)", salesforce.Usage{Used: 18, Max: 5000}},
		{"per-app before", "per-app-api-usage=17/250(appName=sample-app); api-usage=18/5000", salesforce.Usage{Used: 18, Max: 5000}},
		{"no space after semicolon", "api-usage=25/5000;per-app-api-usage=3/100(appName=app)", salesforce.Usage{Used: 25, Max: 5000}},
		{"spaces everywhere", "  api-usage = 25 / 5000 ;  per-app-api-usage=3/100(appName=app)  ", salesforce.Usage{Used: 25, Max: 5000}},
		{"unknown entries", "some-future-entry=abc; api-usage=7/15000; other", salesforce.Usage{Used: 7, Max: 15000}},
		{"comma separated", "api-usage=9/100, per-app-api-usage=1/10(appName=x)", salesforce.Usage{Used: 9, Max: 100}},
		{"only per-app", "per-app-api-usage=17/250(appName=sample-app)", salesforce.Usage{}},
		{"malformed", "api-usage=lots/5000", salesforce.Usage{}},
		{"missing limit", "api-usage=18", salesforce.Usage{}},
		{"empty", "", salesforce.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := usageClient(t, tt.header)
			_, err := c.Describe(context.Background(), "Contact")
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.Usage())
		})
	}
}

// A response without a readable api-usage keeps the last one reported.
func TestUsageKeptWhenUnreadable(t *testing.T) {
	var header atomic.Value
	header.Store("api-usage=18/5000; per-app-api-usage=17/250(appName=sample-app)")
	sim := sfsim.New(sfsim.Options{ClientID: clientID, ClientSecret: secret})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/services/oauth2/") {
			sim.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Sforce-Limit-Info", header.Load().(string))
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	c, err := salesforce.New(salesforce.Config{LoginURL: srv.URL, ClientID: clientID, ClientSecret: secret})
	require.NoError(t, err)
	_, err = c.Describe(context.Background(), "Contact")
	require.NoError(t, err)
	require.Equal(t, salesforce.Usage{Used: 18, Max: 5000}, c.Usage())

	header.Store("per-app-api-usage=18/250(appName=sample-app)")
	_, err = c.Describe(context.Background(), "Contact")
	require.NoError(t, err)
	assert.Equal(t, salesforce.Usage{Used: 18, Max: 5000}, c.Usage())
}

package config

import (
	"strings"
	"testing"
)

func TestFromEnvRefusesPlainHTTPOutsideLoopback(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		// want lists what the error must say; nil means no error.
		want []string
	}{
		{"https award force", map[string]string{EnvAwardForceAPIURL: "https://api.eu.cr4ce.com"}, nil},
		{"https salesforce", map[string]string{EnvSalesforceLoginURL: "https://acme.my.salesforce.com"}, nil},
		{"unset: the defaults", map[string]string{}, nil},
		{"http award force", map[string]string{EnvAwardForceAPIURL: "http://api.cr4ce.com"},
			[]string{EnvAwardForceAPIURL, "http://api.cr4ce.com", "https://", EnvAllowInsecureHTTP + "=1"}},
		{"http salesforce", map[string]string{EnvSalesforceLoginURL: "http://acme.my.salesforce.com"},
			[]string{EnvSalesforceLoginURL, "https://", EnvAllowInsecureHTTP + "=1"}},
		{"upper-case scheme", map[string]string{EnvSalesforceLoginURL: "HTTP://acme.my.salesforce.com"},
			[]string{EnvSalesforceLoginURL, EnvAllowInsecureHTTP}},
		{"private address is not loopback", map[string]string{EnvAwardForceAPIURL: "http://10.0.0.5:8080"},
			[]string{EnvAwardForceAPIURL}},
		{"unspecified address is not loopback", map[string]string{EnvAwardForceAPIURL: "http://0.0.0.0:8080"},
			[]string{EnvAwardForceAPIURL}},
		{"loopback look-alike", map[string]string{EnvSalesforceLoginURL: "http://127.0.0.1.attacker.example"},
			[]string{EnvSalesforceLoginURL}},
		{"localhost look-alike", map[string]string{EnvSalesforceLoginURL: "http://localhost.attacker.example"},
			[]string{EnvSalesforceLoginURL}},
		// The sandbox (worker --dev, make dev) and the tests serve their
		// simulators on loopback addresses over plain http.
		{"sandbox 127.0.0.1", map[string]string{EnvAwardForceAPIURL: "http://127.0.0.1:41234", EnvSalesforceLoginURL: "http://127.0.0.1:41235"}, nil},
		{"other 127/8 address", map[string]string{EnvAwardForceAPIURL: "http://127.0.0.2:8080"}, nil},
		{"localhost", map[string]string{EnvSalesforceLoginURL: "http://localhost:8080/"}, nil},
		{"LOCALHOST", map[string]string{EnvSalesforceLoginURL: "http://LOCALHOST:8080"}, nil},
		{"ipv6 loopback", map[string]string{EnvAwardForceAPIURL: "http://[::1]:8080"}, nil},
		{"opt-in 1", map[string]string{EnvAwardForceAPIURL: "http://af.test.internal", EnvSalesforceLoginURL: "http://sf.test.internal", EnvAllowInsecureHTTP: "1"}, nil},
		{"opt-in true", map[string]string{EnvAwardForceAPIURL: "http://af.test.internal", EnvAllowInsecureHTTP: "true"}, nil},
		{"opt-in 0 refuses", map[string]string{EnvAwardForceAPIURL: "http://af.test.internal", EnvAllowInsecureHTTP: "0"},
			[]string{EnvAwardForceAPIURL}},
		{"opt-in malformed", map[string]string{EnvAllowInsecureHTTP: "please"},
			[]string{EnvAllowInsecureHTTP, "1"}},
		{"relative award force URL", map[string]string{EnvAwardForceAPIURL: "api.cr4ce.com"},
			[]string{EnvAwardForceAPIURL, "https://api.cr4ce.com"}},
		{"ftp salesforce URL", map[string]string{EnvSalesforceLoginURL: "ftp://acme.my.salesforce.com"},
			[]string{EnvSalesforceLoginURL, "https://"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromEnv(env(tc.env))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want no error, got %v", err)
				}
				if c.AwardForce.BaseURL != tc.env[EnvAwardForceAPIURL] || c.Salesforce.LoginURL != tc.env[EnvSalesforceLoginURL] {
					t.Errorf("URLs not kept: %q %q", c.AwardForce.BaseURL, c.Salesforce.LoginURL)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

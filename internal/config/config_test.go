package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/salesforce"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestFromEnvReadsEveryVariable(t *testing.T) {
	key := filepath.Join(t.TempDir(), "sf.pem")
	if err := os.WriteFile(key, []byte("-----BEGIN PRIVATE KEY-----"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := FromEnv(env(map[string]string{
		"AWARDFORCE_API_URL": "https://api.eu.cr4ce.com", "AWARDFORCE_API_KEY": "k", "AWARDFORCE_RATE_LIMIT": "30",
		"SALESFORCE_LOGIN_URL": "https://acme.my.salesforce.com", "SALESFORCE_CLIENT_ID": "id", "SALESFORCE_CLIENT_SECRET": "s",
		"SALESFORCE_USERNAME": "u@acme", "SALESFORCE_PRIVATE_KEY_FILE": key, "SALESFORCE_AUDIENCE": "https://test.salesforce.com",
		"SALESFORCE_API_VERSION": "v61.0", "AFSYNC_CONFIG": "spec.yaml", "AFSYNC_HTTP_ADDR": ":8234",
		"AWARDFORCE_WEBHOOK_SIGNING_KEY": "wh", "AFSYNC_CODEC_CORS_ORIGINS": "https://ui.example", "AFSYNC_CODEC_TOKEN": "tok",
		"AFSYNC_LANE_GATHER": "100ms", "AFSYNC_LANE_MAX_GATHER": "2s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AwardForce.BaseURL != "https://api.eu.cr4ce.com" || c.AwardForce.APIKey != "k" || c.AwardForceRatePerMinute != 30 {
		t.Errorf("award force: %+v rate %v", c.AwardForce, c.AwardForceRatePerMinute)
	}
	s := c.Salesforce
	if s.LoginURL != "https://acme.my.salesforce.com" || s.ClientID != "id" || s.ClientSecret != "s" || s.Username != "u@acme" ||
		string(s.PrivateKeyPEM) != "-----BEGIN PRIVATE KEY-----" || s.Audience != "https://test.salesforce.com" || s.APIVersion != "v61.0" {
		t.Errorf("salesforce: %+v", s)
	}
	if c.SpecPath != "spec.yaml" || c.HTTPAddr != ":8234" || c.WebhookSigningKey != "wh" || c.CodecToken != "tok" ||
		len(c.CodecCORSOrigins) != 1 || c.CodecCORSOrigins[0] != "https://ui.example" {
		t.Errorf("afsync settings: %+v", c)
	}
	if c.LaneGather != 100*time.Millisecond || c.LaneMaxGather != 2*time.Second {
		t.Errorf("gathering: %v, at most %v", c.LaneGather, c.LaneMaxGather)
	}
}

func TestFromEnvDefaults(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AwardForceRatePerMinute != DefaultAwardForceRate || c.HTTPAddr != "" || c.SpecPath != "" || c.LaneGather != 0 || c.LaneMaxGather != 0 {
		t.Errorf("defaults: %+v", c)
	}
	spec, err := c.Spec()
	if err != nil || spec.Object != "Contact" {
		t.Errorf("no AFSYNC_CONFIG must mean the default spec: %v %v", spec, err)
	}
}

func TestFromEnvErrorsNameTheVariableAndTheFix(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		want []string
	}{
		"rate not a number": {map[string]string{"AWARDFORCE_RATE_LIMIT": "fast"}, []string{"AWARDFORCE_RATE_LIMIT", "requests per minute"}},
		"negative rate":     {map[string]string{"AWARDFORCE_RATE_LIMIT": "-1"}, []string{"AWARDFORCE_RATE_LIMIT", "≥ 0"}},
		"missing key file":  {map[string]string{"SALESFORCE_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, []string{"SALESFORCE_PRIVATE_KEY_FILE", "PEM"}},
		"codec beyond loopback without a token": {map[string]string{"AFSYNC_CODEC_ADDR": "0.0.0.0:8235"},
			[]string{"AFSYNC_CODEC_ADDR", "beyond loopback", "AFSYNC_CODEC_TOKEN", "127.0.0.1"}},
		"codec on every interface without a token": {map[string]string{"AFSYNC_CODEC_ADDR": ":8235"}, []string{"AFSYNC_CODEC_ADDR", "AFSYNC_CODEC_TOKEN"}},
		"codec address without a port":             {map[string]string{"AFSYNC_CODEC_ADDR": "127.0.0.1"}, []string{"AFSYNC_CODEC_ADDR", "host:port"}},
		"gather not a duration":                    {map[string]string{"AFSYNC_LANE_GATHER": "250"}, []string{"AFSYNC_LANE_GATHER", `"250"`, "250ms", "10ms", "5m0s"}},
		"gather of nothing":                        {map[string]string{"AFSYNC_LANE_GATHER": "0s"}, []string{"AFSYNC_LANE_GATHER", "from 10ms"}},
		"max gather of an hour":                    {map[string]string{"AFSYNC_LANE_MAX_GATHER": "1h"}, []string{"AFSYNC_LANE_MAX_GATHER", "to 5m0s", "steady stream"}},
		"max gather under gather": {map[string]string{"AFSYNC_LANE_GATHER": "2s", "AFSYNC_LANE_MAX_GATHER": "1s"},
			[]string{"AFSYNC_LANE_MAX_GATHER=1s", "shorter than AFSYNC_LANE_GATHER=2s", "raise AFSYNC_LANE_MAX_GATHER"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := FromEnv(env(tc.env))
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
	_, err := Config{SpecPath: "/nonexistent/spec.yaml"}.Spec()
	if err == nil || !strings.Contains(err.Error(), "AFSYNC_CONFIG") {
		t.Errorf("a missing spec file must name AFSYNC_CONFIG: %v", err)
	}
}

func TestCodecAddrBeyondLoopbackNeedsAToken(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:8235", "", true},
		{"localhost:8235", "", true},
		{"[::1]:8235", "", true},
		{"0.0.0.0:8235", "tok", true},
		{"0.0.0.0:8235", "", false},
		{"10.0.0.5:8235", " ", false},
		{"worker:8235", "", false},
	} {
		c, err := FromEnv(env(map[string]string{"AFSYNC_CODEC_ADDR": tc.addr, "AFSYNC_CODEC_TOKEN": tc.token}))
		if (err == nil) != tc.ok {
			t.Errorf("%s with token %q: error %v, want ok=%v", tc.addr, tc.token, err, tc.ok)
		}
		if err == nil && c.CodecAddr != tc.addr {
			t.Errorf("CodecAddr %q, want %q", c.CodecAddr, tc.addr)
		}
	}
}

func TestNameSettingsNamesTheVariablesOfTheRefusedFields(t *testing.T) {
	_, err := salesforce.New(salesforce.Config{LoginURL: "https://acme.my.salesforce.com", ClientID: "id", Username: "u"})
	if got := NameSettings(err).Error(); !strings.Contains(got, EnvSalesforcePrivateKeyFile) || strings.Contains(got, EnvSalesforceClientID) {
		t.Errorf("a JWT flow without its key: %q", got)
	}
	_, err = awardforce.New(awardforce.Config{})
	if got := NameSettings(err).Error(); !strings.HasSuffix(got, "(set "+EnvAwardForceAPIKey+")") {
		t.Errorf("no Award Force key: %q", got)
	}
	other := errors.New("something else")
	if NameSettings(other) != other {
		t.Error("an error that is no refused setting must be returned as it is")
	}
}

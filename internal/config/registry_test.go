package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// registryEnv is an environment holding the secrets the registries below
// refer to.
func registryEnv(extra map[string]string) Getenv {
	env := map[string]string{
		"AWARDS_AF_KEY":  "awards-key",
		"GRANTS_AF_KEY":  "grants-key",
		"ACME_SF_SECRET": "acme-secret",
		EnvHTTPAddr:      "127.0.0.1:8234", // the fleet's: every integration sees it
		EnvAwardForceAPIKey: "the environment's key, " +
			"never an integration's",
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

const twoIntegrations = `
integrations:
  - id: awards
    awardforce_api_url: https://api.eu.cr4ce.com
    awardforce_api_key: ${AWARDS_AF_KEY}
    awardforce_webhook_signing_key: file:secrets/awards-webhook
    salesforce_login_url: https://acme.my.salesforce.com
    salesforce_client_id: 3MVG9acme
    salesforce_client_secret: ${ACME_SF_SECRET}
    spec: specs/awards.yaml
  - id: grants
    depends_on: awards
    awardforce_api_key: ${GRANTS_AF_KEY}
    awardforce_rate_limit: 30
`

func writeRegistry(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "awards-webhook"), []byte("whsec-awards\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "integrations.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestARegistryResolvesEachIntegrationsSecretsAndGrant(t *testing.T) {
	path := writeRegistry(t, twoIntegrations)
	r, err := LoadRegistry(registryEnv(map[string]string{EnvIntegrations: path}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.IDs(), ","); got != "awards,grants" {
		t.Fatalf("ids %s", got)
	}
	awards, grants := r.Integrations[0].Config, r.Integrations[1].Config
	if awards.AwardForce.APIKey != "awards-key" || awards.AwardForce.BaseURL != "https://api.eu.cr4ce.com" {
		t.Errorf("awards' Award Force: %+v", awards.AwardForce)
	}
	if awards.WebhookSigningKey != "whsec-awards" {
		t.Errorf("the signing key read from the file beside the registry: %q", awards.WebhookSigningKey)
	}
	if awards.SpecPath != filepath.Join(filepath.Dir(path), "specs", "awards.yaml") {
		t.Errorf("the spec path is the registry's directory's: %q", awards.SpecPath)
	}
	if awards.HTTPAddr != "127.0.0.1:8234" {
		t.Errorf("the fleet's variables come from the environment: %q", awards.HTTPAddr)
	}
	if grants.AwardForce.APIKey != "grants-key" || grants.AwardForceRatePerMinute != 30 {
		t.Errorf("grants has its own account and budget: %+v, %v", grants.AwardForce, grants.AwardForceRatePerMinute)
	}
	if grants.Salesforce.LoginURL != awards.Salesforce.LoginURL || grants.Salesforce.ClientSecret != "acme-secret" {
		t.Errorf("grants uses awards' grant: %+v", grants.Salesforce)
	}
	if grants.WebhookSigningKey != "" || grants.SpecPath != "" {
		t.Errorf("grants' own webhook key and spec: %q %q", grants.WebhookSigningKey, grants.SpecPath)
	}
	if r.Integrations[1].DependsOn != "awards" {
		t.Errorf("depends_on %q", r.Integrations[1].DependsOn)
	}

	if _, err := r.Pick(""); err == nil || !strings.Contains(err.Error(), "lists 2 integrations (awards, grants): say which with --integration or AFSYNC_INTEGRATION") {
		t.Errorf("a command must say which of two: %v", err)
	}
	if in, err := r.Pick("grants"); err != nil || in.ID != "grants" {
		t.Errorf("picking grants: %+v %v", in, err)
	}
	if _, err := r.Pick("fellowships"); err == nil || !strings.Contains(err.Error(), `integration "fellowships": `+path+" has awards, grants") {
		t.Errorf("an unknown integration names those there are: %v", err)
	}
	if ins, err := r.Servable(); err != nil || len(ins) != 2 {
		t.Errorf("a dependent integration is served beside the one it depends on: %v %v", ins, err)
	}
}

// Integrations into separate orgs are served by one fleet; two
// authenticated ones on one My Domain would be two lanes on one org.
func TestAFleetServesIntegrationsIntoSeparateOrgsOnly(t *testing.T) {
	entry := func(id, org string) string {
		return "  - id: " + id + "\n    awardforce_api_key: ${AWARDS_AF_KEY}\n    salesforce_login_url: " + org + "\n" +
			"    salesforce_client_id: cid\n    salesforce_client_secret: ${ACME_SF_SECRET}\n"
	}
	env := func(path string) Getenv {
		return registryEnv(map[string]string{EnvIntegrations: path, "AWARDS_AF_KEY": "k", "ACME_SF_SECRET": "s"})
	}
	path := writeRegistry(t, "integrations:\n"+entry("awards", "https://acme.my.salesforce.com")+entry("grants", "https://beta.my.salesforce.com"))
	r, err := LoadRegistry(env(path))
	if err != nil {
		t.Fatal(err)
	}
	if ins, err := r.Servable(); err != nil || len(ins) != 2 {
		t.Fatalf("two orgs: %v %v", ins, err)
	}
	path = writeRegistry(t, "integrations:\n"+entry("awards", "https://acme.my.salesforce.com")+entry("grants", "https://ACME.my.salesforce.com/"))
	if r, err = LoadRegistry(env(path)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Servable(); err == nil || !strings.Contains(err.Error(), "integrations awards and grants both log in at https://acme.my.salesforce.com, one org") {
		t.Errorf("one org, two lanes: %v", err)
	} else if !strings.Contains(err.Error(), "give grants depends_on: awards") {
		t.Errorf("the fix is named: %v", err)
	}
	for _, id := range []string{"lane", "ledger-contact"} {
		path = writeRegistry(t, "integrations:\n"+entry(id, "https://acme.my.salesforce.com"))
		if _, err := LoadRegistry(env(path)); err == nil || !strings.Contains(err.Error(), `id "`+id+`" is reserved`) {
			t.Errorf("a reserved id: %v", err)
		}
	}
}

func TestWithoutARegistryTheEnvironmentIsTheOneIntegration(t *testing.T) {
	r, err := LoadRegistry(registryEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	in, err := r.Pick("")
	if err != nil || in.ID != DefaultIntegration || in.Config.AwardForce.APIKey == "" {
		t.Fatalf("%+v %v", in, err)
	}
}

func TestARegistrysMistakesNameTheIntegrationTheKeyAndTheFix(t *testing.T) {
	entry := func(lines ...string) string {
		return "integrations:\n  - id: awards\n    salesforce_login_url: https://acme.my.salesforce.com\n    awardforce_api_key: ${AWARDS_AF_KEY}\n" +
			strings.Join(lines, "\n") + "\n"
	}
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"an inline secret", entry("    salesforce_client_secret: s3cr3t"),
			[]string{"integration awards", "salesforce_client_secret", "never written in the registry", "${VARIABLE}"}},
		{"an unknown key", entry("    awardforce_key: ${AWARDS_AF_KEY}"),
			[]string{"integration awards", `unknown key "awardforce_key"`, "awardforce_api_key"}},
		{"a variable not set", entry("    salesforce_client_secret: ${NOPE}"),
			[]string{"salesforce_client_secret: NOPE is not set"}},
		{"a missing file", entry("    awardforce_webhook_signing_key: file:nope"),
			[]string{"awardforce_webhook_signing_key", "nope"}},
		{"plain http", entry("    awardforce_api_url: http://api.cr4ce.com"),
			[]string{"integration awards", `awardforce_api_url="http://api.cr4ce.com"`, "https://"}},
		{"a bad duration", entry("    salesforce_commit_horizon: soon"),
			[]string{`salesforce_commit_horizon="soon"`, "10m"}},
		{"no key", "integrations:\n  - id: awards\n    salesforce_login_url: https://acme.my.salesforce.com\n",
			[]string{"awardforce_api_key is missing"}},
		{"no org", "integrations:\n  - id: awards\n    awardforce_api_key: ${AWARDS_AF_KEY}\n",
			[]string{"salesforce_login_url is missing", "depends_on"}},
		{"a bad id", "integrations:\n  - id: Awards 2026\n",
			[]string{"integration 1", `id "Awards 2026"`, "lowercase"}},
		{"an id twice", entry("  - id: awards"),
			[]string{"integration 2", `"awards" is listed twice`}},
		{"no such dependency", entry("  - id: grants", "    depends_on: fellows", "    awardforce_api_key: ${GRANTS_AF_KEY}"),
			[]string{"integration grants", `depends_on "fellows": no such integration`}},
		{"a dependency on a dependent", entry("  - id: grants", "    depends_on: awards", "    awardforce_api_key: ${GRANTS_AF_KEY}",
			"  - id: fellows", "    depends_on: grants", "    awardforce_api_key: ${GRANTS_AF_KEY}"),
			[]string{"integration fellows", `"grants" has none of its own`}},
		{"a dependent with its own org", entry("  - id: grants", "    depends_on: awards", "    awardforce_api_key: ${GRANTS_AF_KEY}",
			"    salesforce_login_url: https://other.my.salesforce.com"),
			[]string{"integration grants", "salesforce_login_url", "uses awards's Salesforce connection"}},
		{"nothing listed", "integrations: []\n", []string{"lists no integrations", "add at least one entry"}},
		{"not a list", "integration:\n  id: awards\n", []string{"want a list under integrations:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeRegistry(t, tc.body)
			_, err := LoadRegistry(registryEnv(map[string]string{EnvIntegrations: path}))
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

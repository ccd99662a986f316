package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/afsync/afsync/internal/config"
)

func TestIntegrationsListsTheRegistryWithoutItsSecrets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "integrations.yaml")
	body := `integrations:
  - id: awards
    awardforce_api_key: ${AWARDS_AF_KEY}
    awardforce_webhook_signing_key: ${AWARDS_WEBHOOK}
    salesforce_login_url: https://acme.my.salesforce.com
    salesforce_client_id: 3MVG9acme
    salesforce_client_secret: ${ACME_SF_SECRET}
  - id: grants
    depends_on: awards
    awardforce_api_key: ${GRANTS_AF_KEY}
    spec: grants.yaml
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{config.EnvIntegrations: path, "AWARDS_AF_KEY": "af-secret-1", "AWARDS_WEBHOOK": "wh-secret", "ACME_SF_SECRET": "sf-secret", "GRANTS_AF_KEY": "af-secret-2"}
	reg, err := config.LoadRegistry(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := printIntegrations(&out, reg); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"awards", "grants", "through awards (https://acme.my.salesforce.com)", filepath.Join(dir, "grants.yaml"), "(built-in default)", "not set"} {
		if !strings.Contains(got, want) {
			t.Errorf("the listing does not say %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "refuse") {
		t.Errorf("a dependent integration is served:\n%s", got)
	}
	for _, secret := range []string{"af-secret-1", "af-secret-2", "wh-secret", "sf-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("the listing shows a secret:\n%s", got)
		}
	}
}

package afworker

import (
	"strings"
	"testing"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/salesforce"
)

// A refused Award Force setting names the variables that hold it, the
// real ones (AWARDFORCE_API_URL, not a name nothing reads).
func TestAPIClientsNameTheAwardForceVariables(t *testing.T) {
	sf := salesforce.Config{LoginURL: "https://acme.my.salesforce.com", ClientID: "id", ClientSecret: "s"}
	for name, af := range map[string]awardforce.Config{
		"malformed URL": {BaseURL: "api.cr4ce.com", APIKey: "k"},
		"missing key":   {BaseURL: "https://api.cr4ce.com"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := apiClients(config.Config{AwardForce: af, Salesforce: sf})
			if err == nil {
				t.Fatal("want an error")
			}
			for _, want := range []string{config.EnvAwardForceAPIURL, config.EnvAwardForceAPIKey} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q lacks %s", err, want)
				}
			}
			if strings.Contains(err.Error(), "AWARDFORCE_BASE_URL") {
				t.Errorf("%q names AWARDFORCE_BASE_URL, which nothing reads", err)
			}
		})
	}
	if _, _, err := apiClients(config.Config{AwardForce: awardforce.Config{APIKey: "k"}, Salesforce: sf}); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
}

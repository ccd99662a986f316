package afworker

import (
	"strings"
	"testing"
	"time"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/internal/config"
	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/workflows"
)

// A refused API setting names the variable that holds it, the real one
// (AWARDFORCE_API_URL, not a name nothing reads).
func TestAPIClientsNameTheVariableToSet(t *testing.T) {
	sf := salesforce.Config{LoginURL: "https://acme.my.salesforce.com", ClientID: "id", ClientSecret: "s"}
	af := awardforce.Config{APIKey: "k"}
	for name, tc := range map[string]struct {
		af   awardforce.Config
		sf   salesforce.Config
		want []string
	}{
		"malformed Award Force URL": {awardforce.Config{BaseURL: "api.cr4ce.com", APIKey: "k"}, sf, []string{config.EnvAwardForceAPIURL}},
		"missing Award Force key":   {awardforce.Config{BaseURL: "https://api.cr4ce.com"}, sf, []string{config.EnvAwardForceAPIKey}},
		"missing login URL":         {af, salesforce.Config{ClientID: "id", ClientSecret: "s"}, []string{config.EnvSalesforceLoginURL}},
		"no flow":                   {af, salesforce.Config{LoginURL: sf.LoginURL, ClientID: "id"}, []string{config.EnvSalesforceClientSecret, config.EnvSalesforceUsername, config.EnvSalesforcePrivateKeyFile}},
		"user without key":          {af, salesforce.Config{LoginURL: sf.LoginURL, ClientID: "id", Username: "u"}, []string{config.EnvSalesforcePrivateKeyFile}},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := apiClients(config.Config{AwardForce: tc.af, Salesforce: tc.sf})
			if err == nil {
				t.Fatal("want an error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q lacks %s", err, want)
				}
			}
			if strings.Contains(err.Error(), "AWARDFORCE_BASE_URL") {
				t.Errorf("%q names AWARDFORCE_BASE_URL, which nothing reads", err)
			}
		})
	}
	if _, _, err := apiClients(config.Config{AwardForce: af, Salesforce: sf}); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
}

// The lanes gather as the environment says (AFSYNC_LANE_GATHER,
// AFSYNC_LANE_MAX_GATHER), and by the lanes' defaults when it is silent.
func TestTheLanesGatherAsTheEnvironmentSays(t *testing.T) {
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{config.EnvLaneGather: "50ms", config.EnvLaneMaxGather: "1500ms"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	got := laneSettings(cfg)
	if got.Gather != 50*time.Millisecond || got.MaxGather != 1500*time.Millisecond || !got.PromptWakes {
		t.Errorf("lane settings %+v: want a gathering of 50ms, at most 1.5s, with prompt wakes", got)
	}
	silent, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if d := laneSettings(silent); d.Gather != 0 || d.MaxGather != 0 {
		t.Errorf("gathering %v, at most %v: want zeros, for the lanes' defaults (%v, %v)", d.Gather, d.MaxGather, workflows.DefaultGather, workflows.DefaultMaxGather)
	}
}

package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/afsync/afsync/awardforce"
	"github.com/afsync/afsync/salesforce"
)

// settingEnv maps the API clients' Config fields to the variables FromEnv
// reads them from.
var settingEnv = map[string]map[string]string{
	"awardforce": {"APIKey": EnvAwardForceAPIKey, "BaseURL": EnvAwardForceAPIURL},
	"salesforce": {
		"LoginURL": EnvSalesforceLoginURL, "ClientID": EnvSalesforceClientID, "ClientSecret": EnvSalesforceClientSecret,
		"Username": EnvSalesforceUsername, "PrivateKeyPEM": EnvSalesforcePrivateKeyFile,
		"Audience": EnvSalesforceAudience, "APIVersion": EnvSalesforceAPIVersion,
	},
}

// NameSettings adds to an API client's refusal of its Config (an
// awardforce or salesforce SettingError) the environment variables to set;
// other errors are returned as they are.
func NameSettings(err error) error {
	var api string
	var fields []string
	var afErr *awardforce.SettingError
	var sfErr *salesforce.SettingError
	switch {
	case errors.As(err, &afErr):
		api, fields = "awardforce", afErr.Fields
	case errors.As(err, &sfErr):
		api, fields = "salesforce", sfErr.Fields
	default:
		return err
	}
	var names []string
	for _, f := range fields {
		if env, ok := settingEnv[api][f]; ok {
			names = append(names, env)
		}
	}
	if len(names) == 0 {
		return err
	}
	return fmt.Errorf("%w (set %s)", err, strings.Join(names, ", "))
}

// SalesforceSettings names, for an error of the Salesforce API at run
// time, the variables that configure it.
func SalesforceSettings() string {
	return strings.Join([]string{EnvSalesforceLoginURL, EnvSalesforceClientID, EnvSalesforceClientSecret, EnvSalesforceUsername, EnvSalesforcePrivateKeyFile}, ", ")
}

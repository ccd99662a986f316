package config

// The registry of integrations (issue 16): one YAML file, named by
// AFSYNC_INTEGRATIONS, that lists each Award Force account afsync pairs
// with a Salesforce org. Its keys are the lowercase names of the
// per-integration environment variables (awardforce_api_url,
// salesforce_client_id, spec for AFSYNC_CONFIG, …), so that an entry reads
// as the environment of a single-integration deployment and is checked by
// the same rules (FromEnv). Secrets are never written in it: an API key,
// signing key or client secret is "${VARIABLE}" or "file:PATH".
//
//	integrations:
//	  - id: awards
//	    awardforce_api_url: https://api.cr4ce.com
//	    awardforce_api_key: ${AWARDS_AF_KEY}
//	    awardforce_webhook_signing_key: file:/run/secrets/awards-webhook
//	    salesforce_login_url: https://acme.my.salesforce.com
//	    salesforce_client_id: 3MVG9…
//	    salesforce_client_secret: ${ACME_SF_SECRET}
//	    spec: specs/awards.yaml
//	  - id: grants
//	    depends_on: awards        # the same org, through awards' grant
//	    awardforce_api_key: ${GRANTS_AF_KEY}
//	    spec: specs/grants.yaml
//
// Without AFSYNC_INTEGRATIONS the environment is the one integration,
// "default", as before.

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/afsync/afsync/workflows"
)

// DefaultIntegration is the id of the integration the environment
// describes when there is no registry.
const DefaultIntegration = workflows.DefaultIntegration

// Integration is one Award Force account paired with a Salesforce org.
type Integration struct {
	// ID names the integration everywhere (lowercase letters, digits and
	// dashes, up to 32).
	ID string
	// DependsOn is the integration whose Salesforce grant this one uses
	// (a dependent integration); empty for an authenticated one.
	DependsOn string
	// Config is the integration's configuration, as FromEnv reads it.
	Config Config
}

// Registry is the integrations afsync serves, in the file's order.
type Registry struct {
	// Path is the file read; empty when the environment is the registry.
	Path         string
	Integrations []Integration
}

// Pick returns integration id, or, when id is empty, the registry's only
// one (the default integration without a registry).
func (r *Registry) Pick(id string) (*Integration, error) {
	if id == "" {
		if len(r.Integrations) != 1 {
			return nil, fmt.Errorf("%s lists %d integrations (%s): say which with --integration or %s",
				r.Path, len(r.Integrations), strings.Join(r.IDs(), ", "), EnvIntegration)
		}
		return &r.Integrations[0], nil
	}
	for i := range r.Integrations {
		if r.Integrations[i].ID == id {
			return &r.Integrations[i], nil
		}
	}
	where := r.Path
	if where == "" {
		where = "the environment (no " + EnvIntegrations + ")"
	}
	return nil, fmt.Errorf("integration %q: %s has %s", id, where, strings.Join(r.IDs(), ", "))
}

// Servable returns the integrations one fleet serves. Each Salesforce org
// is written through one lane, which is what keeps one record per person:
// an authenticated integration's, which a dependent one (depends_on) shares.
// A registry listing two authenticated integrations on one My Domain (one
// org, two lanes) is refused; the worker checks the org ids too.
func (r *Registry) Servable() ([]Integration, error) {
	byOrg := map[string]string{}
	for _, in := range r.Integrations {
		if in.DependsOn != "" {
			continue // its org's lane is its authenticated integration's
		}
		org := strings.TrimSuffix(strings.ToLower(in.Config.Salesforce.LoginURL), "/")
		if other, ok := byOrg[org]; ok && !genericLogin(org) {
			return nil, fmt.Errorf("%s: integrations %s and %s both log in at %s, one org: two lanes would write it at once "+
				"(one person could get two records); give %s depends_on: %s instead of its own Salesforce connection", r.Path, other, in.ID, org, in.ID, other)
		}
		byOrg[org] = in.ID
	}
	return r.Integrations, nil
}

// genericLogin says whether url is Salesforce's shared login host, which
// names no org.
func genericLogin(url string) bool {
	return strings.HasSuffix(url, "://login.salesforce.com") || strings.HasSuffix(url, "://test.salesforce.com")
}

// IDs lists the integrations' ids.
func (r *Registry) IDs() []string {
	var out []string
	for _, in := range r.Integrations {
		out = append(out, in.ID)
	}
	return out
}

// registryKeys maps each key an integration may have to the environment
// variable it stands for.
var registryKeys = map[string]string{
	"awardforce_api_url":             EnvAwardForceAPIURL,
	"awardforce_api_key":             EnvAwardForceAPIKey,
	"awardforce_rate_limit":          EnvAwardForceRateLimit,
	"awardforce_webhook_signing_key": EnvAwardForceWebhookSigningKey,
	"salesforce_login_url":           EnvSalesforceLoginURL,
	"salesforce_client_id":           EnvSalesforceClientID,
	"salesforce_client_secret":       EnvSalesforceClientSecret,
	"salesforce_username":            EnvSalesforceUsername,
	"salesforce_private_key_file":    EnvSalesforcePrivateKeyFile,
	"salesforce_audience":            EnvSalesforceAudience,
	"salesforce_api_version":         EnvSalesforceAPIVersion,
	"salesforce_commit_horizon":      EnvSalesforceCommitHorizon,
	"spec":                           EnvConfig,
}

// secretKeys are the keys whose values must be references.
var secretKeys = []string{"awardforce_api_key", "awardforce_webhook_signing_key", "salesforce_client_secret"}

var (
	idPattern  = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$`)
	refPattern = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)
)

// LoadRegistry reads the registry AFSYNC_INTEGRATIONS names, or, when it
// is unset, makes the environment the one integration "default". Every
// error names the file, the integration and the key, and says the fix.
func LoadRegistry(getenv Getenv) (*Registry, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	path := strings.TrimSpace(getenv(EnvIntegrations))
	if path == "" {
		c, err := FromEnv(getenv)
		if err != nil {
			return nil, err
		}
		return &Registry{Integrations: []Integration{{ID: DefaultIntegration, Config: c}}}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (set %s to the registry of integrations, or unset it to use the environment alone)", path, err, EnvIntegrations)
	}
	return ParseRegistry(path, data, getenv)
}

// ParseRegistry reads a registry's YAML; path names it in errors.
func ParseRegistry(path string, data []byte, getenv Getenv) (*Registry, error) {
	var doc struct {
		Integrations []map[string]string `yaml:"integrations"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w (want a list under integrations:, each a map of keys to strings)", path, err)
	}
	if len(doc.Integrations) == 0 {
		return nil, fmt.Errorf("%s lists no integrations: add at least one entry under \"integrations\"", path)
	}
	r := &Registry{Path: path}
	entries := map[string]map[string]string{}
	for i, e := range doc.Integrations {
		id := e["id"]
		where := fmt.Sprintf("%s, integration %d", path, i+1)
		if !idPattern.MatchString(id) {
			return nil, fmt.Errorf("%s: id %q: want lowercase letters, digits and dashes, up to 32 (e.g. awards)", where, id)
		}
		if workflows.ReservedIntegrationID(id) {
			return nil, fmt.Errorf("%s: id %q is reserved: its Temporal names would begin like the default integration's (afsync-user-…, afsync-lane-…); choose another",
				where, id)
		}
		if _, dup := entries[id]; dup {
			return nil, fmt.Errorf("%s: id %q is listed twice: each integration needs its own id", where, id)
		}
		entries[id] = e
		r.Integrations = append(r.Integrations, Integration{ID: id, DependsOn: e["depends_on"]})
	}
	for i := range r.Integrations {
		in := &r.Integrations[i]
		e := entries[in.ID]
		where := fmt.Sprintf("%s, integration %s", path, in.ID)
		if in.DependsOn != "" {
			target, ok := entries[in.DependsOn]
			switch {
			case !ok:
				return nil, fmt.Errorf("%s: depends_on %q: no such integration (it has %s)", where, in.DependsOn, strings.Join(r.IDs(), ", "))
			case in.DependsOn == in.ID || target["depends_on"] != "":
				return nil, fmt.Errorf("%s: depends_on %q: a dependent integration uses an authenticated one's grant; %q has none of its own", where, in.DependsOn, in.DependsOn)
			}
			for k := range e {
				if strings.HasPrefix(k, "salesforce_") {
					return nil, fmt.Errorf("%s: %s: a dependent integration uses %s's Salesforce connection; remove the key, or depends_on", where, k, in.DependsOn)
				}
			}
		}
		env, err := integrationEnv(filepath.Dir(path), e, entries[in.DependsOn], getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		c, err := FromEnv(func(name string) string {
			if v, ok := env[name]; ok {
				return v
			}
			if isFleetVariable(name) {
				return getenv(name)
			}
			return ""
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %s", where, asKeys(err))
		}
		in.Config = c
	}
	return r, nil
}

// integrationEnv resolves an entry's keys (and, for a dependent one, its
// target's Salesforce keys) into the environment variables they stand
// for; relative paths are the registry's directory's.
func integrationEnv(dir string, e, target map[string]string, getenv Getenv) (map[string]string, error) {
	env := map[string]string{}
	add := func(k, raw string) error {
		name, ok := registryKeys[k]
		if !ok {
			return fmt.Errorf("unknown key %q: want id, depends_on or one of %s", k, strings.Join(slices.Sorted(maps.Keys(registryKeys)), ", "))
		}
		v, err := resolve(dir, k, raw, getenv)
		if err != nil {
			return err
		}
		if (k == "spec" || k == "salesforce_private_key_file") && v != "" && !filepath.IsAbs(v) {
			v = filepath.Join(dir, v)
		}
		env[name] = v
		return nil
	}
	for k, raw := range target {
		if strings.HasPrefix(k, "salesforce_") {
			if err := add(k, raw); err != nil {
				return nil, fmt.Errorf("through depends_on: %w", err)
			}
		}
	}
	for k, raw := range e {
		if k == "id" || k == "depends_on" {
			continue
		}
		if err := add(k, raw); err != nil {
			return nil, err
		}
	}
	if env[EnvAwardForceAPIKey] == "" {
		return nil, errors.New("awardforce_api_key is missing: give the account's key as \"${VARIABLE}\" or \"file:PATH\"")
	}
	if env[EnvSalesforceLoginURL] == "" {
		return nil, errors.New("salesforce_login_url is missing: give the org's My Domain URL, or depends_on an integration on that org")
	}
	return env, nil
}

// resolve is the value of key: a "${VARIABLE}" or "file:PATH" reference
// read, or the literal (refused for a secret).
func resolve(dir, key, raw string, getenv Getenv) (string, error) {
	v := strings.TrimSpace(raw)
	if m := refPattern.FindStringSubmatch(v); m != nil {
		val := getenv(m[1])
		if strings.TrimSpace(val) == "" {
			return "", fmt.Errorf("%s: %s is not set: set it, or point %s at another variable", key, m[1], key)
		}
		return strings.TrimSpace(val), nil
	}
	if file, ok := strings.CutPrefix(v, "file:"); ok {
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return "", fmt.Errorf("%s: %s is empty", key, file)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if slices.Contains(secretKeys, key) && v != "" {
		return "", errors.New(key + ": a secret is never written in the registry: give \"${VARIABLE}\" or \"file:PATH\" instead")
	}
	return v, nil
}

// isFleetVariable reports whether the environment variable name is the
// fleet's, not an integration's (Temporal, the worker's HTTP endpoints,
// the codec), so that an integration reads it from the environment.
func isFleetVariable(name string) bool {
	for _, v := range registryKeys {
		if v == name {
			return false
		}
	}
	return true
}

// asKeys rewrites FromEnv's error, which names environment variables, with
// the registry's keys.
func asKeys(err error) string {
	msg := err.Error()
	for k, name := range registryKeys {
		msg = strings.ReplaceAll(msg, name+"=", k+"=")
		msg = strings.ReplaceAll(msg, name+":", k+":")
	}
	return msg
}

// Package salesforce is a thin typed client for the Salesforce REST API.
//
// One configured resty client carries every request; resty's own retries are
// off because Temporal owns retrying. Every method takes a context. The
// client authenticates with the OAuth 2.0 client-credentials or JWT bearer
// flow, caches the token, uses the returned instance_url as the API base,
// and on 401 INVALID_SESSION_ID fetches a new token and retries the call
// exactly once. API failures are *Error values; classify them with
// Temporary, QuotaExhausted and IsPermanentCode. Creates, updates and
// upserts take SaveOptions, such as a DuplicateRuleHeader.
package salesforce

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/golang-jwt/jwt/v5"
)

// Defaults applied by New.
const (
	DefaultAPIVersion = "v62.0"
	DefaultTimeout    = 20 * time.Second
	DefaultAudience   = "https://login.salesforce.com"
)

// Config configures a Client. The environment variables named below are the
// ones the worker's config loader reads into each field; New names them in
// its validation errors.
//
// Exactly one flow must be configured: ClientSecret for client credentials,
// or Username and PrivateKeyPEM for the JWT bearer flow.
type Config struct {
	// LoginURL is the My Domain or login URL (SALESFORCE_LOGIN_URL); the
	// token endpoint is LoginURL + "/services/oauth2/token".
	LoginURL string
	// ClientID is the connected app's consumer key (SALESFORCE_CLIENT_ID);
	// it is also the JWT issuer.
	ClientID string
	// ClientSecret selects the client-credentials flow
	// (SALESFORCE_CLIENT_SECRET).
	ClientSecret string
	// Username is the JWT subject (SALESFORCE_USERNAME).
	Username string
	// PrivateKeyPEM is the RSA key that signs JWT assertions, PKCS#1 or
	// PKCS#8 (read from SALESFORCE_PRIVATE_KEY_FILE).
	PrivateKeyPEM []byte
	// Audience is the JWT aud claim, default https://login.salesforce.com
	// (https://test.salesforce.com for sandboxes).
	Audience string
	// APIVersion is the REST version, default "v62.0".
	APIVersion string
	// Timeout bounds each HTTP request, default 20s; keep it shorter than the
	// calling activity's StartToCloseTimeout.
	Timeout time.Duration
	// HTTPClient is the transport to use; it is copied, never modified.
	HTTPClient *http.Client
}

// Client talks to one Salesforce org. It is safe for concurrent use.
type Client struct {
	http     *resty.Client
	tokenURL string
	version  string
	cfg      Config
	key      *rsa.PrivateKey

	// fetch is a one-slot semaphore: the holder fetches a token while
	// concurrent callers wait for its result instead of fetching their own.
	fetch chan struct{}
	mu    sync.Mutex
	tok   *session
	usage Usage
}

type session struct {
	accessToken string
	instanceURL string
	// userID is the authenticated user's id (the last segment of the
	// token response's identity URL); orgID the org's (the one before it:
	// https://login.salesforce.com/id/<org>/<user>).
	userID, orgID string
}

// Usage is the last Sforce-Limit-Info api-usage the org reported.
type Usage struct {
	Used, Max int
}

var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]$`)

// SettingError is a Config that New refuses: Fields names the Config
// fields to fix, so that a caller can name where they come from (the
// worker names its environment variables).
type SettingError struct {
	Fields []string
	Msg    string
}

func (e *SettingError) Error() string { return "salesforce: " + e.Msg }

func settingError(msg string, fields ...string) error {
	return &SettingError{Fields: fields, Msg: msg}
}

// New validates cfg and returns a Client. It makes no request: the first
// API call fetches the token.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.LoginURL)
	switch {
	case cfg.LoginURL == "":
		return nil, settingError("LoginURL is required", "LoginURL")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return nil, settingError("LoginURL must be an absolute http(s) URL", "LoginURL")
	case cfg.ClientID == "":
		return nil, settingError("ClientID is required", "ClientID")
	}
	c := &Client{cfg: cfg, fetch: make(chan struct{}, 1)}
	jwtFlow := len(cfg.PrivateKeyPEM) > 0 || cfg.Username != ""
	switch {
	case jwtFlow && cfg.ClientSecret != "":
		return nil, settingError("set either ClientSecret or Username and PrivateKeyPEM, not both", "ClientSecret", "Username", "PrivateKeyPEM")
	case jwtFlow && cfg.Username == "":
		return nil, settingError("Username is required for the JWT bearer flow", "Username")
	case jwtFlow && len(cfg.PrivateKeyPEM) == 0:
		return nil, settingError("PrivateKeyPEM is required for the JWT bearer flow", "PrivateKeyPEM")
	case jwtFlow:
		if c.key, err = parseKey(cfg.PrivateKeyPEM); err != nil {
			return nil, settingError("PrivateKeyPEM: "+err.Error(), "PrivateKeyPEM")
		}
		if c.cfg.Audience == "" {
			c.cfg.Audience = DefaultAudience
		}
	case cfg.ClientSecret == "":
		return nil, settingError("ClientSecret, or Username and PrivateKeyPEM, are required", "ClientSecret", "Username", "PrivateKeyPEM")
	}
	c.version = cfg.APIVersion
	if c.version == "" {
		c.version = DefaultAPIVersion
	}
	if !strings.HasPrefix(c.version, "v") {
		c.version = "v" + c.version
	}
	if !versionRE.MatchString(c.version) {
		return nil, settingError(fmt.Sprintf("APIVersion %q is not of the form v62.0", cfg.APIVersion), "APIVersion")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	c.http = resty.NewWithClient(hc).
		SetTimeout(timeout).
		SetRetryCount(0). // Temporal owns retries; two layers multiply
		SetHeader("Accept", "application/json")
	c.tokenURL = strings.TrimSuffix(cfg.LoginURL, "/") + "/services/oauth2/token"
	return c, nil
}

func parseKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA private key in PKCS#1 or PKCS#8 form")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the key is not an RSA key")
	}
	return rk, nil
}

// UserID returns the id of the user the client acts as (the integration
// user: a record it modified last was written by afsync), fetching a token
// when none is held yet.
func (c *Client) UserID(ctx context.Context) (string, error) {
	s, err := c.session(ctx, "")
	if err != nil {
		return "", err
	}
	return s.userID, nil
}

// OrgID returns the id of the org the client's grant reaches (from the
// token response's identity URL), authenticating if needed: two login URLs
// (a My Domain and login.salesforce.com) may reach one org, and only this
// tells.
func (c *Client) OrgID(ctx context.Context) (string, error) {
	s, err := c.session(ctx, "")
	if err != nil {
		return "", err
	}
	if s.orgID == "" {
		return "", &Error{ErrorCode: "INVALID_TOKEN_RESPONSE", Message: "token response's id names no org"}
	}
	return s.orgID, nil
}

// Usage returns the last api-usage the org reported in Sforce-Limit-Info.
func (c *Client) Usage() Usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usage
}

// session returns the cached token, or fetches one. stale is a token the
// caller saw rejected: if the cache still holds it, it is replaced. Callers
// arriving during a fetch wait for it and share the result.
func (c *Client) session(ctx context.Context, stale string) (*session, error) {
	c.mu.Lock()
	if t := c.tok; t != nil && t.accessToken != stale {
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()
	select {
	case c.fetch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.fetch }()
	c.mu.Lock()
	if t := c.tok; t != nil && t.accessToken != stale {
		c.mu.Unlock()
		return t, nil // fetched by whoever held the slot before us
	}
	c.mu.Unlock()
	t, err := c.fetchToken(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tok = t
	c.mu.Unlock()
	return t, nil
}

func (c *Client) fetchToken(ctx context.Context) (*session, error) {
	form := map[string]string{}
	if c.key != nil {
		assertion, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": c.cfg.ClientID,
			"sub": c.cfg.Username,
			"aud": c.cfg.Audience,
			"exp": time.Now().Add(3 * time.Minute).Unix(),
		}).SignedString(c.key)
		if err != nil {
			return nil, fmt.Errorf("salesforce: signing the JWT assertion: %w", err)
		}
		form["grant_type"] = "urn:ietf:params:oauth:grant-type:jwt-bearer"
		form["assertion"] = assertion
	} else {
		form["grant_type"] = "client_credentials"
		form["client_id"] = c.cfg.ClientID
		form["client_secret"] = c.cfg.ClientSecret
	}
	resp, err := c.http.R().SetContext(ctx).SetFormData(form).Post(c.tokenURL)
	if err != nil {
		return nil, c.transportError(http.MethodPost, "/services/oauth2/token", err)
	}
	if resp.StatusCode() != http.StatusOK {
		return nil, c.apiError(resp.StatusCode(), resp.Body())
	}
	var out struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
		ID          string `json:"id"`
	}
	if err := json.Unmarshal(resp.Body(), &out); err != nil || out.AccessToken == "" || out.InstanceURL == "" {
		return nil, &Error{HTTPStatus: resp.StatusCode(), ErrorCode: "INVALID_TOKEN_RESPONSE", Message: "token response lacks access_token or instance_url"}
	}
	rest, userID := out.ID, ""
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		rest, userID = rest[:i], rest[i+1:]
	}
	orgID := rest[strings.LastIndexByte(rest, '/')+1:]
	return &session{accessToken: out.AccessToken, instanceURL: strings.TrimSuffix(out.InstanceURL, "/"), userID: userID, orgID: orgID}, nil
}

// call sends one API request. path is either relative to the versioned data
// root ("/query") or absolute on the instance ("/services/data/…", as
// nextRecordsUrl is). Statuses in ok are returned to the caller; others
// become *Error. A 401 INVALID_SESSION_ID is answered by one token refresh
// and one retry.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body any, ok ...int) (*resty.Response, error) {
	return c.callWith(ctx, nil, method, path, query, body, ok...)
}

// callWith is call with further request headers (a write's SaveOptions).
func (c *Client) callWith(ctx context.Context, header http.Header, method, path string, query url.Values, body any, ok ...int) (*resty.Response, error) {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("salesforce: encoding %s %s: %w", method, path, err)
		}
		payload = b
	}
	var stale string
	for attempt := 0; ; attempt++ {
		s, err := c.session(ctx, stale)
		if err != nil {
			return nil, notSentError{err}
		}
		full := s.instanceURL
		if !strings.HasPrefix(path, "/services/") {
			full += "/services/data/" + c.version
		}
		full += path
		if len(query) > 0 {
			full += "?" + query.Encode()
		}
		req := c.http.R().SetContext(ctx).SetHeaderMultiValues(header).SetHeader("Authorization", "Bearer "+s.accessToken)
		if payload != nil {
			req.SetHeader("Content-Type", "application/json").SetBody(payload)
		}
		resp, err := req.Execute(method, full)
		if err != nil {
			return nil, c.transportError(method, path, err)
		}
		c.recordUsage(resp.Header().Get("Sforce-Limit-Info"))
		for _, code := range ok {
			if resp.StatusCode() == code {
				return resp, nil
			}
		}
		apiErr := c.apiError(resp.StatusCode(), resp.Body())
		if apiErr.HTTPStatus == http.StatusUnauthorized && apiErr.ErrorCode == "INVALID_SESSION_ID" && attempt == 0 {
			stale = s.accessToken
			continue
		}
		return nil, apiErr
	}
}

// transportError wraps a network failure without the URL's query string,
// which may hold record data.
func (c *Client) transportError(method, path string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("salesforce: %s %s: %w", method, path, err)
}

func (c *Client) recordUsage(h string) {
	if u, ok := parseAPIUsage(h); ok {
		c.mu.Lock()
		c.usage = u
		c.mu.Unlock()
	}
}

// parseAPIUsage reads the api-usage entry of a Sforce-Limit-Info header:
// "api-usage=N/M", possibly among other entries separated by ";" (or ","),
// such as "per-app-api-usage=17/250(appName=app)". Spaces around entries,
// keys and numbers are tolerated and other entries are ignored. ok is false
// when no well-formed api-usage entry is present.
func parseAPIUsage(h string) (u Usage, ok bool) {
	entries := strings.FieldsFunc(h, func(r rune) bool { return r == ';' || r == ',' })
	for _, entry := range entries {
		key, v, found := strings.Cut(entry, "=")
		if !found || !strings.EqualFold(strings.TrimSpace(key), "api-usage") {
			continue
		}
		usedS, maxS, found := strings.Cut(v, "/")
		if !found {
			continue
		}
		used, err1 := strconv.Atoi(strings.TrimSpace(usedS))
		limit, err2 := strconv.Atoi(strings.TrimSpace(maxS))
		if err1 != nil || err2 != nil || used < 0 || limit < 0 {
			continue
		}
		return Usage{Used: used, Max: limit}, true
	}
	return Usage{}, false
}

// apiError decodes an error body: the API's [{message,errorCode,fields}],
// the token endpoint's {error,error_description}, or anything else.
func (c *Client) apiError(status int, body []byte) *Error {
	e := &Error{HTTPStatus: status}
	var list []struct {
		Message         string           `json:"message"`
		ErrorCode       string           `json:"errorCode"`
		Fields          []string         `json:"fields"`
		DuplicateResult *DuplicateResult `json:"duplicateResult"`
	}
	var oauth struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	switch {
	case json.Unmarshal(body, &list) == nil && len(list) > 0:
		e.fromOrg = true
		e.ErrorCode, e.Message, e.Fields = list[0].ErrorCode, list[0].Message, list[0].Fields
		for _, more := range list[1:] {
			e.Message += "; " + more.ErrorCode + ": " + more.Message
		}
		dups := make([]RecordError, len(list))
		for i, l := range list {
			dups[i].DuplicateResult = l.DuplicateResult
		}
		e.DuplicateIDs = DuplicateIDs(dups)
	case json.Unmarshal(body, &oauth) == nil && oauth.Error != "":
		e.fromOrg = true
		e.ErrorCode, e.Message = oauth.Error, oauth.Description
	default:
		e.ErrorCode = strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200]
		}
	}
	e.Message = c.redact(e.Message)
	return e
}

// redact removes secrets a misbehaving server might echo back.
func (c *Client) redact(s string) string {
	c.mu.Lock()
	var tok string
	if c.tok != nil {
		tok = c.tok.accessToken
	}
	c.mu.Unlock()
	for _, secret := range []string{tok, c.cfg.ClientSecret} {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

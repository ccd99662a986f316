package config

import "github.com/afsync/afsync/internal/codec"

// Names of the environment variables afsync reads. They are spelled here
// only: every other package uses these constants, so that a name in an
// error message or a hint is always one that something reads.
const (
	// EnvTemporalAddress is the Temporal frontend, host:port (read by the
	// SDK's envconfig; --address overrides it).
	EnvTemporalAddress = "TEMPORAL_ADDRESS"
	// EnvTemporalNamespace is the Temporal namespace (read by the SDK's
	// envconfig; --namespace overrides it).
	EnvTemporalNamespace = "TEMPORAL_NAMESPACE"

	// EnvTemporalCompression is how requests to Temporal are compressed:
	// auto (the default: none to a loopback address, gzip beyond), gzip or
	// none.
	EnvTemporalCompression = "AFSYNC_TEMPORAL_COMPRESSION"

	// EnvAwardForceAPIURL is Award Force's API base URL.
	EnvAwardForceAPIURL = "AWARDFORCE_API_URL"
	// EnvAwardForceAPIKey is the Award Force API key.
	EnvAwardForceAPIKey = "AWARDFORCE_API_KEY"
	// EnvAwardForceRateLimit is Award Force requests per minute for the fleet.
	EnvAwardForceRateLimit = "AWARDFORCE_RATE_LIMIT"
	// EnvAwardForceWebhookSigningKey is the Award Force webhook's signing key.
	EnvAwardForceWebhookSigningKey = "AWARDFORCE_WEBHOOK_SIGNING_KEY"

	// EnvSalesforceLoginURL is the org's My Domain or login URL.
	EnvSalesforceLoginURL = "SALESFORCE_LOGIN_URL"
	// EnvSalesforceClientID is the connected app's consumer key.
	EnvSalesforceClientID = "SALESFORCE_CLIENT_ID"
	// EnvSalesforceClientSecret is the consumer secret (client-credentials flow).
	EnvSalesforceClientSecret = "SALESFORCE_CLIENT_SECRET"
	// EnvSalesforceUsername is the JWT bearer flow's username.
	EnvSalesforceUsername = "SALESFORCE_USERNAME"
	// EnvSalesforcePrivateKeyFile is the JWT bearer flow's PEM RSA key file.
	EnvSalesforcePrivateKeyFile = "SALESFORCE_PRIVATE_KEY_FILE"
	// EnvSalesforceAudience is the JWT audience.
	EnvSalesforceAudience = "SALESFORCE_AUDIENCE"
	// EnvSalesforceAPIVersion is the REST API version.
	EnvSalesforceAPIVersion = "SALESFORCE_API_VERSION"
	// EnvSalesforceCommitHorizon is how long Salesforce may still commit a
	// request whose client gave up.
	EnvSalesforceCommitHorizon = "SALESFORCE_COMMIT_HORIZON"

	// EnvLaneGather is how long a pairing lane waits for more people after
	// the latest arrival before it writes a batch that is not full.
	EnvLaneGather = "AFSYNC_LANE_GATHER"
	// EnvLaneMaxGather bounds that wait from the first arrival, during a
	// steady stream.
	EnvLaneMaxGather = "AFSYNC_LANE_MAX_GATHER"

	// EnvConfig is the pairing spec file.
	EnvConfig = "AFSYNC_CONFIG"
	// EnvIntegrations is the registry of integrations (YAML, registry.go).
	EnvIntegrations = "AFSYNC_INTEGRATIONS"
	// EnvIntegration is the integration the starter acts on, when the
	// registry lists several (its --integration flag).
	EnvIntegration = "AFSYNC_INTEGRATION"
	// EnvHTTPAddr is where the worker serves its HTTP endpoints.
	EnvHTTPAddr = "AFSYNC_HTTP_ADDR"
	// EnvCodecCORSOrigins lists the UI origins allowed to call the codec server.
	EnvCodecCORSOrigins = "AFSYNC_CODEC_CORS_ORIGINS"
	// EnvCodecAddr is where the worker serves the payload codec for the
	// Temporal UI, apart from the webhook.
	EnvCodecAddr = "AFSYNC_CODEC_ADDR"
	// EnvCodecToken is the bearer token the codec server requires.
	EnvCodecToken = "AFSYNC_CODEC_TOKEN"
	// EnvTemporalUIURL is the Temporal UI's address, for the links the
	// starter prints.
	EnvTemporalUIURL = "AFSYNC_TEMPORAL_UI_URL"
	// EnvTemporalCLI is the path of the temporal binary for --dev and the tests.
	EnvTemporalCLI = "AFSYNC_TEMPORAL_CLI"
	// EnvAllowInsecureHTTP, set to 1 (or true), allows http:// API URLs
	// for hosts other than loopback ones.
	EnvAllowInsecureHTTP = "AFSYNC_ALLOW_INSECURE_HTTP"

	// EnvCodecKey, EnvCodecKeyID and EnvCodecOldKeys are the payload
	// codec's keys; the codec package reads them (and config imports it,
	// so it cannot import config).
	EnvCodecKey     = codec.EnvKey
	EnvCodecKeyID   = codec.EnvKeyID
	EnvCodecOldKeys = codec.EnvOldKeys
)

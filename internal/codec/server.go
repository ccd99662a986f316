package codec

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// MaxRequestBytes bounds a codec server request body. Temporal rejects
// payloads over 2 MiB by default, and the UI decodes a handful at a time.
const MaxRequestBytes = 16 << 20

// Headers the Web UI sends to a codec server: the JSON body, the namespace
// the payloads belong to, and the user's access token when "Pass the user
// access token" is on.
const allowHeaders = "Content-Type, X-Namespace, Authorization"

// HandlerOptions configures Handler.
type HandlerOptions struct {
	// AllowedOrigins are the Web UI origins (scheme://host[:port], exactly
	// as the browser's address bar shows them, e.g. "http://localhost:8233")
	// that may call the server from a browser. Requests that carry no Origin
	// (the CLI, scripts) are not affected. "*" is not supported: the UI may
	// send credentials, and CORS forbids a wildcard with credentials.
	AllowedOrigins []string
	// Token, when set, is required as "Authorization: Bearer <Token>" on
	// every POST. CORS preflights never carry it and are exempt.
	Token string
}

// Handler is a codec server for the Temporal Web UI and CLI: POST /encode and
// POST /decode with the SDK's JSON body ({"payloads": [...]}), also served
// under a prefix such as /{namespace}/decode. It answers CORS preflights for
// opts.AllowedOrigins, allowing credentials and the Content-Type, X-Namespace
// and Authorization headers, and rejects browser requests from any other
// origin. It panics if c is nil: with encryption off there is nothing to serve.
func Handler(c *Codec, opts HandlerOptions) http.Handler {
	if c == nil {
		panic("codec.Handler: nil *Codec (encryption is off; no codec server is needed)")
	}
	origins := make([]string, 0, len(opts.AllowedOrigins))
	for _, o := range opts.AllowedOrigins {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			origins = append(origins, o)
		}
	}
	return &server{
		codec:   converter.NewPayloadCodecHTTPHandler(c),
		origins: origins,
		token:   opts.Token,
	}
}

type server struct {
	codec   http.Handler
	origins []string
	token   string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin != "" {
		if !slices.Contains(s.origins, origin) {
			http.Error(w, "origin not allowed; add it to the codec server's allowed origins", http.StatusForbidden)
			return
		}
		// Set on every answer, errors included, so the UI can show them.
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}

	switch r.Method {
	case http.MethodOptions:
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", allowHeaders)
		w.Header().Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}

	if s.token != "" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="afsync codec"`)
		http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	s.codec.ServeHTTP(w, r)
}

func (s *server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.token)) == 1
}

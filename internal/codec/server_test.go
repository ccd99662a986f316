package codec

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

const uiOrigin = "http://localhost:8233"

func startServer(t *testing.T, c *Codec, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(c, HandlerOptions{
		AllowedOrigins: []string{uiOrigin + "/", "http://127.0.0.1:8233"},
		Token:          token,
	}))
	t.Cleanup(srv.Close)
	return srv
}

// uiBody builds a request body by hand, the way the Web UI writes it:
// {"payloads":[{"metadata":{"<key>":"<base64>"},"data":"<base64>"}]}.
func uiBody(t *testing.T, payloads ...*commonpb.Payload) []byte {
	t.Helper()
	type jsonPayload struct {
		Metadata map[string][]byte `json:"metadata"`
		Data     []byte            `json:"data"`
	}
	var body struct {
		Payloads []jsonPayload `json:"payloads"`
	}
	for _, p := range payloads {
		body.Payloads = append(body.Payloads, jsonPayload{Metadata: p.Metadata, Data: p.Data})
	}
	b, err := json.Marshal(body)
	require.NoError(t, err)
	return b
}

func post(t *testing.T, url string, body []byte, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readPayloads(t *testing.T, resp *http.Response) []*commonpb.Payload {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	var out commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(b, &out))
	return out.Payloads
}

func TestServerDecodesForTheUI(t *testing.T) {
	c := newCodec(t, newKey(t, "k1"))
	srv := startServer(t, c, "")
	enc, err := c.DataConverter().ToPayload(ada)
	require.NoError(t, err)
	plain, err := converter.GetDefaultDataConverter().ToPayload("not encrypted")
	require.NoError(t, err)

	// The UI posts to <endpoint>/decode; the CLI may template the namespace
	// into the path.
	for _, path := range []string{"/decode", "/default/decode"} {
		t.Run(path, func(t *testing.T) {
			resp := post(t, srv.URL+path, uiBody(t, enc, plain), map[string]string{
				"Origin":      uiOrigin,
				"X-Namespace": "default",
			})
			assert.Equal(t, uiOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
			got := readPayloads(t, resp)
			require.Len(t, got, 2)

			var p person
			require.NoError(t, converter.GetDefaultDataConverter().FromPayload(got[0], &p))
			assert.Equal(t, ada, p)
			var s string
			require.NoError(t, converter.GetDefaultDataConverter().FromPayload(got[1], &s))
			assert.Equal(t, "not encrypted", s)
		})
	}
}

func TestServerEncodes(t *testing.T) {
	c := newCodec(t, newKey(t, "k1"))
	srv := startServer(t, c, "")
	plain, err := converter.GetDefaultDataConverter().ToPayload(ada)
	require.NoError(t, err)

	resp := post(t, srv.URL+"/encode", uiBody(t, plain), map[string]string{"Origin": uiOrigin})
	got := readPayloads(t, resp)
	require.Len(t, got, 1)
	assert.Equal(t, MetadataEncodingEncrypted, string(got[0].Metadata[converter.MetadataEncoding]))
	assert.NotContains(t, string(got[0].Data), ada.Email)

	var p person
	require.NoError(t, c.DataConverter().FromPayload(got[0], &p))
	assert.Equal(t, ada, p)
}

func TestServerDecodeErrorsReachTheCaller(t *testing.T) {
	c := newCodec(t, newKey(t, "k1"))
	srv := startServer(t, c, "")
	enc, err := newCodec(t, newKey(t, "elsewhere")).DataConverter().ToPayload(ada)
	require.NoError(t, err)

	resp := post(t, srv.URL+"/decode", uiBody(t, enc), map[string]string{"Origin": uiOrigin})
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(b), "elsewhere")
	assert.Equal(t, uiOrigin, resp.Header.Get("Access-Control-Allow-Origin"), "the UI cannot show an error it may not read")
}

func preflight(t *testing.T, url, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, url, nil)
	require.NoError(t, err)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace,authorization")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func TestServerCORSPreflight(t *testing.T) {
	// With a token set too: browsers never send credentials on a preflight.
	srv := startServer(t, newCodec(t, newKey(t, "k1")), "s3cret")

	for _, origin := range []string{uiOrigin, "http://127.0.0.1:8233"} {
		resp := preflight(t, srv.URL+"/decode", origin)
		assert.Equal(t, http.StatusNoContent, resp.StatusCode)
		assert.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
		assert.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
		allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"content-type", "x-namespace", "authorization"} {
			assert.Contains(t, allowed, h)
		}
		assert.Contains(t, resp.Header.Values("Vary"), "Origin")
	}

	resp := preflight(t, srv.URL+"/decode", "https://evil.example")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))
}

func TestServerRejectsOtherOrigins(t *testing.T) {
	c := newCodec(t, newKey(t, "k1"))
	srv := startServer(t, c, "")
	enc, err := c.DataConverter().ToPayload(ada)
	require.NoError(t, err)

	resp := post(t, srv.URL+"/decode", uiBody(t, enc), map[string]string{"Origin": "https://evil.example"})
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.NotContains(t, string(b), "payloads")
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestServerToken(t *testing.T) {
	c := newCodec(t, newKey(t, "k1"))
	srv := startServer(t, c, "s3cret")
	enc, err := c.DataConverter().ToPayload(ada)
	require.NoError(t, err)

	tests := map[string]struct {
		auth string
		want int
	}{
		"none":         {"", http.StatusUnauthorized},
		"wrong":        {"Bearer nope", http.StatusUnauthorized},
		"prefix":       {"Bearer s3cre", http.StatusUnauthorized},
		"not bearer":   {"Basic s3cret", http.StatusUnauthorized},
		"bare token":   {"s3cret", http.StatusUnauthorized},
		"right":        {"Bearer s3cret", http.StatusOK},
		"scheme cased": {"bearer s3cret", http.StatusOK},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			h := map[string]string{"Origin": uiOrigin}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			resp := post(t, srv.URL+"/decode", uiBody(t, enc), h)
			assert.Equal(t, uiOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
			if tt.want == http.StatusOK {
				got := readPayloads(t, resp)
				var p person
				require.NoError(t, converter.GetDefaultDataConverter().FromPayload(got[0], &p))
				assert.Equal(t, ada, p)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			assert.Equal(t, tt.want, resp.StatusCode, string(b))
			assert.NotContains(t, string(b), "payloads")
			assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
		})
	}
}

func TestServerRejectsOtherMethods(t *testing.T) {
	srv := startServer(t, newCodec(t, newKey(t, "k1")), "")
	resp, err := http.Get(srv.URL + "/decode")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Allow"), "POST")
}

func TestHandlerPanicsWithoutCodec(t *testing.T) {
	assert.Panics(t, func() { Handler(nil, HandlerOptions{}) })
}

package deploy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/afsync/afsync/internal/codec"
	"github.com/afsync/afsync/internal/devserver"
)

// codecProxyToken is the worker's codec token in this test only.
const codecProxyToken = "proxy-test-token-0123456789abcdef"

// The codec proxy's template on a real nginx, in front of the real codec
// server: the browser's requests reach the codec without a token (the UI
// cannot send one) and are accepted because the proxy adds it; a browser
// user's own Authorization header is replaced; bodies up to the codec's
// 16 MiB pass; nothing but /codec/ is served. Only the two lines that name
// Docker's network (the listen port, the worker's address) are rewritten.
func TestCodecProxyTemplateAddsTheTokenAndServesOnlyTheCodec(t *testing.T) {
	bin := nginxBinary(t)
	cd, err := codec.New(codec.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, codec.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/codec/", http.StripPrefix("/codec", codec.Handler(cd, codec.HandlerOptions{
		AllowedOrigins: []string{"http://localhost:8080"}, Token: codecProxyToken,
	})))
	worker := httptest.NewServer(mux)
	defer worker.Close()

	proxy := startCodecProxy(t, bin, worker.URL)

	// Straight to the worker without the token: refused.
	if code, _ := post(t, worker.URL+"/codec/encode", "", payloadsJSON(t, `"Ada Lovelace"`)); code != http.StatusUnauthorized {
		t.Fatalf("the worker's codec answered %d without a token, want 401", code)
	}
	// Through the proxy, as the UI sends it, and with a user's own token.
	for _, auth := range []string{"", "Bearer oidc-user-token"} {
		code, enc := post(t, proxy+"/codec/encode", auth, payloadsJSON(t, `"Ada Lovelace"`))
		if code != http.StatusOK || strings.Contains(enc, base64.StdEncoding.EncodeToString([]byte(`"Ada Lovelace"`))) {
			t.Fatalf("encode through the proxy (Authorization %q): %d %s", auth, code, enc)
		}
		code, dec := post(t, proxy+"/codec/decode", auth, enc)
		if code != http.StatusOK || !strings.Contains(dec, base64.StdEncoding.EncodeToString([]byte(`"Ada Lovelace"`))) {
			t.Fatalf("decode through the proxy (Authorization %q): %d %s", auth, code, dec)
		}
	}
	// A history's worth of payloads: past nginx's 1 MiB default.
	big := `"` + strings.Repeat("x", 3<<20) + `"`
	if code, body := post(t, proxy+"/codec/encode", "", payloadsJSON(t, big)); code != http.StatusOK {
		t.Fatalf("a 3 MiB payload through the proxy: %d %.200s", code, body)
	}
	// The browser's CORS preflight reaches the worker, which answers it.
	req, _ := http.NewRequest(http.MethodOptions, proxy+"/codec/decode", nil)
	req.Header.Set("Origin", "http://localhost:8080")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8080" {
		t.Fatalf("preflight through the proxy: %d %v", resp.StatusCode, resp.Header)
	}
	// Nothing else of the worker is reachable through it.
	for _, path := range []string{"/", "/metrics", "/healthz", "/webhooks/awardforce"} {
		resp, err := http.Get(proxy + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s through the codec proxy: %d, want 404", path, resp.StatusCode)
		}
	}
}

// nginxBinary finds nginx, which `make test` installs (Debian's package).
func nginxBinary(t *testing.T) string {
	if testing.Short() {
		t.Skip("needs nginx: runs without -short (make test)")
	}
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	t.Fatal("the codec proxy test runs the real nginx: `make test` installs it (apt-get install nginx)")
	return ""
}

// startCodecProxy renders deploy/codec-proxy/default.conf.template as the
// nginx image does (only AFSYNC_CODEC_* variables are replaced), points it
// at a loopback port and at workerURL instead of Docker's network, runs
// nginx with it until the test ends, and returns the proxy's base URL.
func startCodecProxy(t *testing.T, bin, workerURL string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("codec-proxy", "default.conf.template"))
	if err != nil {
		t.Fatal(err)
	}
	conf := regexp.MustCompile(`\$\{(AFSYNC_CODEC_[A-Z_]+)\}`).ReplaceAllStringFunc(string(raw), func(m string) string {
		if m == "${AFSYNC_CODEC_TOKEN}" {
			return codecProxyToken
		}
		t.Fatalf("the template names %s, which the compose service does not set", m)
		return m
	})
	if !strings.Contains(conf, "http://worker:8235") || !strings.Contains(conf, "listen 8234;") {
		t.Fatalf("the template no longer has %q and %q: update this test with them", "http://worker:8235", "listen 8234;")
	}
	conf = strings.ReplaceAll(conf, "http://worker:8235", workerURL)
	// nginx cannot be told to pick a port: the test picks a free one, and
	// another process may take it before nginx binds it (it then exits):
	// nginx starts again on another, three times at most.
	for attempt := 1; ; attempt++ {
		port, err := devserver.FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		why, ok := runNginx(t, bin, strings.ReplaceAll(conf, "listen 8234;", "listen "+addr+";"), addr)
		if ok {
			return "http://" + addr
		}
		if attempt == 3 {
			t.Fatal(why)
		}
		t.Logf("nginx on %s, attempt %d: %s", addr, attempt, why)
	}
}

// runNginx runs nginx with the rendered default.conf until the test ends
// and waits until it listens on addr; false, and why, when it stopped first.
func runNginx(t *testing.T, bin, conf, addr string) (string, bool) {
	t.Helper()
	// Not under t.TempDir, whose parent only its owner may enter: started
	// by root, nginx's workers run as nobody and buffer bodies here.
	dir, err := os.MkdirTemp("", "codec-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "default.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/default.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the rendered template: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // nginx's fast shutdown (SIGINT)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	stopped := func() string {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return fmt.Sprintf("nginx stopped: %s\n%s", stderr.String(), log)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-done:
			return stopped(), false
		default:
		}
		// nginx writes its pid file once it has bound its ports: a process
		// that took the port first answers a dial too, while nginx exits.
		pid, _ := os.ReadFile(filepath.Join(dir, "nginx.pid"))
		if strings.TrimSpace(string(pid)) == strconv.Itoa(cmd.Process.Pid) {
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return "", true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s: %s", addr, stderr.String())
		}
	}
}

// payloadsJSON is the codec protocol's body holding one json/plain payload
// of JSON value v.
func payloadsJSON(t *testing.T, v string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"payloads": []any{map[string]any{
		"metadata": map[string]string{"encoding": base64.StdEncoding.EncodeToString([]byte("json/plain"))},
		"data":     base64.StdEncoding.EncodeToString([]byte(v)),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// post sends body to url as JSON, with an Authorization header when auth
// is set, and returns the status and the answer.
func post(t *testing.T, url, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

package config

import (
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
)

// Requests to a frontend on this machine go uncompressed unless asked:
// gzip there only spends CPU on both sides.
func TestCompressionIsNoneOnLoopbackAndGzipBeyond(t *testing.T) {
	for _, c := range []struct {
		setting, hostPort string
		gzip              bool
	}{
		{"", "127.0.0.1:7233", false},
		{"auto", "localhost:7233", false},
		{"AUTO", "[::1]:7233", false},
		{"", "127.0.0.2:7233", false},
		{"", "temporal:7233", true},
		{"", "acme.a1b2c.tmprl.cloud:7233", true},
		{"", "10.0.0.5:7233", true},
		{"", "localhost.attacker.example:7233", true},
		{"gzip", "127.0.0.1:7233", true},
		{" none ", "acme.a1b2c.tmprl.cloud:7233", false},
	} {
		got, err := Compression(c.setting, c.hostPort)
		if err != nil {
			t.Fatalf("Compression(%q, %q): %v", c.setting, c.hostPort, err)
		}
		_, isGzip := got.(*client.GrpcCompressionGzip)
		_, isNone := got.(*client.GrpcCompressionNone)
		if isGzip != c.gzip || isNone == c.gzip {
			t.Errorf("Compression(%q, %q) = %T, want gzip %v", c.setting, c.hostPort, got, c.gzip)
		}
	}
}

func TestCompressionRefusesAnUnknownSettingNamingTheChoices(t *testing.T) {
	_, err := Compression("zstd", "127.0.0.1:7233")
	if err == nil {
		t.Fatal("zstd accepted")
	}
	for _, want := range []string{EnvTemporalCompression, `"zstd"`, "auto", "gzip", "none"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// ClientOptions applies the setting to the address it dials.
func TestClientOptionsCompressRequestsBeyondLoopbackOnly(t *testing.T) {
	t.Setenv(EnvTemporalCompression, "")
	local, err := Temporal{Address: "127.0.0.1:7233"}.ClientOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := local.ConnectionOptions.GrpcCompression.(*client.GrpcCompressionNone); !ok {
		t.Errorf("loopback frontend: compression %T, want none", local.ConnectionOptions.GrpcCompression)
	}
	remote, err := Temporal{Address: "temporal:7233"}.ClientOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := remote.ConnectionOptions.GrpcCompression.(*client.GrpcCompressionGzip); !ok {
		t.Errorf("remote frontend: compression %T, want gzip", remote.ConnectionOptions.GrpcCompression)
	}
	t.Setenv(EnvTemporalCompression, "brotli")
	if _, err := (Temporal{Address: "temporal:7233"}).ClientOptions(nil); err == nil || !strings.Contains(err.Error(), EnvTemporalCompression) {
		t.Errorf("a bad setting: error %v, want one naming %s", err, EnvTemporalCompression)
	}
}

// An identity-ledger page's memo (its pairings, up to about 8 KB) is no
// reason for the SDK to warn on every page.
func TestClientOptionsWarnOnlyAboveALedgerPagesMemo(t *testing.T) {
	opts, err := Temporal{Address: "127.0.0.1:7233"}.ClientOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := opts.PayloadLimits.MemoSizeWarning; got != MemoSizeWarning {
		t.Errorf("memo size warning at %d bytes, want %d", got, MemoSizeWarning)
	}
}

package codec

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func b64Key(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

func TestFromEnvOff(t *testing.T) {
	c, err := FromEnv(env(nil))
	require.NoError(t, err)
	assert.Nil(t, c)

	c, err = FromEnv(env(map[string]string{EnvKey: "  "}))
	require.NoError(t, err)
	assert.Nil(t, c)
}

func TestFromEnvDefaultKeyID(t *testing.T) {
	c, err := FromEnv(env(map[string]string{EnvKey: b64Key(t, 32)}))
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, DefaultKeyID, c.activeID)
}

func TestFromEnvRotation(t *testing.T) {
	oldKey, newKey := b64Key(t, 32), b64Key(t, 32)
	before, err := FromEnv(env(map[string]string{EnvKey: oldKey, EnvKeyID: "2025-06"}))
	require.NoError(t, err)
	after, err := FromEnv(env(map[string]string{
		EnvKey:     newKey,
		EnvKeyID:   "2026-01",
		EnvOldKeys: "2024-01:" + b64Key(t, 32) + ", 2025-06:" + oldKey + ",",
	}))
	require.NoError(t, err)
	assert.Equal(t, "2026-01", after.activeID)

	enc, err := before.DataConverter().ToPayload(ada)
	require.NoError(t, err)
	var got person
	require.NoError(t, after.DataConverter().FromPayload(enc, &got))
	assert.Equal(t, ada, got)
}

func TestFromEnvAcceptsURLSafeUnpaddedBase64(t *testing.T) {
	raw := make([]byte, KeySize)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	c, err := FromEnv(env(map[string]string{EnvKey: base64.RawURLEncoding.EncodeToString(raw)}))
	require.NoError(t, err)

	// Same key, written the usual way, reads what the first wrote.
	std, err := FromEnv(env(map[string]string{EnvKey: base64.StdEncoding.EncodeToString(raw)}))
	require.NoError(t, err)
	enc, err := c.DataConverter().ToPayload("x")
	require.NoError(t, err)
	_, err = std.Decode([]*commonpb.Payload{enc})
	require.NoError(t, err)
}

func TestFromEnvErrors(t *testing.T) {
	good := b64Key(t, 32)
	short := b64Key(t, 16)
	tests := map[string]struct {
		vars     map[string]string
		wantVar  string
		wantHint string
	}{
		"key not base64": {
			vars:    map[string]string{EnvKey: "this is not base64 at all!!"},
			wantVar: EnvKey, wantHint: "openssl rand -base64 32",
		},
		"key too short": {
			vars:    map[string]string{EnvKey: short},
			wantVar: EnvKey, wantHint: "openssl rand -base64 32",
		},
		"key is hex, not base64": {
			vars:    map[string]string{EnvKey: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
			wantVar: EnvKey, wantHint: "openssl rand -base64 32",
		},
		"key id with colon": {
			vars:    map[string]string{EnvKey: good, EnvKeyID: "2025:06"},
			wantVar: EnvKeyID, wantHint: "free of ':'",
		},
		"old key without id": {
			vars:    map[string]string{EnvKey: good, EnvOldKeys: good},
			wantVar: EnvOldKeys, wantHint: "id:base64",
		},
		"old key empty id": {
			vars:    map[string]string{EnvKey: good, EnvOldKeys: ":" + short},
			wantVar: EnvOldKeys, wantHint: "entry 1",
		},
		"old key too short": {
			vars:    map[string]string{EnvKey: good, EnvOldKeys: "a:" + b64Key(t, 32) + ",b:" + short},
			wantVar: EnvOldKeys, wantHint: "openssl rand -base64 32",
		},
		"old key id reuses active id": {
			vars:    map[string]string{EnvKey: good, EnvKeyID: "k", EnvOldKeys: "k:" + short},
			wantVar: EnvOldKeys, wantHint: "own id",
		},
		"old keys without active key": {
			vars:    map[string]string{EnvOldKeys: "a:" + good},
			wantVar: EnvOldKeys, wantHint: EnvKey,
		},
		"key id without key": {
			vars:    map[string]string{EnvKeyID: "2025-06"},
			wantVar: EnvKeyID, wantHint: EnvKey,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := FromEnv(env(tt.vars))
			require.Error(t, err)
			assert.Nil(t, c)
			msg := err.Error()
			assert.Contains(t, msg, tt.wantVar)
			assert.Contains(t, msg, tt.wantHint)
			for _, secret := range []string{good, short, "this is not base64", "00112233445566778899"} {
				assert.NotContains(t, msg, secret, "error echoes key material")
				assert.NotContains(t, msg, secret[:8], "error echoes key material")
			}
		})
	}
}

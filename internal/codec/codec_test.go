package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

type person struct {
	Email     string
	FirstName string
	LastName  string
	Tags      []string
}

var ada = person{Email: "ada.lovelace@example.com", FirstName: "Ada", LastName: "Lovelace", Tags: []string{"judge"}}

func newKey(t *testing.T, id string) Key {
	t.Helper()
	k := Key{ID: id, Secret: make([]byte, KeySize)}
	_, err := rand.Read(k.Secret)
	require.NoError(t, err)
	return k
}

func newCodec(t *testing.T, active Key, old ...Key) *Codec {
	t.Helper()
	c, err := New(active, old...)
	require.NoError(t, err)
	return c
}

func TestDataConverterRoundTrip(t *testing.T) {
	dc := newCodec(t, newKey(t, "k1")).DataConverter()

	p, err := dc.ToPayload(ada)
	require.NoError(t, err)
	var gotPerson person
	require.NoError(t, dc.FromPayload(p, &gotPerson))
	assert.Equal(t, ada, gotPerson)

	ps, err := dc.ToPayloads("grace@example.com", 42, ada)
	require.NoError(t, err)
	var (
		s string
		n int
		q person
	)
	require.NoError(t, dc.FromPayloads(ps, &s, &n, &q))
	assert.Equal(t, "grace@example.com", s)
	assert.Equal(t, 42, n)
	assert.Equal(t, ada, q)
}

func TestEncodedPayloadHoldsNoPlaintext(t *testing.T) {
	dc := newCodec(t, newKey(t, "k1")).DataConverter()

	p, err := dc.ToPayload(ada)
	require.NoError(t, err)
	assert.Equal(t, MetadataEncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]))
	assert.Equal(t, "k1", string(p.Metadata[MetadataEncryptionKeyID]))

	wire, err := proto.Marshal(p)
	require.NoError(t, err)
	for _, plain := range []string{ada.Email, ada.LastName, "json/plain"} {
		assert.NotContains(t, string(wire), plain)
	}

	// The same value encrypts differently each time: a fresh nonce per payload.
	again, err := dc.ToPayload(ada)
	require.NoError(t, err)
	assert.NotEqual(t, p.Data, again.Data)
}

func TestDecodeLeavesUnencryptedPayloadsAlone(t *testing.T) {
	c := newCodec(t, newKey(t, "k1"))
	plain, err := converter.GetDefaultDataConverter().ToPayload(ada)
	require.NoError(t, err)
	encrypted, err := c.Encode([]*commonpb.Payload{plain})
	require.NoError(t, err)

	// A history written before encryption was on, mixed with one written after.
	got, err := c.Decode([]*commonpb.Payload{plain, encrypted[0]})
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.True(t, proto.Equal(plain, got[0]), "plaintext payload changed")
	assert.True(t, proto.Equal(plain, got[1]), "encrypted payload did not decode to the original")

	var viaConverter person
	require.NoError(t, c.DataConverter().FromPayload(plain, &viaConverter))
	assert.Equal(t, ada, viaConverter)
}

func TestDecodeRejectsTamperedPayloads(t *testing.T) {
	c := newCodec(t, newKey(t, "k1"))
	plain, err := converter.GetDefaultDataConverter().ToPayload(ada)
	require.NoError(t, err)

	tamper := map[string]func(data []byte) []byte{
		"nonce":      func(d []byte) []byte { d[0] ^= 1; return d },
		"ciphertext": func(d []byte) []byte { d[len(d)/2] ^= 1; return d },
		"tag":        func(d []byte) []byte { d[len(d)-1] ^= 1; return d },
		"truncated":  func(d []byte) []byte { return d[:len(d)-1] },
		"too short":  func(d []byte) []byte { return d[:5] },
		"empty":      func([]byte) []byte { return nil },
		"appended":   func(d []byte) []byte { return append(d, 0) },
	}
	for name, f := range tamper {
		t.Run(name, func(t *testing.T) {
			enc, err := c.Encode([]*commonpb.Payload{plain})
			require.NoError(t, err)
			enc[0].Data = f(bytes.Clone(enc[0].Data))
			_, err = c.Decode(enc)
			require.ErrorIs(t, err, ErrDecrypt)
			assert.Contains(t, err.Error(), `"k1"`)
		})
	}
}

func TestDecodeRejectsUnknownKeyID(t *testing.T) {
	writer := newCodec(t, newKey(t, "2025-06"))
	reader := newCodec(t, newKey(t, "2026-01"), newKey(t, "2024-01"))
	enc, err := writer.DataConverter().ToPayload(ada)
	require.NoError(t, err)

	_, err = reader.Decode([]*commonpb.Payload{enc})
	require.ErrorIs(t, err, ErrUnknownKeyID)
	for _, want := range []string{"2025-06", "2026-01", "2024-01", EnvOldKeys} {
		assert.Contains(t, err.Error(), want)
	}

	delete(enc.Metadata, MetadataEncryptionKeyID)
	_, err = writer.Decode([]*commonpb.Payload{enc})
	require.ErrorIs(t, err, ErrUnknownKeyID)
}

func TestDecodeRejectsWrongKeyUnderKnownID(t *testing.T) {
	writer := newCodec(t, newKey(t, "k1"))
	impostor := newCodec(t, newKey(t, "k1"))
	enc, err := writer.DataConverter().ToPayload(ada)
	require.NoError(t, err)
	_, err = impostor.Decode([]*commonpb.Payload{enc})
	require.ErrorIs(t, err, ErrDecrypt)
}

func TestRotation(t *testing.T) {
	k2025, k2026 := newKey(t, "2025-06"), newKey(t, "2026-01")
	before := newCodec(t, k2025)
	after := newCodec(t, k2026, k2025)

	old, err := before.DataConverter().ToPayload(ada)
	require.NoError(t, err)

	var got person
	require.NoError(t, after.DataConverter().FromPayload(old, &got))
	assert.Equal(t, ada, got)

	// New payloads use the new active key only.
	fresh, err := after.DataConverter().ToPayload(ada)
	require.NoError(t, err)
	assert.Equal(t, "2026-01", string(fresh.Metadata[MetadataEncryptionKeyID]))
	_, err = before.Decode([]*commonpb.Payload{fresh})
	require.ErrorIs(t, err, ErrUnknownKeyID)
}

func TestNewValidatesKeys(t *testing.T) {
	good := newKey(t, "a")
	tests := map[string]struct {
		active Key
		old    []Key
		want   string
	}{
		"short key":    {active: Key{ID: "a", Secret: make([]byte, 16)}, want: "16 bytes, want 32"},
		"empty id":     {active: Key{Secret: good.Secret}, want: "empty key id"},
		"colon in id":  {active: Key{ID: "a:b", Secret: good.Secret}, want: "must not contain"},
		"space in id":  {active: Key{ID: "a b", Secret: good.Secret}, want: "must not contain"},
		"duplicate id": {active: good, old: []Key{newKey(t, "a")}, want: "given twice"},
		"bad old key":  {active: good, old: []Key{{ID: "b", Secret: []byte("short")}}, want: `key "b" is 5 bytes`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New(tt.active, tt.old...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestKeysNeverPrint(t *testing.T) {
	k := newKey(t, "k1")
	// A secret whose bytes are printable makes a leak through %s visible.
	copy(k.Secret, "ThisIsTheSecretKeyMaterial012345")
	c := newCodec(t, k, newKey(t, "k0"))

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "key", k, "codec", c)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("loaded", "key", k, "codec", c)

	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s %x", k, k, k, k, k),
		fmt.Sprintf("%v %+v %#v %s", c, c, c, c),
		logged.String(),
	} {
		assert.NotContains(t, out, "ThisIsTheSecret")
		assert.NotContains(t, out, fmt.Sprintf("%x", k.Secret[:8]))
		assert.NotContains(t, out, fmt.Sprint(k.Secret[:8]))
		assert.NotContains(t, out, base64.StdEncoding.EncodeToString(k.Secret)[:12])
	}
	assert.Contains(t, c.String(), `"k1"`)
	assert.Contains(t, c.String(), `"k0"`)
}

package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// Metadata keys and values an encrypted payload carries.
const (
	// MetadataEncodingEncrypted is the "encoding" of an encrypted payload.
	MetadataEncodingEncrypted = "binary/encrypted"
	// MetadataEncryptionKeyID names the metadata entry holding the id of the
	// key that encrypted the payload.
	MetadataEncryptionKeyID = "encryption-key-id"
)

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// ErrUnknownKeyID is returned by Decode for a payload encrypted with a key the
// codec does not hold (or that names no key at all).
var ErrUnknownKeyID = errors.New("unknown encryption key id")

// ErrDecrypt is returned by Decode when a payload fails authentication: it
// was altered, truncated, or encrypted with a different key under the same id.
var ErrDecrypt = errors.New("payload failed to decrypt (tampered, truncated, or wrong key for its id)")

// Key is an AES-256 key and the id that encrypted payloads record for it.
// Its String, GoString and LogValue hide Secret, so a Key that ends up in a
// log line or an error does not leak.
type Key struct {
	// ID names the key in each payload it encrypts. It must be non-empty and
	// free of ':', ',' and whitespace (AFSYNC_CODEC_OLD_KEYS is "id:key,…").
	ID string
	// Secret is the 32-byte AES-256 key.
	Secret []byte
}

// String describes the key without its secret.
func (k Key) String() string { return fmt.Sprintf("codec.Key{ID: %q, Secret: <redacted>}", k.ID) }

// GoString describes the key without its secret, for %#v.
func (k Key) GoString() string { return k.String() }

// LogValue logs the key's id only.
func (k Key) LogValue() slog.Value { return slog.GroupValue(slog.String("id", k.ID)) }

// Codec is a converter.PayloadCodec that encrypts with one active key and
// decrypts with the active key or any of the older ones. It is safe for
// concurrent use; its zero value is not usable, build one with New or FromEnv.
type Codec struct {
	activeID string
	oldIDs   []string
	aeads    map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec that encrypts with active and decrypts with active or
// any of old. Key ids must be valid and distinct. The codec keeps no copy of
// the secrets' bytes, so callers may zero them afterwards.
func New(active Key, old ...Key) (*Codec, error) {
	c := &Codec{activeID: active.ID, aeads: make(map[string]cipher.AEAD, 1+len(old))}
	for i, k := range append([]Key{active}, old...) {
		if err := validKeyID(k.ID); err != nil {
			return nil, err
		}
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("codec: key id %q given twice", k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("codec: key %q is %d bytes, want %d (AES-256)", k.ID, len(k.Secret), KeySize)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		// The random-nonce GCM draws a fresh 96-bit nonce from crypto/rand
		// on every Seal and prepends it, so no nonce can be reused by mistake.
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
		if i > 0 {
			c.oldIDs = append(c.oldIDs, k.ID)
		}
	}
	return c, nil
}

func validKeyID(id string) error {
	if id == "" {
		return errors.New("codec: empty key id")
	}
	if strings.ContainsAny(id, ":,") || strings.ContainsFunc(id, unicode.IsSpace) {
		return fmt.Errorf("codec: key id %q must not contain ':', ',' or whitespace", id)
	}
	return nil
}

// String names the codec's keys by id, never by value, so it is safe to log.
func (c *Codec) String() string {
	return fmt.Sprintf("codec.Codec{active: %q, old: %q}", c.activeID, c.oldIDs)
}

// GoString is String, for %#v.
func (c *Codec) GoString() string { return c.String() }

// DataConverter is the SDK's default data converter with payloads encrypted
// by c. Give it to client.Options.DataConverter in every worker and client.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// Encode encrypts each payload, metadata included, with the active key.
// It implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.activeID]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("codec: payload %d: marshal: %w", i, err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(MetadataEncodingEncrypted),
				MetadataEncryptionKeyID:    []byte(c.activeID),
			},
			Data: aead.Seal(nil, nil, plain, nil),
		}
	}
	return out, nil
}

// Decode decrypts the payloads Encode produced and returns every other payload
// as it is, so that histories written before encryption was turned on still
// decode. It fails with ErrUnknownKeyID or ErrDecrypt (wrapped) otherwise.
// It implements converter.PayloadCodec.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != MetadataEncodingEncrypted {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataEncryptionKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			return payloads, fmt.Errorf("codec: payload %d: %w %q; this codec holds %q: add the key to AFSYNC_CODEC_OLD_KEYS",
				i, ErrUnknownKeyID, id, c.keyIDs())
		}
		plain, err := aead.Open(nil, nil, p.GetData(), nil)
		if err != nil {
			return payloads, fmt.Errorf("codec: payload %d, key %q: %w", i, id, ErrDecrypt)
		}
		var decoded commonpb.Payload
		if err := proto.Unmarshal(plain, &decoded); err != nil {
			return payloads, fmt.Errorf("codec: payload %d, key %q: decrypted bytes are not a payload: %w", i, id, err)
		}
		out[i] = &decoded
	}
	return out, nil
}

func (c *Codec) keyIDs() []string {
	return slices.Concat([]string{c.activeID}, c.oldIDs)
}

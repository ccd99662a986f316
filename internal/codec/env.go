package codec

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Environment variables FromEnv reads.
const (
	// EnvKey is the active key, 32 bytes base64-encoded. Unset: encryption off.
	EnvKey = "AFSYNC_CODEC_KEY"
	// EnvKeyID is the active key's id; DefaultKeyID when unset.
	EnvKeyID = "AFSYNC_CODEC_KEY_ID"
	// EnvOldKeys lists retired keys, still used to decrypt, as
	// "id:base64,id:base64".
	EnvOldKeys = "AFSYNC_CODEC_OLD_KEYS"
)

// DefaultKeyID is the active key's id when AFSYNC_CODEC_KEY_ID is unset.
const DefaultKeyID = "default"

const keyFix = "want 32 bytes base64-encoded; generate one with `openssl rand -base64 32`"

// FromEnv builds the codec from the environment:
//
//	AFSYNC_CODEC_KEY       active key, 32 bytes base64-encoded (`openssl rand -base64 32`)
//	AFSYNC_CODEC_KEY_ID    its id (default "default")
//	AFSYNC_CODEC_OLD_KEYS  older keys, decrypt only: "id:base64,id:base64"
//
// With AFSYNC_CODEC_KEY unset (and the other two unset as well) it returns
// (nil, nil): encryption is off. A malformed value is an error that names the
// variable and the fix; errors never contain key material.
func FromEnv(getenv func(string) string) (*Codec, error) {
	raw := strings.TrimSpace(getenv(EnvKey))
	id := strings.TrimSpace(getenv(EnvKeyID))
	oldRaw := strings.TrimSpace(getenv(EnvOldKeys))
	if raw == "" {
		// A lone id or old-key list means someone meant to encrypt and lost
		// the key on the way; running in plaintext would leak what they meant
		// to protect.
		for _, set := range []struct{ name, value string }{{EnvKeyID, id}, {EnvOldKeys, oldRaw}} {
			if set.value != "" {
				return nil, fmt.Errorf("%s is set but %s is not: set %s (%s), or unset %s to run without encryption",
					set.name, EnvKey, EnvKey, keyFix, set.name)
			}
		}
		return nil, nil
	}

	active := Key{ID: DefaultKeyID}
	if id != "" {
		if err := validKeyID(id); err != nil {
			return nil, fmt.Errorf("%s: must be free of ':', ',' and whitespace (the id moves into %s on rotation)", EnvKeyID, EnvOldKeys)
		}
		active.ID = id
	}
	secret, err := decodeKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v; %s", EnvKey, err, keyFix)
	}
	active.Secret = secret

	var old []Key
	seen := map[string]bool{active.ID: true}
	for n, entry := range strings.Split(oldRaw, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		// Name entries by position, never by content: an entry without a
		// colon may be a bare key.
		kid, kraw, ok := strings.Cut(entry, ":")
		kid, kraw = strings.TrimSpace(kid), strings.TrimSpace(kraw)
		if !ok || kid == "" || kraw == "" {
			return nil, fmt.Errorf("%s: entry %d is not id:base64key; want \"id:base64,id:base64\", e.g. \"2025-06:<the retired %s>\"", EnvOldKeys, n+1, EnvKey)
		}
		if err := validKeyID(kid); err != nil {
			return nil, fmt.Errorf("%s: entry %d: key id must be free of ':', ',' and whitespace", EnvOldKeys, n+1)
		}
		if seen[kid] {
			return nil, fmt.Errorf("%s: key id %q appears twice (or is also %s); give every key its own id", EnvOldKeys, kid, EnvKeyID)
		}
		seen[kid] = true
		s, err := decodeKey(kraw)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: %v; %s", EnvOldKeys, kid, err, keyFix)
		}
		old = append(old, Key{ID: kid, Secret: s})
	}
	return New(active, old...)
}

// decodeKey accepts standard or URL-safe base64, padded or not. Its errors
// describe the value's shape only, never its content.
func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes", len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("not valid base64")
}

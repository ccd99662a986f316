package awardforce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// VerifySignature reports whether signatureHeader (the webhook's Signature header) is
// the HMAC-SHA256 of the raw body under signingKey, as lowercase hex. Comparison is
// constant-time. Hex case and surrounding space are forgiven; an empty key or header
// never verifies, since a MAC under an empty key proves nothing.
// Award Force documents no timestamp, so replay protection is the caller's business.
func VerifySignature(body []byte, signatureHeader, signingKey string) bool {
	sig := strings.TrimSpace(signatureHeader)
	if signingKey == "" || sig == "" {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, []byte(signingKey))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

package sfsim

import "strings"

const (
	base62      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	suffixChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
)

// makeID builds an 18-character id: key prefix, a fixed pod and reserved
// char, a base-62 sequence number, and the case-safe checksum suffix.
func makeID(prefix string, seq uint64) string {
	var digits [9]byte
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = base62[seq%62]
		seq /= 62
	}
	id15 := prefix + "5g" + "0" + string(digits[:])
	return id15 + idSuffix(id15)
}

// idSuffix computes the three characters that make a 15-character id
// case-insensitively unique: one bit per uppercase letter, per 5-char chunk.
func idSuffix(id15 string) string {
	var b strings.Builder
	for chunk := 0; chunk < 3; chunk++ {
		v := 0
		for i := 0; i < 5; i++ {
			c := id15[chunk*5+i]
			if c >= 'A' && c <= 'Z' {
				v |= 1 << i
			}
		}
		b.WriteByte(suffixChars[v])
	}
	return b.String()
}

// normalizeID accepts a 15- or 18-character id and returns the 18-character
// form; an 18-character id must carry the right suffix.
func normalizeID(s string) (string, bool) {
	if len(s) != 15 && len(s) != 18 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return "", false
		}
	}
	full := s[:15] + idSuffix(s[:15])
	if len(s) == 18 && !strings.EqualFold(s[15:], full[15:]) {
		return "", false
	}
	return full, true
}

package salesforce

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Quote returns s as a SOQL string literal, quotes included, so that no
// value can change the shape of the query it is spliced into.
//
// It escapes \ ' " and newline, carriage return, tab, backspace and form feed
// with the escapes SOQL defines, and every other control character as
// \uXXXX. It never emits \_ or \%, which are only legal inside LIKE: with =
// and IN, _ and % are ordinary characters.
//
// Invalid UTF-8 cannot be expressed in a SOQL literal (queries are UTF-8 and
// \u escapes denote code points), so each invalid byte becomes U+FFFD. That is
// what encoding/json does when such a value is sent to Salesforce, so the
// literal still matches the value as it would have been stored.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || r == 0x7f:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				// utf8.RuneError with size 1 is an invalid byte; writing the
				// rune emits U+FFFD.
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// ValidName reports whether s can be an sObject or field API name: ASCII
// letters, digits and single underscores, starting with a letter, not ending
// in an underscore, with an optional custom suffix (__c, __r, __x, __e,
// __mdt, __b, __kav, __share, __history, __feed) and an optional namespace
// prefix (ns__Name__c). Such names cannot be escaped in SOQL, so anything
// else must never reach a query or a URL path.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 80 {
		return false
	}
	parts := strings.Split(s, "__")
	switch len(parts) {
	case 1:
	case 2:
		if !isSuffix(parts[1]) {
			return false // a namespace alone needs a suffix too: ns__Name__c
		}
	case 3:
		if !plainName(parts[1]) || !isSuffix(parts[2]) {
			return false
		}
	default:
		return false
	}
	return plainName(parts[0])
}

func plainName(s string) bool {
	if s == "" || !isLetter(s[0]) || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
		if c == '_' && i+1 < len(s) && s[i+1] == '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isSuffix(s string) bool {
	switch s {
	case "c", "r", "x", "e", "mdt", "b", "kav", "share", "history", "feed":
		return true
	}
	return false
}

// DateTime writes t as a SOQL date-time literal (UTC, to the second,
// unquoted), e.g. 2026-12-01T04:05:06Z. Sub-second parts are dropped: a
// bound compared with >= loses nothing, one compared with <= should be
// rounded up by the caller.
func DateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

package awardforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The API documents its types loosely (nullable strings, translated values as locale
// objects, numbers that may arrive quoted), so the wire types below accept every
// reasonable spelling and the exported types stay plain.

// preferredLocale is picked from translated values when present.
const preferredLocale = "en_GB"

// flexString accepts a string, number, boolean or null, a list of those (joined with
// ", ", as multi-value fields are), or a translated value {"en_GB": "…"}.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*f = ""
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case '[':
		var list []flexString
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		parts := make([]string, 0, len(list))
		for _, s := range list {
			if s != "" {
				parts = append(parts, string(s))
			}
		}
		*f = flexString(strings.Join(parts, ", "))
	case '{':
		var m map[string]flexString
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		*f = flexString(pickLocale(m))
	default: // number or boolean: keep the literal
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = flexString(b)
	}
	return nil
}

// pickLocale chooses en_GB, else any English, else the first non-empty by locale name.
func pickLocale(m map[string]flexString) string {
	if v := m[preferredLocale]; v != "" {
		return string(v)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "en") && m[k] != "" {
			return string(m[k])
		}
	}
	for _, k := range keys {
		if m[k] != "" {
			return string(m[k])
		}
	}
	return ""
}

// flexInt accepts a number, a numeric string, or null (0).
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	str := strings.TrimSpace(string(s))
	if str == "" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return fmt.Errorf("awardforce: %q is not a number", str)
	}
	*f = flexInt(n)
	return nil
}

// flexTime accepts ISO 8601 (with or without zone or fraction; zone-less means UTC),
// a "YYYY-MM-DD hh:mm:ss" database form, a date, Unix seconds, or null/"" (zero).
type flexTime time.Time

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

func (f *flexTime) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	str := strings.TrimSpace(string(s))
	if str == "" {
		*f = flexTime{}
		return nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, str); err == nil {
			*f = flexTime(t.UTC())
			return nil
		}
	}
	if secs, err := strconv.ParseInt(str, 10, 64); err == nil {
		*f = flexTime(time.Unix(secs, 0).UTC())
		return nil
	}
	return fmt.Errorf("awardforce: %q is not a recognised timestamp", str)
}

// isJSONArray reports whether raw holds a JSON array.
func isJSONArray(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '['
}

// isJSONObject reports whether raw holds a JSON object.
func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

package sfsim

import (
	"regexp"
	"strings"
	"time"
)

// dateLayout is how the platform renders a date-time: UTC, milliseconds,
// and a +0000 zone. Stored date-times are in this form, so they sort and
// compare as strings in time order.
const dateLayout = "2006-01-02T15:04:05.000+0000"

func now() string { return time.Now().UTC().Format(dateLayout) }

// formatTime renders t as the platform does.
func formatTime(t time.Time) string { return t.UTC().Format(dateLayout) }

// dateTimeRE matches an ISO 8601 date-time as SOQL and the replication
// resources accept it: seconds required, 1 to 3 fractional digits allowed,
// and a zone, Z or an offset with or without a colon. The zone's sign may be
// a space: an unescaped + in a URL's query decodes to one.
var dateTimeRE = regexp.MustCompile(`^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,3})?(Z|[+ -][0-9]{2}:?[0-9]{2})`)

// dateTimeStart reports whether s starts like a date-time (four digits and
// a dash) rather than a number.
func dateTimeStart(s string) bool {
	if len(s) < 5 || s[4] != '-' {
		return false
	}
	for i := range 4 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// matchDateTime parses the date-time at the start of s and returns it and
// the number of bytes it spans; space says whether a space may stand for
// the + of the zone.
func matchDateTime(s string, space bool) (time.Time, int, bool) {
	m := dateTimeRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, 0, false
	}
	frac, zone := m[2], m[3]
	if frac == "" {
		frac = "."
	}
	frac += strings.Repeat("0", 4-len(frac))
	switch {
	case zone == "Z":
		zone = "+00:00"
	case zone[0] == ' ' && !space:
		return time.Time{}, 0, false
	default:
		if zone[0] == ' ' {
			zone = "+" + zone[1:]
		}
		if len(zone) == 5 {
			zone = zone[:3] + ":" + zone[3:]
		}
	}
	t, err := time.Parse("2006-01-02T15:04:05.000-07:00", m[1]+frac+zone)
	if err != nil {
		return time.Time{}, 0, false
	}
	return t, len(m[0]), true
}

// lexDateTime reads a SOQL date-time literal at the start of s.
func lexDateTime(s string) (time.Time, int, bool) { return matchDateTime(s, false) }

// parseDateTime parses a whole request parameter such as start or end:
// 2026-12-01T04:05:06Z, 2026-12-01T04:05:06+00:00 or
// 2026-12-01T04:05:06.000+0000.
func parseDateTime(s string) (time.Time, bool) {
	t, n, ok := matchDateTime(s, true)
	if !ok || n != len(s) {
		return time.Time{}, false
	}
	return t, true
}

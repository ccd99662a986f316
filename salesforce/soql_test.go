package salesforce_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/afsync/afsync/salesforce"
	"github.com/afsync/afsync/sandbox/sfsim"
)

// hostile values an Award Force user could put in a name or email.
var hostile = []string{
	"",
	"plain@example.com",
	"O'Brien",
	"''",
	`\`,
	`\\`,
	`\'`,
	`a\' OR Id != null OR Email = \'`,
	"' OR Id != null",
	"x' OR Id != null OR Email = 'x",
	"') OR (Id != null",
	`"double"`,
	"line\nbreak",
	"cr\rlf\r\n",
	"tab\there",
	"\b\f",
	"\x00",
	"nul\x00in the middle",
	"\x1b[31m\x7f",
	"%",
	"_",
	`\%\_`,
	"100%_sure",
	"Zoë Åström 山田 😀",
	"\u2028\u2029",
	"\uFEFF",
	"\\u0027",
	"SELECT Id FROM Contact",
	"-- comment",
	"; DELETE",
}

// comparisonLiteral parses the query a caller would build and returns the
// single comparison's literal, failing if the value changed the query's shape.
func comparisonLiteral(t testing.TB, v string) string {
	t.Helper()
	soql := "SELECT Id FROM Contact WHERE Email = " + salesforce.Quote(v)
	q, err := sfsim.ParseSOQL(soql)
	if err != nil {
		t.Fatalf("Quote(%q) = %s does not parse: %v", v, salesforce.Quote(v), err)
	}
	cmps := q.Comparisons()
	if len(cmps) != 1 || q.Where != cmps[0] || q.Object != "Contact" || len(q.Fields) != 1 || q.Limit != -1 || q.OrderBy != nil {
		t.Fatalf("Quote(%q) changed the query's shape: %+v", v, q)
	}
	c := cmps[0]
	if c.Field != "Email" || c.Op != "=" || len(c.Values) != 1 || c.Values[0].Kind != sfsim.LiteralString {
		t.Fatalf("Quote(%q) changed the comparison: %+v", v, c)
	}
	return c.Values[0].Value
}

func TestQuoteHostile(t *testing.T) {
	for _, v := range hostile {
		t.Run(v, func(t *testing.T) {
			assert.Equal(t, v, comparisonLiteral(t, v))
		})
	}
}

func TestQuoteExact(t *testing.T) {
	for in, want := range map[string]string{
		"O'Brien":  `'O\'Brien'`,
		`a\b`:      `'a\\b'`,
		`"`:        `'\"'`,
		"a\nb\r\t": `'a\nb\r\t'`,
		"\b\f":     `'\b\f'`,
		"\x00\x1f": `'\u0000\u001f'`,
		"%_":       `'%_'`,
		"é😀":       `'é😀'`,
	} {
		assert.Equal(t, want, salesforce.Quote(in), "Quote(%q)", in)
	}
}

// Invalid UTF-8 cannot be written in SOQL; Quote maps each bad byte to
// U+FFFD, as encoding/json does when the value is stored.
func TestQuoteInvalidUTF8(t *testing.T) {
	v := "a\xffb\xc3"
	got := comparisonLiteral(t, v)
	assert.Equal(t, "a\uFFFDb\uFFFD", got)
	assert.True(t, utf8.ValidString(salesforce.Quote(v)))
}

func FuzzQuote(f *testing.F) {
	for _, v := range hostile {
		f.Add(v)
	}
	f.Add("\xff\xfe")
	f.Add("\xed\xa0\x80") // an encoded surrogate: invalid UTF-8
	f.Fuzz(func(t *testing.T, v string) {
		want := v
		if !utf8.ValidString(v) {
			want = replaceInvalidBytes(v)
		}
		if got := comparisonLiteral(t, v); got != want {
			t.Fatalf("Quote(%q) round-trips to %q, want %q", v, got, want)
		}
	})
}

// replaceInvalidBytes is the documented lossy mapping: every byte that is
// not part of a valid UTF-8 sequence becomes U+FFFD.
func replaceInvalidBytes(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // ranging yields RuneError for each invalid byte
	}
	return b.String()
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"Contact":                true,
		"LastName":               true,
		"AwardForce_Slug__c":     true,
		"Award_Participant__c":   true,
		"Account__r":             true,
		"ns__Field__c":           true,
		"Event__e":               true,
		"Setting__mdt":           true,
		"Id":                     true,
		"":                       false,
		"1Contact":               false,
		"_Contact":               false,
		"Contact_":               false,
		"Bad__Name":              false,
		"Double__Under__Score__": false,
		"Two__Underscores__c__c": false,
		"a__b__c__c":             false,
		"Contact Name":           false,
		"Contact/../x":           false,
		"Email' OR Id != null":   false,
		"Émail":                  false,
		"Field__z":               false,
		"Field___c":              false,
		strings.Repeat("a", 81):  false,
	} {
		assert.Equal(t, want, salesforce.ValidName(name), "ValidName(%q)", name)
	}
	require.True(t, salesforce.ValidName(strings.Repeat("a", 80)))
}

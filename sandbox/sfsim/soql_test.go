package sfsim

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseSOQLValid(t *testing.T) {
	tests := []struct {
		name    string
		q       string
		fields  []string
		object  string
		values  []string // string literal values of every comparison, in order
		ops     []string
		limit   int
		orderBy *OrderBy
	}{
		{name: "minimal", q: "SELECT Id FROM Contact", fields: []string{"Id"}, object: "Contact", limit: -1},
		{name: "keywords any case, whitespace", q: "select Id,\n\tEmail from Contact where Email = 'a@b.co' limit 5",
			fields: []string{"Id", "Email"}, object: "Contact", values: []string{"a@b.co"}, ops: []string{"="}, limit: 5},
		{name: "in list", q: "SELECT Id FROM Lead WHERE Email IN ('a', 'b','c')", fields: []string{"Id"}, object: "Lead",
			values: []string{"a", "b", "c"}, ops: []string{"IN"}, limit: -1},
		{name: "not in and !=", q: "SELECT Id FROM Lead WHERE Email NOT IN ('a') AND Title != 'x'", fields: []string{"Id"}, object: "Lead",
			values: []string{"a", "x"}, ops: []string{"NOT IN", "!="}, limit: -1},
		{name: "parenthesised mix", q: "SELECT Id FROM Contact WHERE (Email = 'a' OR Email = 'b') AND LastName != null",
			fields: []string{"Id"}, object: "Contact", values: []string{"a", "b"}, ops: []string{"=", "=", "!="}, limit: -1},
		{name: "order by desc nulls last", q: "SELECT Id FROM Contact ORDER BY LastName DESC NULLS LAST LIMIT 0",
			fields: []string{"Id"}, object: "Contact", limit: 0, orderBy: &OrderBy{Field: "LastName", Desc: true, NullsLast: true}},
		{name: "order by default asc", q: "SELECT Id FROM Contact ORDER BY LastName",
			fields: []string{"Id"}, object: "Contact", limit: -1, orderBy: &OrderBy{Field: "LastName"}},
		{name: "escapes", q: `SELECT Id FROM Contact WHERE Email = 'a\'b\\c\"d\ne\rf\tg\bh\fi'`, fields: []string{"Id"}, object: "Contact",
			values: []string{"a'b\\c\"d\ne\rf\tg\bh\fi"}, ops: []string{"="}, limit: -1},
		{name: "unicode escapes", q: `SELECT Id FROM Contact WHERE Email = '\u00e9\u0000\uD83D\uDE00'`, fields: []string{"Id"}, object: "Contact",
			values: []string{"é\x00😀"}, ops: []string{"="}, limit: -1},
		{name: "like wildcards are plain", q: `SELECT Id FROM Contact WHERE Email = '%_'`, fields: []string{"Id"}, object: "Contact",
			values: []string{"%_"}, ops: []string{"="}, limit: -1},
		{name: "raw unicode", q: "SELECT Id FROM Contact WHERE LastName = 'Zoë 山田'", fields: []string{"Id"}, object: "Contact",
			values: []string{"Zoë 山田"}, ops: []string{"="}, limit: -1},
		{name: "custom names", q: "SELECT Id, AwardForce_Slug__c FROM Award_Participant__c WHERE AwardForce_Slug__c = 'k'",
			fields: []string{"Id", "AwardForce_Slug__c"}, object: "Award_Participant__c", values: []string{"k"}, ops: []string{"="}, limit: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseSOQL(tt.q)
			if err != nil {
				t.Fatalf("ParseSOQL: %v", err)
			}
			if !reflect.DeepEqual(q.Fields, tt.fields) || q.Object != tt.object || q.Limit != tt.limit {
				t.Fatalf("got fields %v object %q limit %d", q.Fields, q.Object, q.Limit)
			}
			var values, ops []string
			for _, c := range q.Comparisons() {
				ops = append(ops, c.Op)
				for _, v := range c.Values {
					if v.Kind == LiteralString {
						values = append(values, v.Value)
					}
				}
			}
			if !reflect.DeepEqual(values, tt.values) || !reflect.DeepEqual(ops, tt.ops) {
				t.Fatalf("got values %q ops %q, want %q %q", values, ops, tt.values, tt.ops)
			}
			if !reflect.DeepEqual(q.OrderBy, tt.orderBy) {
				t.Fatalf("order by %+v, want %+v", q.OrderBy, tt.orderBy)
			}
		})
	}
}

func TestParseSOQLStructure(t *testing.T) {
	q, err := ParseSOQL("SELECT Id FROM Contact WHERE Email = 'a' OR (LastName = 'b' AND Title = null)")
	if err != nil {
		t.Fatal(err)
	}
	or, ok := q.Where.(*Logical)
	if !ok || or.Op != "OR" || len(or.Terms) != 2 {
		t.Fatalf("top is %#v", q.Where)
	}
	and, ok := or.Terms[1].(*Logical)
	if !ok || and.Op != "AND" || len(and.Terms) != 2 {
		t.Fatalf("second term is %#v", or.Terms[1])
	}
	if c := and.Terms[1].(*Comparison); c.Values[0].Kind != LiteralNull {
		t.Fatalf("null literal parsed as %#v", c.Values[0])
	}
}

func TestParseSOQLMalformed(t *testing.T) {
	for name, q := range map[string]string{
		"empty":                   "",
		"no fields":               "SELECT FROM Contact",
		"no object":               "SELECT Id FROM",
		"trailing comma":          "SELECT Id, FROM Contact",
		"trailing garbage":        "SELECT Id FROM Contact WHERE Email = 'a' b",
		"adjacent literals":       "SELECT Id FROM Contact WHERE Email = 'a''b'",
		"injection tail":          "SELECT Id FROM Contact WHERE Email = 'a' OR Id != null'",
		"unterminated":            "SELECT Id FROM Contact WHERE Email = 'abc",
		"escaped final quote":     `SELECT Id FROM Contact WHERE Email = 'abc\'`,
		"backslash at end":        `SELECT Id FROM Contact WHERE Email = 'abc\`,
		"unknown escape":          `SELECT Id FROM Contact WHERE Email = '\x41'`,
		"like-only escape _":      `SELECT Id FROM Contact WHERE Email = '\_'`,
		"like-only escape %":      `SELECT Id FROM Contact WHERE Email = '\%'`,
		"escaped newline char":    "SELECT Id FROM Contact WHERE Email = '\\\n'",
		"short unicode":           `SELECT Id FROM Contact WHERE Email = '\u12'`,
		"non-hex unicode":         `SELECT Id FROM Contact WHERE Email = '\u12G4'`,
		"lone high surrogate":     `SELECT Id FROM Contact WHERE Email = '\uD800'`,
		"lone low surrogate":      `SELECT Id FROM Contact WHERE Email = '\uDC00'`,
		"double quoted string":    `SELECT Id FROM Contact WHERE Email = "a"`,
		"mixed AND OR":            "SELECT Id FROM Contact WHERE Email = 'a' AND LastName = 'b' OR Title = 'c'",
		"empty IN":                "SELECT Id FROM Contact WHERE Email IN ()",
		"unclosed paren":          "SELECT Id FROM Contact WHERE (Email = 'a'",
		"missing operator":        "SELECT Id FROM Contact WHERE Email 'a'",
		"unsupported operator":    "SELECT Id FROM Contact WHERE Email LIKE 'a%'",
		"<> is not an operator":   "SELECT Id FROM Contact WHERE Email <> 'a'",
		"=< is not an operator":   "SELECT Id FROM Contact WHERE Email =< 'a'",
		"range over a list":       "SELECT Id FROM Contact WHERE SystemModstamp > (2026-12-01T04:05:06Z)",
		"date-time without zone":  "SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-01T04:05:06",
		"date-time without secs":  "SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-01T04:05Z",
		"date only":               "SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-01",
		"invalid month":           "SELECT Id FROM Contact WHERE SystemModstamp > 2026-13-01T04:05:06Z",
		"invalid day":             "SELECT Id FROM Contact WHERE SystemModstamp > 2026-02-30T04:05:06Z",
		"four fraction digits":    "SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-01T04:05:06.0000Z",
		"space for plus":          "SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-01T04:05:06 00:00",
		"date-time tail":          "SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-01T04:05:06Zx",
		"lower-case zone":         "SELECT Id FROM Contact WHERE SystemModstamp > 2026-12-01T04:05:06z",
		"negative limit":          "SELECT Id FROM Contact LIMIT -1",
		"limit not a number":      "SELECT Id FROM Contact LIMIT 'x'",
		"order by nothing":        "SELECT Id FROM Contact ORDER BY",
		"semicolon":               "SELECT Id FROM Contact;",
		"comment":                 "SELECT Id FROM Contact -- x",
		"invalid utf-8":           "SELECT Id FROM Contact WHERE Email = '\xff'",
		"keyword as field":        "SELECT FROM, Id FROM Contact",
		"where without condition": "SELECT Id FROM Contact WHERE",
	} {
		t.Run(name, func(t *testing.T) {
			q, err := ParseSOQL(q)
			var qe *QueryError
			if !errors.As(err, &qe) || qe.ErrorCode != "MALFORMED_QUERY" {
				t.Fatalf("got %+v, %v; want MALFORMED_QUERY", q, err)
			}
		})
	}
}

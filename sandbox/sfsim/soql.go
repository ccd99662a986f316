package sfsim

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Query is a parsed statement of the SOQL subset the simulator understands:
//
//	SELECT f[, f…] FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST]] [LIMIT n]
//
// where cond combines comparisons (=, !=, <, <=, >, >=, IN, NOT IN) with
// AND / OR and parentheses. As in real SOQL, AND and OR cannot be mixed at
// one level without parentheses. Literals are quoted strings, numbers, true,
// false, null and unquoted ISO 8601 date-times such as 2026-12-01T04:05:06Z,
// 2026-12-01T04:05:06+00:00 or 2026-12-01T04:05:06.000+0000.
type Query struct {
	// Fields are the selected field names as written in the query.
	Fields []string
	// Object is the sObject name as written.
	Object string
	// Where is nil when the query has no WHERE clause.
	Where Condition
	// OrderBy is nil when the query has no ORDER BY clause.
	OrderBy *OrderBy
	// Limit is the LIMIT value, or -1 when there is none.
	Limit int
}

// OrderBy is a single-field ORDER BY clause.
type OrderBy struct {
	Field string
	Desc  bool
	// NullsLast follows SOQL's default: nulls first ascending, last descending.
	NullsLast bool
}

// Condition is a WHERE expression: a *Comparison or a *Logical.
type Condition interface{ isCondition() }

// Comparison is `Field Op Value` or `Field [NOT] IN (values…)`.
type Comparison struct {
	Field string
	// Op is one of "=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN".
	Op string
	// Values holds one literal for the binary operators, one or more for
	// IN / NOT IN.
	Values []Literal
}

// Logical joins two or more conditions with the same operator.
type Logical struct {
	// Op is "AND" or "OR".
	Op    string
	Terms []Condition
}

func (*Comparison) isCondition() {}
func (*Logical) isCondition()    {}

// LiteralKind says what kind of literal a Literal is.
type LiteralKind int

// Literal kinds.
const (
	LiteralString LiteralKind = iota
	LiteralNull
	LiteralNumber
	LiteralBool
	// LiteralDateTime is an unquoted ISO 8601 date-time with seconds and a
	// zone (Z, ±hh:mm or ±hhmm), optionally with 1 to 3 fractional digits.
	LiteralDateTime
)

// Literal is a value in a WHERE clause. For strings Value is the decoded
// text (escapes resolved); for numbers and booleans it is the source text;
// for date-times it is the instant in UTC in the platform's form,
// 2006-01-02T15:04:05.000+0000.
type Literal struct {
	Kind  LiteralKind
	Value string
}

// Comparisons returns every comparison in the WHERE clause, left to right.
func (q *Query) Comparisons() []*Comparison {
	var out []*Comparison
	var walk func(Condition)
	walk = func(c Condition) {
		switch c := c.(type) {
		case *Comparison:
			out = append(out, c)
		case *Logical:
			for _, t := range c.Terms {
				walk(t)
			}
		}
	}
	if q.Where != nil {
		walk(q.Where)
	}
	return out
}

// QueryError is a SOQL parse failure; ErrorCode is always MALFORMED_QUERY.
type QueryError struct {
	ErrorCode string
	Message   string
}

// Error implements error.
func (e *QueryError) Error() string { return e.ErrorCode + ": " + e.Message }

func malformed(format string, args ...any) *QueryError {
	return &QueryError{ErrorCode: "MALFORMED_QUERY", Message: fmt.Sprintf(format, args...)}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDateTime // text is the instant in the platform's UTC form
	tPunct    // ( ) , = != < <= > >=
)

type token struct {
	kind tokKind
	text string // identifier/punct/number source; decoded string for tString
	pos  int
}

// lex splits q into tokens. String literals are decoded strictly: the only
// escapes are \\ \' \" \n \r \t \b \f and \uXXXX (\_ and \% are LIKE-only, and
// this subset has no LIKE), so any other backslash is MALFORMED_QUERY.
func lex(q string) ([]token, error) {
	if !utf8.ValidString(q) {
		return nil, malformed("query is not valid UTF-8")
	}
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(q) && isIdentPart(q[j]) {
				j++
			}
			toks = append(toks, token{tIdent, q[i:j], i})
			i = j
		case c >= '0' && c <= '9' && dateTimeStart(q[i:]):
			t, n, ok := lexDateTime(q[i:])
			if !ok {
				return nil, malformed("invalid date-time literal at position %d", i)
			}
			if i+n < len(q) && isIdentPart(q[i+n]) {
				return nil, malformed("unexpected token at position %d", i+n)
			}
			toks = append(toks, token{tDateTime, t.UTC().Format(dateLayout), i})
			i += n
		case c >= '0' && c <= '9' || (c == '-' || c == '+') && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && (q[j] >= '0' && q[j] <= '9' || q[j] == '.') {
				j++
			}
			if _, err := strconv.ParseFloat(q[i:j], 64); err != nil {
				return nil, malformed("invalid number %q at position %d", q[i:j], i)
			}
			if j < len(q) && isIdentPart(q[j]) {
				return nil, malformed("unexpected token at position %d", j)
			}
			toks = append(toks, token{tNumber, q[i:j], i})
			i = j
		case c == '\'':
			s, n, err := lexString(q[i:], i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tString, s, i})
			i += n
		case c == '(' || c == ')' || c == ',' || c == '=':
			toks = append(toks, token{tPunct, string(c), i})
			i++
		case c == '!' && i+1 < len(q) && q[i+1] == '=':
			toks = append(toks, token{tPunct, "!=", i})
			i += 2
		case c == '<' || c == '>':
			op := string(c)
			if i+1 < len(q) && q[i+1] == '=' {
				op += "="
			}
			toks = append(toks, token{tPunct, op, i})
			i += len(op)
		default:
			r, _ := utf8.DecodeRuneInString(q[i:])
			return nil, malformed("unexpected character %q at position %d", r, i)
		}
	}
	return append(toks, token{tEOF, "", len(q)}), nil
}

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || c >= '0' && c <= '9' || c == '_' }

// lexString decodes the literal at the start of s (which begins with a
// quote) and returns the text and the number of bytes consumed.
func lexString(s string, at int) (string, int, error) {
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch c {
		case '\'':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, malformed("unterminated string literal at position %d", at)
			}
			e := s[i+1]
			i += 2
			switch e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				r, n, err := decodeUnicodeEscape(s[i-2:], at+i-2)
				if err != nil {
					return "", 0, err
				}
				b.WriteRune(r)
				i += n - 2
			default:
				return "", 0, malformed("invalid escape sequence '\\%c' at position %d", e, at+i-2)
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, malformed("unterminated string literal at position %d", at)
}

// decodeUnicodeEscape reads \uXXXX (and a following low surrogate, since the
// platform's strings are UTF-16) at the start of s.
func decodeUnicodeEscape(s string, at int) (rune, int, error) {
	hex4 := func(s string) (rune, bool) {
		if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(s[2:6], 16, 16)
		if err != nil || strings.ContainsAny(s[2:6], "+-_") {
			return 0, false
		}
		return rune(v), true
	}
	r, ok := hex4(s)
	if !ok {
		return 0, 0, malformed("invalid unicode escape at position %d", at)
	}
	if !utf16.IsSurrogate(r) {
		return r, 6, nil
	}
	if r <= 0xdbff {
		if lo, ok := hex4(s[6:]); ok && lo >= 0xdc00 && lo <= 0xdfff {
			return utf16.DecodeRune(r, lo), 12, nil
		}
	}
	return 0, 0, malformed("unpaired surrogate in unicode escape at position %d", at)
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) acceptKeyword(kw string) bool {
	if p.isKeyword(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKeyword(kw string) error {
	if !p.acceptKeyword(kw) {
		return p.unexpected("expecting " + kw)
	}
	return nil
}

func (p *parser) acceptPunct(s string) bool {
	t := p.peek()
	if t.kind == tPunct && t.text == s {
		p.i++
		return true
	}
	return false
}

func (p *parser) unexpected(what string) error {
	t := p.peek()
	if t.kind == tEOF {
		return malformed("unexpected end of query, %s", what)
	}
	return malformed("unexpected token: '%s' at position %d, %s", t.text, t.pos, what)
}

var reserved = map[string]bool{
	"SELECT": true, "FROM": true, "WHERE": true, "AND": true, "OR": true, "NOT": true,
	"IN": true, "ORDER": true, "BY": true, "LIMIT": true, "NULL": true, "TRUE": true,
	"FALSE": true, "ASC": true, "DESC": true, "NULLS": true, "LIKE": true,
}

func (p *parser) name(what string) (string, error) {
	t := p.peek()
	if t.kind != tIdent || reserved[strings.ToUpper(t.text)] {
		return "", p.unexpected("expecting " + what)
	}
	p.i++
	return t.text, nil
}

// ParseSOQL parses q strictly. Every syntax error, including a bad escape,
// an unterminated literal, invalid UTF-8 or trailing text, is a *QueryError
// with ErrorCode MALFORMED_QUERY. Names are not checked against any schema.
func ParseSOQL(q string) (*Query, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	out := &Query{Limit: -1}
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	for {
		f, err := p.name("a field name")
		if err != nil {
			return nil, err
		}
		out.Fields = append(out.Fields, f)
		if !p.acceptPunct(",") {
			break
		}
	}
	if err := p.expectKeyword("FROM"); err != nil {
		return nil, err
	}
	if out.Object, err = p.name("an object name"); err != nil {
		return nil, err
	}
	if p.acceptKeyword("WHERE") {
		if out.Where, err = p.condition(); err != nil {
			return nil, err
		}
	}
	if p.acceptKeyword("ORDER") {
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		ob := &OrderBy{}
		if ob.Field, err = p.name("a field name"); err != nil {
			return nil, err
		}
		if p.acceptKeyword("DESC") {
			ob.Desc = true
		} else {
			p.acceptKeyword("ASC")
		}
		ob.NullsLast = ob.Desc
		if p.acceptKeyword("NULLS") {
			switch {
			case p.acceptKeyword("FIRST"):
				ob.NullsLast = false
			case p.acceptKeyword("LAST"):
				ob.NullsLast = true
			default:
				return nil, p.unexpected("expecting FIRST or LAST")
			}
		}
		out.OrderBy = ob
	}
	if p.acceptKeyword("LIMIT") {
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			p.i--
			return nil, p.unexpected("expecting a non-negative integer")
		}
		out.Limit = n
	}
	if p.peek().kind != tEOF {
		return nil, p.unexpected("expecting end of query")
	}
	return out, nil
}

// condition parses term (op term)* where op is the same AND or OR throughout:
// SOQL refuses `a AND b OR c` without parentheses.
func (p *parser) condition() (Condition, error) {
	first, err := p.term()
	if err != nil {
		return nil, err
	}
	var op string
	terms := []Condition{first}
	for {
		var this string
		switch {
		case p.isKeyword("AND"):
			this = "AND"
		case p.isKeyword("OR"):
			this = "OR"
		default:
			if op == "" {
				return first, nil
			}
			return &Logical{Op: op, Terms: terms}, nil
		}
		if op != "" && op != this {
			return nil, p.unexpected("mixing AND and OR requires parentheses")
		}
		op = this
		p.i++
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
}

func (p *parser) term() (Condition, error) {
	if p.acceptPunct("(") {
		c, err := p.condition()
		if err != nil {
			return nil, err
		}
		if !p.acceptPunct(")") {
			return nil, p.unexpected("expecting ')'")
		}
		return c, nil
	}
	field, err := p.name("a field name")
	if err != nil {
		return nil, err
	}
	cmp := &Comparison{Field: field}
	switch {
	case p.acceptPunct("="):
		cmp.Op = "="
	case p.acceptPunct("!="):
		cmp.Op = "!="
	case p.acceptPunct("<"):
		cmp.Op = "<"
	case p.acceptPunct("<="):
		cmp.Op = "<="
	case p.acceptPunct(">"):
		cmp.Op = ">"
	case p.acceptPunct(">="):
		cmp.Op = ">="
	case p.acceptKeyword("IN"):
		cmp.Op = "IN"
	case p.isKeyword("NOT"):
		p.i++
		if err := p.expectKeyword("IN"); err != nil {
			return nil, err
		}
		cmp.Op = "NOT IN"
	default:
		return nil, p.unexpected("expecting a comparison operator (=, !=, <, <=, >, >=, IN, NOT IN)")
	}
	if cmp.Op != "IN" && cmp.Op != "NOT IN" {
		lit, err := p.literal()
		if err != nil {
			return nil, err
		}
		cmp.Values = []Literal{lit}
		return cmp, nil
	}
	if !p.acceptPunct("(") {
		return nil, p.unexpected("expecting '('")
	}
	for {
		lit, err := p.literal()
		if err != nil {
			return nil, err
		}
		cmp.Values = append(cmp.Values, lit)
		if p.acceptPunct(")") {
			return cmp, nil
		}
		if !p.acceptPunct(",") {
			return nil, p.unexpected("expecting ',' or ')'")
		}
	}
}

func (p *parser) literal() (Literal, error) {
	t := p.peek()
	switch {
	case t.kind == tString:
		p.i++
		return Literal{Kind: LiteralString, Value: t.text}, nil
	case t.kind == tNumber:
		p.i++
		return Literal{Kind: LiteralNumber, Value: t.text}, nil
	case t.kind == tDateTime:
		p.i++
		return Literal{Kind: LiteralDateTime, Value: t.text}, nil
	case p.acceptKeyword("NULL"):
		return Literal{Kind: LiteralNull}, nil
	case p.acceptKeyword("TRUE"):
		return Literal{Kind: LiteralBool, Value: "true"}, nil
	case p.acceptKeyword("FALSE"):
		return Literal{Kind: LiteralBool, Value: "false"}, nil
	}
	return Literal{}, p.unexpected("expecting a literal value")
}

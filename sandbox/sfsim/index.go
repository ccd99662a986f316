package sfsim

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// fold returns the key under which text values are indexed and matched
// case-insensitively. Two strings have the same key exactly when
// strings.EqualFold, which the query evaluator uses for text comparison,
// reports them equal: EqualFold compares rune by rune under Unicode simple
// case folding, so each rune is replaced by one fixed member of its folding
// orbit (the lower-case letter for orbits with an ASCII member, else the
// smallest rune). Invalid UTF-8 bytes become U+FFFD, as EqualFold decodes
// them. Plain lower-case ASCII, the common case for e-mail addresses, is
// returned as is.
func fold(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			var b strings.Builder
			b.Grow(len(s))
			b.WriteString(s[:i])
			for _, r := range s[i:] {
				b.WriteRune(foldRune(r))
			}
			return b.String()
		}
	}
	return s
}

// foldRune returns the representative of r's simple case-folding orbit.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	if least < utf8.RuneSelf {
		return foldRune(least) // e.g. the Kelvin sign folds with k and K
	}
	return least
}

// indexedField reports whether f is one the platform keeps an index for and
// the simulator answers = and IN from: Id, Name, e-mail fields, external ids,
// unique and idLookup fields.
func indexedField(f *fieldDef) bool {
	return f.Name == "Id" || f.Name == "Name" || f.Type == "email" || f.ExternalID || f.Unique || f.IDLookup
}

// indexKey is the key of value v of field f, normalised as the query
// evaluator compares it: text case-insensitively (fold), ids in their
// 18-character form. ok is false for a value that no id literal can equal.
func indexKey(f *fieldDef, v string) (key string, ok bool) {
	if f.isText() {
		return fold(v), true
	}
	return normalizeID(v)
}

// probe fetches from the indexes a superset of the records a WHERE clause
// can match, in no particular order and possibly with repeats. A leaf looks
// up keys of one field; an AND takes its most selective probed term; an OR
// the union of its terms.
type probe struct {
	field *fieldDef
	keys  []string
	and   []*probe
	or    []*probe
}

// planProbe returns the probe for c, or nil when the indexes cannot narrow it
// down and the records must be scanned. Only = and IN against string
// literals on indexed fields qualify: null is not indexed, and the negative
// operators match nearly everything. It needs only the schema, not the data.
func planProbe(o *objectDef, c Condition) *probe {
	switch c := c.(type) {
	case *Comparison:
		if c.Op != "=" && c.Op != "IN" {
			return nil
		}
		f := o.field(c.Field)
		if f == nil || !indexedField(f) {
			return nil
		}
		p := &probe{field: f}
		for _, lit := range c.Values {
			if lit.Kind != LiteralString {
				return nil
			}
			k, ok := indexKey(f, lit.Value)
			if !ok {
				return nil
			}
			if !slices.Contains(p.keys, k) {
				p.keys = append(p.keys, k)
			}
		}
		return p
	case *Logical:
		var subs []*probe
		for _, term := range c.Terms {
			sub := planProbe(o, term)
			if sub == nil {
				if c.Op == "OR" {
					return nil
				}
				continue
			}
			subs = append(subs, sub)
		}
		switch {
		case len(subs) == 0:
			return nil
		case len(subs) == 1:
			return subs[0]
		case c.Op == "AND":
			return &probe{and: subs}
		}
		return &probe{or: subs}
	}
	return nil
}

// ids returns the candidate ids from t; the caller holds s.mu. The result is
// a fresh slice.
func (p *probe) ids(t *table) []string {
	switch {
	case p.field != nil:
		var out []string
		for _, k := range p.keys {
			out = append(out, t.lookupKey(p.field, k)...)
		}
		return out
	case p.and != nil:
		var best []string
		for i, sub := range p.and {
			if ids := sub.ids(t); i == 0 || len(ids) < len(best) {
				best = ids
			}
			if len(best) == 0 {
				break
			}
		}
		return best
	}
	var out []string
	for _, sub := range p.or {
		out = append(out, sub.ids(t)...)
	}
	return out
}

// inScanOrder sorts ids into the order a scan of t visits them and drops
// repeats; the caller holds s.mu.
func (t *table) inScanOrder(ids []string) []string {
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(t.pos[a], t.pos[b]) })
	return slices.Compact(ids)
}

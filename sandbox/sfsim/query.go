package sfsim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// cursor holds the rest of a query result for nextRecordsUrl.
type cursor struct {
	version string
	records []ordered
}

// compiled is a Query resolved against the schema.
type compiled struct {
	obj    *objectDef
	fields []*fieldDef
	where  func(row) bool
}

func invalidField(name string, o *objectDef) reply {
	return errReply(http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", name, o.Name))
}

func (s *Server) query(version, soql string) reply {
	q, err := ParseSOQL(soql)
	if err != nil {
		return errReply(http.StatusBadRequest, "MALFORMED_QUERY", err.(*QueryError).Message)
	}
	o := s.objects[strings.ToLower(q.Object)]
	if o == nil {
		return errReply(http.StatusBadRequest, "INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", q.Object))
	}
	c := compiled{obj: o}
	for _, name := range q.Fields {
		f := o.field(name)
		if f == nil {
			return invalidField(name, o)
		}
		c.fields = append(c.fields, f)
	}
	if q.Where != nil {
		pred, rep := compile(o, q.Where)
		if rep != nil {
			return *rep
		}
		c.where = pred
	}
	t := s.tables[o.Name]
	var rows []row
	for _, id := range t.order {
		r := t.rows[id]
		if r != nil && (c.where == nil || c.where(r)) {
			rows = append(rows, r)
		}
	}
	if ob := q.OrderBy; ob != nil {
		f := o.field(ob.Field)
		if f == nil {
			return invalidField(ob.Field, o)
		}
		slices.SortStableFunc(rows, func(a, b row) int {
			av, aok := str(a[f.Name])
			bv, bok := str(b[f.Name])
			switch {
			case !aok && !bok:
				return 0
			case !aok || !bok:
				// nulls sort first unless NULLS LAST, independent of direction
				if !aok == ob.NullsLast {
					return 1
				}
				return -1
			}
			n := strings.Compare(strings.ToLower(av), strings.ToLower(bv))
			if ob.Desc {
				n = -n
			}
			return n
		})
	}
	if q.Limit >= 0 && len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	out := make([]ordered, len(rows))
	for i, r := range rows {
		out[i] = render(version, o, r, c.fields)
	}
	return s.page(version, out, len(out), 0, "")
}

// page answers with records[from:from+pageSize] and, when more remain, a
// locator for the rest.
func (s *Server) page(version string, all []ordered, total, from int, locator string) reply {
	end := min(len(all), from+s.opts.QueryPageSize)
	res := ordered{{"totalSize", total}, {"done", end == len(all)}}
	if end < len(all) {
		if locator == "" {
			locator = s.newLocator()
			s.cursors[locator] = &cursor{version: version, records: all}
		}
		res = append(res, kv{"nextRecordsUrl", fmt.Sprintf("/services/data/%s/query/%s-%d", version, locator, end)})
	} else if locator != "" {
		delete(s.cursors, locator)
	}
	res = append(res, kv{"records", nonNilRecords(all[from:end])})
	return reply{status: http.StatusOK, body: res}
}

func nonNilRecords(r []ordered) []ordered {
	if r == nil {
		return []ordered{}
	}
	return r
}

func (s *Server) queryMore(seg string) reply {
	i := strings.LastIndexByte(seg, '-')
	if i < 0 {
		return errReply(http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
	}
	loc := seg[:i]
	from, err := strconv.Atoi(seg[i+1:])
	c := s.cursors[loc]
	if err != nil || c == nil || from < 0 || from > len(c.records) {
		return errReply(http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
	}
	return s.page(c.version, c.records, len(c.records), from, loc)
}

// compile resolves a condition against o. Text comparisons are
// case-insensitive; id comparisons accept 15- and 18-character ids; a
// non-string literal against a text field is refused as the platform does.
func compile(o *objectDef, c Condition) (func(row) bool, *reply) {
	switch c := c.(type) {
	case *Logical:
		preds := make([]func(row) bool, len(c.Terms))
		for i, t := range c.Terms {
			p, rep := compile(o, t)
			if rep != nil {
				return nil, rep
			}
			preds[i] = p
		}
		if c.Op == "AND" {
			return func(r row) bool {
				for _, p := range preds {
					if !p(r) {
						return false
					}
				}
				return true
			}, nil
		}
		return func(r row) bool {
			for _, p := range preds {
				if p(r) {
					return true
				}
			}
			return false
		}, nil
	case *Comparison:
		f := o.field(c.Field)
		if f == nil {
			rep := invalidField(c.Field, o)
			return nil, &rep
		}
		type want struct {
			null bool
			v    string
		}
		wants := make([]want, len(c.Values))
		for i, lit := range c.Values {
			switch lit.Kind {
			case LiteralNull:
				wants[i] = want{null: true}
			case LiteralString:
				v := lit.Value
				if !f.isText() {
					id, ok := normalizeID(v)
					if !ok {
						rep := errReply(http.StatusBadRequest, "INVALID_QUERY_FILTER_OPERATOR", fmt.Sprintf("invalid ID field: %s", v))
						return nil, &rep
					}
					v = id
				}
				wants[i] = want{v: v}
			default:
				rep := errReply(http.StatusBadRequest, "INVALID_QUERY_FILTER_OPERATOR", fmt.Sprintf("value of filter criterion for field '%s' must be of type %s and should be enclosed in quotes", f.Name, f.Type))
				return nil, &rep
			}
		}
		match := func(r row) bool {
			v, ok := str(r[f.Name])
			for _, w := range wants {
				switch {
				case w.null:
					if !ok {
						return true
					}
				case !ok:
				case f.isText():
					if strings.EqualFold(v, w.v) {
						return true
					}
				default:
					if full, _ := normalizeID(v); full == w.v {
						return true
					}
				}
			}
			return false
		}
		if c.Op == "!=" || c.Op == "NOT IN" {
			return func(r row) bool { return !match(r) }, nil
		}
		return match, nil
	}
	rep := errReply(http.StatusBadRequest, "MALFORMED_QUERY", "unsupported condition")
	return nil, &rep
}

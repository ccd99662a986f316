package sfsim

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cursor holds a query result for nextRecordsUrl.
type cursor struct {
	records recordList
	// resource is "query" or "queryAll", the resource whose
	// nextRecordsUrl pages on.
	resource string
}

// preparedQuery is a query resolved against the schema. The schema never
// changes, so it is built before the server's lock is taken; err is the
// answer for a query that cannot run.
type preparedQuery struct {
	version string
	// all includes the deleted records of the recycle bin (queryAll).
	all        bool
	obj        *objectDef
	fields     []*fieldDef
	where      func(row) bool
	probe      *probe // nil: scan every record
	orderBy    *OrderBy
	orderField *fieldDef
	limit      int
	err        *reply
}

func invalidField(name string, o *objectDef) reply {
	return errReply(http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", name, o.Name))
}

// prepareQuery parses and resolves soql, for queryAll when all; it needs no
// lock.
func (s *Server) prepareQuery(version, soql string, all bool) *preparedQuery {
	fail := func(rep reply) *preparedQuery { return &preparedQuery{err: &rep} }
	q, err := ParseSOQL(soql)
	if err != nil {
		return fail(errReply(http.StatusBadRequest, "MALFORMED_QUERY", err.(*QueryError).Message))
	}
	o := s.objects[strings.ToLower(q.Object)]
	if o == nil {
		return fail(errReply(http.StatusBadRequest, "INVALID_TYPE", fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", q.Object)))
	}
	p := &preparedQuery{version: version, all: all, obj: o, orderBy: q.OrderBy, limit: q.Limit}
	for _, name := range q.Fields {
		f := o.field(name)
		if f == nil {
			return fail(invalidField(name, o))
		}
		p.fields = append(p.fields, f)
	}
	if q.Where != nil {
		pred, rep := compile(o, q.Where)
		if rep != nil {
			return fail(*rep)
		}
		p.where = pred
		p.probe = planProbe(o, q.Where)
	}
	if ob := q.OrderBy; ob != nil {
		if p.orderField = o.field(ob.Field); p.orderField == nil {
			return fail(invalidField(ob.Field, o))
		}
	}
	return p
}

// query runs a prepared query; the caller holds s.mu. Records come in scan
// (creation) order, then ORDER BY, then LIMIT, whether the indexes or a scan
// found them. Only live records match, and for queryAll the recycle bin's
// too: the indexes hold live records only, so the bin is always searched
// in full.
func (s *Server) query(p *preparedQuery) reply {
	if p.err != nil {
		return *p.err
	}
	t := s.tables[p.obj.Name]
	get := func(id string) row { return t.rows[id] }
	resource := "query"
	if p.all {
		t.purge(time.Now())
		get = func(id string) row {
			if r := t.rows[id]; r != nil {
				return r
			}
			return t.bin[id]
		}
		resource = "queryAll"
	}
	var rows []row
	if p.probe != nil && !s.forceScan.Load() {
		ids := p.probe.ids(t)
		if p.all {
			ids = append(ids, t.binOrder...)
		}
		for _, id := range t.inScanOrder(ids) {
			if r := get(id); r != nil && p.where(r) {
				rows = append(rows, r)
			}
		}
	} else {
		for _, id := range t.order {
			r := get(id)
			if r != nil && (p.where == nil || p.where(r)) {
				rows = append(rows, r)
			}
		}
	}
	if ob, f := p.orderBy, p.orderField; ob != nil {
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
	if p.limit >= 0 && len(rows) > p.limit {
		rows = rows[:p.limit]
	}
	return s.page(&cursor{records: recordList{version: p.version, obj: p.obj, fields: p.fields, rows: rows}, resource: resource}, 0, "")
}

// recordList is query result records, rendered only when marshalled: the
// reply is marshalled after the server's lock is released, which is safe
// because stored rows are never mutated.
type recordList struct {
	version string
	obj     *objectDef
	fields  []*fieldDef
	rows    []row
}

func (l recordList) slice(from, to int) recordList {
	l.rows = l.rows[from:to]
	return l
}

// MarshalJSON implements json.Marshaler.
func (l recordList) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, r := range l.rows {
		if i > 0 {
			b.WriteByte(',')
		}
		j, err := render(l.version, l.obj, r, l.fields).MarshalJSON()
		if err != nil {
			return nil, err
		}
		b.Write(j)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// page answers with c's records[from:from+pageSize] and, when more remain, a
// locator for the rest; the caller holds s.mu.
func (s *Server) page(c *cursor, from int, locator string) reply {
	all := c.records
	n := len(all.rows)
	end := min(n, from+s.opts.QueryPageSize)
	res := ordered{{"totalSize", n}, {"done", end == n}}
	if end < n {
		if locator == "" {
			locator = s.newLocator()
			s.cursors[locator] = c
		}
		res = append(res, kv{"nextRecordsUrl", fmt.Sprintf("/services/data/%s/%s/%s-%d", all.version, c.resource, locator, end)})
	} else if locator != "" {
		delete(s.cursors, locator)
	}
	res = append(res, kv{"records", all.slice(from, end)})
	return reply{status: http.StatusOK, body: res}
}

// queryMore answers GET /query/{locator} and GET /queryAll/{locator}; a
// locator pages on the records of the query that made it, whichever
// resource the client follows it through.
func (s *Server) queryMore(seg string) reply {
	i := strings.LastIndexByte(seg, '-')
	if i < 0 {
		return errReply(http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
	}
	loc := seg[:i]
	from, err := strconv.Atoi(seg[i+1:])
	c := s.cursors[loc]
	if err != nil || c == nil || from < 0 || from > len(c.records.rows) {
		return errReply(http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
	}
	return s.page(c, from, loc)
}

// compile resolves a condition against o. Text comparisons are
// case-insensitive; id comparisons accept 15- and 18-character ids;
// date-times compare as instants and booleans as true or false; a literal
// of the wrong kind for its field (a quoted date-time, a number against a
// text field) is refused as the platform does.
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
		return compileComparison(f, c)
	}
	rep := errReply(http.StatusBadRequest, "MALFORMED_QUERY", "unsupported condition")
	return nil, &rep
}

// filterType is a field's type as the platform's filter errors name it.
func filterType(f *fieldDef) string {
	if f.Type == "datetime" {
		return "dateTime"
	}
	return f.Type
}

// want is a comparison's literal, normalised as the stored values it meets:
// ids in 18-character form, date-times in the platform's UTC form, booleans
// as "true" or "false".
type want struct {
	null bool
	v    string
}

// wantFor checks that lit suits f and normalises it.
func wantFor(f *fieldDef, lit Literal) (want, *reply) {
	bad := func(format string, args ...any) (want, *reply) {
		rep := errReply(http.StatusBadRequest, "INVALID_QUERY_FILTER_OPERATOR", fmt.Sprintf(format, args...))
		return want{}, &rep
	}
	if lit.Kind == LiteralNull {
		return want{null: true}, nil
	}
	switch f.Type {
	case "datetime", "boolean":
		kind := LiteralDateTime
		if f.Type == "boolean" {
			kind = LiteralBool
		}
		switch lit.Kind {
		case kind:
			return want{v: lit.Value}, nil
		case LiteralString:
			return bad("value of filter criterion for field '%s' must be of type %s and should not be enclosed in quotes", f.Name, filterType(f))
		}
		return bad("value of filter criterion for field '%s' must be of type %s", f.Name, filterType(f))
	}
	if lit.Kind != LiteralString {
		return bad("value of filter criterion for field '%s' must be of type %s and should be enclosed in quotes", f.Name, f.Type)
	}
	if f.isText() {
		return want{v: lit.Value}, nil
	}
	id, ok := normalizeID(lit.Value)
	if !ok {
		return bad("invalid ID field: %s", lit.Value)
	}
	return want{v: id}, nil
}

// compileComparison resolves c, whose field is f.
func compileComparison(f *fieldDef, c *Comparison) (func(row) bool, *reply) {
	wants := make([]want, len(c.Values))
	for i, lit := range c.Values {
		w, rep := wantFor(f, lit)
		if rep != nil {
			return nil, rep
		}
		wants[i] = w
	}
	switch c.Op {
	case "<", "<=", ">", ">=":
		if wants[0].null {
			rep := errReply(http.StatusBadRequest, "INVALID_QUERY_FILTER_OPERATOR", fmt.Sprintf("%s %s null: null can only be compared with =, !=, IN and NOT IN", f.Name, c.Op))
			return nil, &rep
		}
		return compileRange(f, c.Op, wants[0])
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
			case f.Type == "id" || f.Type == "reference":
				if full, _ := normalizeID(v); full == w.v {
					return true
				}
			default:
				if v == w.v {
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

// compileRange resolves f op w for an ordering operator. The simulator
// orders date-times only, whose stored form sorts as strings in time
// order; a null value matches nothing.
func compileRange(f *fieldDef, op string, w want) (func(row) bool, *reply) {
	switch f.Type {
	case "datetime":
	case "boolean":
		rep := errReply(http.StatusBadRequest, "INVALID_QUERY_FILTER_OPERATOR", fmt.Sprintf("invalid operator on boolean field: %s %s", f.Name, op))
		return nil, &rep
	default:
		rep := errReply(http.StatusBadRequest, "MALFORMED_QUERY", fmt.Sprintf("%s %s: the simulator supports <, <=, > and >= on dateTime fields only, and %s is of type %s", f.Name, op, f.Name, f.Type))
		return nil, &rep
	}
	return func(r row) bool {
		v, ok := str(r[f.Name])
		if !ok {
			return false
		}
		n := strings.Compare(v, w.v)
		switch op {
		case "<":
			return n < 0
		case "<=":
			return n <= 0
		case ">":
			return n > 0
		}
		return n >= 0
	}, nil
}

package sfsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// row is a stored record: canonical field name → string value. Absent means
// null. Rows are never mutated once stored, so undo can keep old versions.
type row map[string]any

type table struct {
	obj   *objectDef
	rows  map[string]row
	order []string // insertion order, may hold deleted ids: the scan order
	// pos is each id's place in order, to put index hits in scan order.
	pos map[string]int
	// index maps each indexed field but Id (see indexedField) to key
	// (indexKey) → ids. Id is served by rows, which is keyed by the
	// 18-character id.
	index   map[string]map[string][]string
	indexed []*fieldDef
	// deleted holds every id ever deleted: reading or writing one answers
	// ENTITY_IS_DELETED.
	deleted map[string]bool
	// bin holds the deleted records still in the recycle bin, IsDeleted
	// true, as queryAll and the deleted resource see them; binOrder lists
	// them in deletion order. Neither is indexed: only live records match
	// upserts and unique fields.
	bin      map[string]row
	binOrder []string
}

func newTable(o *objectDef) *table {
	t := &table{obj: o, rows: map[string]row{}, pos: map[string]int{}, index: map[string]map[string][]string{}, deleted: map[string]bool{}, bin: map[string]row{}}
	for _, f := range o.Fields {
		if f.Name != "Id" && indexedField(f) {
			t.index[f.Name] = map[string][]string{}
			t.indexed = append(t.indexed, f)
		}
	}
	return t
}

func str(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	default:
		return fmt.Sprint(v), true
	}
}

// put stores r under id, maintaining the indexes, and returns the previous
// version (nil when new).
func (t *table) put(id string, r row) row {
	prev := t.rows[id]
	t.unindex(id, prev)
	if _, seen := t.pos[id]; !seen {
		t.pos[id] = len(t.order)
		t.order = append(t.order, id)
	}
	t.rows[id] = r
	for _, f := range t.indexed {
		if v, ok := str(r[f.Name]); ok {
			if k, ok := indexKey(f, v); ok {
				idx := t.index[f.Name]
				idx[k] = append(idx[k], id)
			}
		}
	}
	return prev
}

func (t *table) unindex(id string, r row) {
	if r == nil {
		return
	}
	for _, f := range t.indexed {
		if v, ok := str(r[f.Name]); ok {
			k, ok := indexKey(f, v)
			if !ok {
				continue
			}
			idx := t.index[f.Name]
			ids := slices.DeleteFunc(slices.Clone(idx[k]), func(x string) bool { return x == id })
			if len(ids) == 0 {
				delete(idx, k)
			} else {
				idx[k] = ids
			}
		}
	}
}

func (t *table) remove(id string) row {
	prev := t.rows[id]
	t.unindex(id, prev)
	delete(t.rows, id)
	return prev
}

// binRetention is how long the recycle bin keeps a deleted record.
const binRetention = 15 * 24 * time.Hour

// discard deletes the live record id as user by at ts, moving it to the
// recycle bin: IsDeleted true, LastModifiedDate, SystemModstamp and
// LastModifiedById those of the deletion, MasterRecordId master when a
// merge deleted it.
func (t *table) discard(id, by, master, ts string) {
	r := maps.Clone(t.remove(id))
	r["IsDeleted"] = true
	touch(r, by, ts)
	if master != "" {
		r["MasterRecordId"] = master
	}
	t.deleted[id] = true
	t.bin[id] = r
	t.binOrder = append(t.binOrder, id)
}

// purge empties the recycle bin of the records deleted more than
// binRetention before now. Their ids still answer ENTITY_IS_DELETED.
func (t *table) purge(now time.Time) {
	cutoff := formatTime(now.Add(-binRetention))
	n := 0
	for ; n < len(t.binOrder); n++ {
		id := t.binOrder[n]
		if at, _ := str(t.bin[id]["SystemModstamp"]); at >= cutoff {
			break
		}
		delete(t.bin, id)
	}
	t.binOrder = t.binOrder[n:]
}

// isDeleted reports whether raw, an id in either form, names a deleted
// record.
func (t *table) isDeleted(raw string) bool {
	id, ok := normalizeID(raw)
	return ok && t.deleted[id]
}

var errDeleted = apiError{Code: "ENTITY_IS_DELETED", Message: "entity is deleted"}

func entityIsDeleted() reply { return errsReply(http.StatusNotFound, []apiError{errDeleted}) }

// lookup returns the ids whose field equals v as a query's = compares them:
// case-insensitively for text, in either id form for Id.
func (t *table) lookup(field, v string) []string {
	f := t.obj.field(field)
	if f == nil {
		return nil
	}
	k, ok := indexKey(f, v)
	if !ok {
		return nil
	}
	return slices.Clone(t.lookupKey(f, k))
}

// lookupKey returns the ids stored under index key k of f, without copying.
func (t *table) lookupKey(f *fieldDef, k string) []string {
	if f.Name == "Id" {
		if t.rows[k] != nil {
			return []string{k}
		}
		return nil
	}
	return t.index[f.Name][k]
}

// matchExternal returns the ids that value v of external id f names to an
// upsert or a GET by external id: compared case-sensitively unless f is
// Unique and case-insensitive (fieldDef.matchFolds), ids in either form.
func (t *table) matchExternal(f *fieldDef, v string) []string {
	ids := t.lookup(f.Name, v)
	if !f.isText() || f.matchFolds() {
		return ids
	}
	return t.exactly(f, v, ids)
}

// holders returns the ids whose value of the Unique field f duplicates v:
// compared case-insensitively unless f is CaseSensitive.
func (t *table) holders(f *fieldDef, v string) []string {
	ids := t.lookup(f.Name, v)
	if !f.isText() || f.uniqueFolds() {
		return ids
	}
	return t.exactly(f, v, ids)
}

// exactly keeps the ids, a fresh slice, whose f is v byte for byte.
func (t *table) exactly(f *fieldDef, v string, ids []string) []string {
	return slices.DeleteFunc(ids, func(id string) bool {
		got, _ := str(t.rows[id][f.Name])
		return got != v
	})
}

// undoLog lets a collection request with allOrNone roll back.
type undoLog []undoEntry

type undoEntry struct {
	t    *table
	id   string
	prev row // nil: the record was created
}

func (u undoLog) rollback() {
	for i := len(u) - 1; i >= 0; i-- {
		e := u[i]
		if e.prev == nil {
			e.t.remove(e.id)
			if n := len(e.t.order); n > 0 && e.t.order[n-1] == e.id {
				e.t.order = e.t.order[:n-1]
				delete(e.t.pos, e.id)
			}
		} else {
			e.t.put(e.id, e.prev)
		}
	}
}

// Insert seeds a record, bypassing the API, validation and the usage
// counter, and returns its new Id. System fields and defaults are filled in,
// whatever fields says of them: the record is created by OtherUserID, as if
// someone had entered it in Salesforce. A field name that the object lacks
// panics, since that is a test bug.
func (s *Server) Insert(object string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[strings.ToLower(object)]
	if o == nil {
		panic("sfsim: Insert: unknown object " + object)
	}
	r := row{}
	for k, v := range fields {
		f := o.field(k)
		if f == nil {
			panic(fmt.Sprintf("sfsim: Insert: no field %s on %s", k, o.Name))
		}
		if f.Name == "Id" || v == nil {
			continue
		}
		r[f.Name] = v
	}
	delete(r, "MasterRecordId")
	return s.insertRow(o, r, OtherUserID)
}

// insertRow assigns an id, defaults and system fields, the record created
// by user by; the caller holds s.mu.
func (s *Server) insertRow(o *objectDef, r row, by string) string {
	s.seq++
	id := makeID(o.KeyPrefix, s.seq)
	r["Id"] = id
	for _, f := range o.Fields {
		if r[f.Name] != nil {
			continue
		}
		switch {
		case f.Default != "":
			r[f.Name] = f.Default
		case f.DefaultID:
			r[f.Name] = id
		}
	}
	ts := now()
	r["CreatedDate"], r["LastModifiedDate"], r["SystemModstamp"] = ts, ts, ts
	r["CreatedById"], r["LastModifiedById"] = by, by
	r["IsDeleted"] = false
	s.tables[o.Name].put(id, r)
	return id
}

// Records returns copies of every live record of object, in creation
// order; deleted records, in the recycle bin or not, are left out.
func (s *Server) Records(object string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[strings.ToLower(object)]
	if o == nil {
		return nil
	}
	t := s.tables[o.Name]
	var out []map[string]any
	for _, id := range t.order {
		if r := t.rows[id]; r != nil {
			out = append(out, maps.Clone(map[string]any(r)))
		}
	}
	return out
}

// Record returns a copy of one live record; id may be 15 or 18
// characters. A deleted record is not found.
func (s *Server) Record(object, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[strings.ToLower(object)]
	full, ok := normalizeID(id)
	if o == nil || !ok {
		return nil, false
	}
	r := s.tables[o.Name].rows[full]
	if r == nil {
		return nil, false
	}
	return maps.Clone(map[string]any(r)), true
}

// decodeObject parses a JSON object body, keeping numbers exact.
func decodeObject(body []byte) (map[string]any, *apiError) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, &apiError{Code: "JSON_PARSER_ERROR", Message: "The request body is not a valid JSON object"}
	}
	if d.More() {
		return nil, &apiError{Code: "JSON_PARSER_ERROR", Message: "Unexpected data after the JSON object"}
	}
	return m, nil
}

// save is what validation needs of the API request a write belongs to.
type save struct {
	// version is the request's API version, for the record URLs of
	// errors.
	version string
	// dup is the request's Sforce-Duplicate-Rule-Header.
	dup dupHeader
	// undo logs the records a collection request has written so far, for
	// allOrNone and for duplicate rules, which compare a record with the
	// org as it was before the request, not with the request's other
	// records; nil for single-record requests.
	undo *undoLog
}

// logged reports whether the request has already written record id.
func (sv *save) logged(id string) bool {
	if sv.undo == nil {
		return false
	}
	for _, e := range *sv.undo {
		if e.id == id {
			return true
		}
	}
	return false
}

// log records that the request wrote id in t, prev being its version
// before (nil for a create).
func (sv *save) log(t *table, id string, prev row) {
	if sv.undo != nil {
		*sv.undo = append(*sv.undo, undoEntry{t: t, id: id, prev: prev})
	}
}

// validate turns input fields into the changes to store. On create it checks
// required fields; on create and update it applies the duplicate rules
// (sv's header) and then the unique fields, the order the platform checks
// them in; existing's Id (update) is excluded from both. skip names a
// field the caller has already set.
func (s *Server) validate(o *objectDef, in map[string]any, create bool, existing row, skip string, sv *save) (row, []apiError) {
	out := row{}
	var locked []string
	for k, v := range in {
		if k == "attributes" {
			continue
		}
		f := o.field(k)
		if f == nil {
			return nil, []apiError{{Code: "INVALID_FIELD", Message: fmt.Sprintf("No such column '%s' on sobject of type %s", k, o.Name), Fields: []string{k}}}
		}
		if f.Name == "Id" {
			if create {
				return nil, []apiError{{Code: "INVALID_FIELD", Message: "cannot specify Id in an insert call", Fields: []string{"Id"}}}
			}
			continue // the caller matched the record by Id already
		}
		if f.Name == skip {
			continue
		}
		if create && !f.Createable || !create && !f.Updateable {
			locked = append(locked, f.Name)
			continue
		}
		cv, err := coerce(f, v)
		if err != nil {
			return nil, []apiError{*err}
		}
		out[f.Name] = cv
	}
	if len(locked) > 0 {
		slices.Sort(locked)
		return nil, []apiError{{Code: "INVALID_FIELD_FOR_INSERT_UPDATE", Message: fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", strings.Join(locked, ", ")), Fields: locked}}
	}
	var errs []apiError
	var missing []string
	for _, f := range o.Fields {
		v, set := out[f.Name]
		switch {
		case create && f.required() && v == nil:
			missing = append(missing, f.Name)
		case !create && set && v == nil && !f.Nillable && f.Updateable:
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, apiError{Code: "REQUIRED_FIELD_MISSING", Message: fmt.Sprintf("Required fields are missing: [%s]", strings.Join(missing, ", ")), Fields: missing})
	}
	for _, f := range o.Fields {
		if v, ok := str(out[f.Name]); ok {
			if e := checkValue(f, v); e != nil {
				errs = append(errs, *e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if errs := s.duplicateRules(o, out, create, existing, sv); errs != nil {
		return nil, errs
	}
	t := s.tables[o.Name]
	selfID, _ := str(existing["Id"])
	for _, f := range o.Fields {
		v, ok := str(out[f.Name])
		if !ok || !f.Unique {
			continue
		}
		for _, id := range t.holders(f, v) {
			if id != selfID {
				return nil, []apiError{{Code: "DUPLICATE_VALUE", Message: fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", f.Name, id)}}
			}
		}
	}
	return out, nil
}

// insert validates and creates one record; the caller holds s.mu.
func (s *Server) insert(o *objectDef, in map[string]any, sv *save) (string, []apiError) {
	r, errs := s.validate(o, in, true, nil, "", sv)
	if errs != nil {
		return "", errs
	}
	for k, v := range r {
		if v == nil {
			delete(r, k)
		}
	}
	id := s.insertRow(o, r, s.userID)
	sv.log(s.tables[o.Name], id, nil)
	return id, nil
}

// modify validates and applies an update by the integration user to an
// existing record.
func (s *Server) modify(o *objectDef, id string, in map[string]any, skip string, sv *save) []apiError {
	return s.modifyAs(o, id, in, skip, sv, s.userID)
}

// modifyAs validates and applies an update by user by to an existing
// record; the caller holds s.mu.
func (s *Server) modifyAs(o *objectDef, id string, in map[string]any, skip string, sv *save, by string) []apiError {
	t := s.tables[o.Name]
	prev := t.rows[id]
	changes, errs := s.validate(o, in, false, prev, skip, sv)
	if errs != nil {
		return errs
	}
	r := maps.Clone(prev)
	for k, v := range changes {
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
	}
	touch(r, by, now())
	t.put(id, r)
	sv.log(t, id, prev)
	return nil
}

// touch marks r as modified by user by at ts.
func touch(r row, by, ts string) {
	r["LastModifiedDate"], r["SystemModstamp"], r["LastModifiedById"] = ts, ts, by
}

// resolveID maps a path id to a stored record, with the platform's answers
// for malformed, foreign, deleted and unknown ids.
func (s *Server) resolveID(o *objectDef, raw string) (string, *reply) {
	id, ok := normalizeID(raw)
	if !ok {
		rep := errReply(http.StatusBadRequest, "MALFORMED_ID", fmt.Sprintf("%s ID: id value of incorrect type: %s", o.Label, raw))
		return "", &rep
	}
	t := s.tables[o.Name]
	if t.rows[id] == nil {
		var rep reply
		if t.deleted[id] {
			rep = entityIsDeleted()
		} else {
			rep = notFound()
		}
		return "", &rep
	}
	return id, nil
}

func recordURL(version string, o *objectDef, id string) string {
	return "/services/data/" + version + "/sobjects/" + o.Name + "/" + id
}

// ordered is a JSON object that keeps its key order, so records read like the
// platform's: attributes first, then fields in the requested order.
type ordered []kv

type kv struct {
	k string
	v any
}

// MarshalJSON implements json.Marshaler.
func (o ordered) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func render(version string, o *objectDef, r row, fields []*fieldDef) ordered {
	id, _ := str(r["Id"])
	out := ordered{{"attributes", ordered{{"type", o.Name}, {"url", recordURL(version, o, id)}}}}
	for _, f := range fields {
		out = append(out, kv{f.Name, r[f.Name]})
	}
	return out
}

func (s *Server) create(sv *save, o *objectDef, body []byte) reply {
	in, perr := decodeObject(body)
	if perr != nil {
		return errsReply(http.StatusBadRequest, []apiError{*perr})
	}
	if e := s.takeRecordFault(""); e != nil {
		return errsReply(http.StatusBadRequest, []apiError{*e})
	}
	id, errs := s.insert(o, in, sv)
	if errs != nil {
		return errsReply(http.StatusBadRequest, errs)
	}
	s.stats.Writes++
	return reply{status: http.StatusCreated, body: ordered{{"id", id}, {"success", true}, {"errors", []any{}}}}
}

func (s *Server) get(version string, o *objectDef, rawID, fieldList string) reply {
	id, rep := s.resolveID(o, rawID)
	if rep != nil {
		return *rep
	}
	fields := o.Fields
	if fieldList != "" {
		fields = nil
		for _, name := range strings.Split(fieldList, ",") {
			f := o.field(strings.TrimSpace(name))
			if f == nil {
				return errReply(http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'", name, o.Name))
			}
			fields = append(fields, f)
		}
	}
	return reply{status: http.StatusOK, body: render(version, o, s.tables[o.Name].rows[id], fields)}
}

func (s *Server) getByExternalID(version string, o *objectDef, field, value string) reply {
	f := o.field(field)
	if f == nil || !(f.ExternalID || f.Name == "Id") {
		return errReply(http.StatusNotFound, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+field)
	}
	t := s.tables[o.Name]
	ids := t.matchExternal(f, value)
	switch len(ids) {
	case 0:
		if f.Name == "Id" && t.isDeleted(value) {
			return entityIsDeleted()
		}
		return notFound()
	case 1:
		return reply{status: http.StatusOK, body: render(version, o, t.rows[ids[0]], o.Fields)}
	}
	return multipleChoices(version, o, ids)
}

func multipleChoices(version string, o *objectDef, ids []string) reply {
	urls := make([]string, len(ids))
	for i, id := range ids {
		urls[i] = recordURL(version, o, id)
	}
	return reply{status: http.StatusMultipleChoices, body: urls}
}

func (s *Server) update(sv *save, o *objectDef, rawID string, body []byte) reply {
	id, rep := s.resolveID(o, rawID)
	if rep != nil {
		return *rep
	}
	in, perr := decodeObject(body)
	if perr != nil {
		return errsReply(http.StatusBadRequest, []apiError{*perr})
	}
	if v, ok := fieldValue(o, in, "Id"); ok {
		if bodyID, _ := normalizeID(fmt.Sprint(v)); bodyID != id {
			return errReply(http.StatusBadRequest, "INVALID_ID_FIELD", "The Id field should not be specified in the sobject data.")
		}
	}
	if e := s.takeRecordFault(id); e != nil {
		return errsReply(http.StatusBadRequest, []apiError{*e})
	}
	if errs := s.modify(o, id, in, "", sv); errs != nil {
		return errsReply(http.StatusBadRequest, errs)
	}
	s.stats.Writes++
	return reply{status: http.StatusNoContent}
}

func (s *Server) delete(o *objectDef, rawID string) reply {
	id, rep := s.resolveID(o, rawID)
	if rep != nil {
		return *rep
	}
	if e := s.takeRecordFault(id); e != nil {
		return errsReply(http.StatusBadRequest, []apiError{*e})
	}
	s.tables[o.Name].discard(id, s.userID, "", now())
	s.stats.Writes++
	return reply{status: http.StatusNoContent}
}

// fieldValue finds a field in a request body by case-insensitive name.
func fieldValue(o *objectDef, in map[string]any, name string) (any, bool) {
	for k, v := range in {
		if f := o.field(k); f != nil && f.Name == name {
			return v, true
		}
	}
	return nil, false
}

func (s *Server) upsert(sv *save, o *objectDef, field, value string, body []byte, updateOnly bool) reply {
	version := sv.version
	f := o.field(field)
	if f == nil || !(f.ExternalID || f.Name == "Id") {
		return errReply(http.StatusNotFound, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+field)
	}
	if value == "" {
		return notFound()
	}
	in, perr := decodeObject(body)
	if perr != nil {
		return errsReply(http.StatusBadRequest, []apiError{*perr})
	}
	if v, ok := fieldValue(o, in, f.Name); ok && f.Name != "Id" {
		if sv, _ := str(v); f.matchKey(sv) != f.matchKey(value) {
			return errReply(http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("The external ID field %s in the body does not match the value in the URL", f.Name), f.Name)
		}
	}
	t := s.tables[o.Name]
	ids := t.matchExternal(f, value)
	switch {
	case len(ids) > 1:
		return multipleChoices(version, o, ids)
	case len(ids) == 1:
		if e := s.takeRecordFault(ids[0]); e != nil {
			return errsReply(http.StatusBadRequest, []apiError{*e})
		}
		if errs := s.modify(o, ids[0], in, f.Name, sv); errs != nil {
			return errsReply(http.StatusBadRequest, errs)
		}
		s.stats.Writes++
		return reply{status: http.StatusOK, body: ordered{{"id", ids[0]}, {"success", true}, {"errors", []any{}}, {"created", false}}}
	case f.Name == "Id" && t.isDeleted(value):
		return entityIsDeleted()
	case updateOnly || f.Name == "Id":
		return errReply(http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("Provided external ID field value %s does not match any %s record", value, o.Name))
	}
	withKey := maps.Clone(in)
	for k := range withKey {
		if g := o.field(k); g != nil && g.Name == f.Name {
			delete(withKey, k)
		}
	}
	withKey[f.Name] = value
	insert := func() reply {
		if e := s.takeRecordFault(""); e != nil {
			return errsReply(http.StatusBadRequest, []apiError{*e})
		}
		// Validation sees the store as it is now: a Unique value inserted
		// meanwhile is a DUPLICATE_VALUE, a non-unique one a second record.
		id, errs := s.insert(o, withKey, sv)
		if errs != nil {
			return errsReply(http.StatusBadRequest, errs)
		}
		s.stats.Writes++
		return reply{status: http.StatusCreated, body: ordered{{"id", id}, {"success", true}, {"errors", []any{}}, {"created", true}}}
	}
	if s.opts.WriteTime > 0 {
		return reply{then: insert}
	}
	return insert()
}

type collectionOp int

const (
	opCreate collectionOp = iota
	opUpdate
	opUpsert
)

// maxCollection is the platform's limit on records per collection request.
const maxCollection = 200

type recordResult struct {
	id      string
	errs    []apiError
	created bool
}

func (s *Server) collection(sv *save, op collectionOp, o *objectDef, extField *fieldDef, body []byte) reply {
	var req struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&req); err != nil {
		return errReply(http.StatusBadRequest, "JSON_PARSER_ERROR", "The request body is not valid: "+err.Error())
	}
	if len(req.Records) > maxCollection {
		return errReply(http.StatusBadRequest, "EXCEEDED_ID_LIMIT", fmt.Sprintf("record limit reached. cannot submit more than %d records into this call", maxCollection))
	}
	// Upserts that name the same external id twice in one request fail;
	// "the same" as matching has it.
	seen := map[string]int{}
	if op == opUpsert {
		for _, rec := range req.Records {
			if v, ok := fieldValue(o, rec, extField.Name); ok {
				if sv, ok := str(v); ok && sv != "" {
					seen[extField.matchKey(sv)]++
				}
			}
		}
	}
	apply := func(fresh []bool) reply {
		return s.applyCollection(sv, op, o, extField, req.AllOrNone, req.Records, seen, fresh)
	}
	if op == opUpsert && s.opts.WriteTime > 0 {
		// The records that match nothing now are inserted when the
		// transaction has run for WriteTime, whatever matches them then.
		var fresh []bool
		for i, rec := range req.Records {
			if ids, fail := s.upsertTarget(o, extField, rec, seen); fail == nil && len(ids) == 0 && extField.Name != "Id" {
				if fresh == nil {
					fresh = make([]bool, len(req.Records))
				}
				fresh[i] = true
			}
		}
		if fresh != nil {
			return reply{then: func() reply { return apply(fresh) }}
		}
	}
	return apply(nil)
}

// applyCollection writes the records of a collection request and renders
// the results; fresh marks the upserts to insert without matching (see
// Options.WriteTime), nil for none.
func (s *Server) applyCollection(base *save, op collectionOp, o *objectDef, extField *fieldDef, allOrNone bool, records []map[string]any, seen map[string]int, fresh []bool) reply {
	var undo undoLog
	sv := *base
	sv.undo = &undo
	results := make([]recordResult, len(records))
	for i, rec := range records {
		results[i] = s.collectionRecord(op, o, extField, rec, seen, &sv, fresh != nil && fresh[i])
	}
	failed := false
	for _, r := range results {
		if r.errs != nil {
			failed = true
		}
	}
	if failed && allOrNone {
		undo.rollback()
		for i := range results {
			if results[i].errs == nil {
				results[i] = recordResult{errs: []apiError{{Code: "ALL_OR_NONE_OPERATION_ROLLED_BACK", Message: "Record rolled back because not all records were valid and the request was using AllOrNone header"}}}
			}
		}
	} else {
		s.stats.Writes += len(undo)
	}
	out := make([]ordered, len(results))
	for i, r := range results {
		var o ordered
		if r.id != "" && (r.errs == nil || op == opUpdate) {
			o = append(o, kv{"id", r.id})
		}
		o = append(o, kv{"success", r.errs == nil})
		errs := make([]map[string]any, len(r.errs))
		for j, e := range r.errs {
			errs[j] = e.record()
		}
		o = append(o, kv{"errors", errs})
		if op == opUpsert && r.errs == nil {
			o = append(o, kv{"created", r.created})
		}
		out[i] = o
	}
	return reply{status: http.StatusOK, body: out}
}

func (s *Server) recordType(rec map[string]any) (*objectDef, *apiError) {
	attrs, _ := rec["attributes"].(map[string]any)
	typ, _ := attrs["type"].(string)
	if typ == "" {
		return nil, &apiError{Code: "INVALID_TYPE", Message: "Must specify a type in attributes for each record"}
	}
	o := s.objects[strings.ToLower(typ)]
	if o == nil {
		return nil, &apiError{Code: "INVALID_TYPE", Message: fmt.Sprintf("sObject type '%s' is not supported.", typ)}
	}
	return o, nil
}

func (s *Server) collectionRecord(op collectionOp, o *objectDef, extField *fieldDef, rec map[string]any, seen map[string]int, sv *save, fresh bool) recordResult {
	fail := func(e apiError) recordResult { return recordResult{errs: []apiError{e}} }
	switch op {
	case opCreate:
		obj, err := s.recordType(rec)
		if err != nil {
			return fail(*err)
		}
		if e := s.takeRecordFault(""); e != nil {
			return fail(*e)
		}
		id, errs := s.insert(obj, rec, sv)
		return recordResult{id: id, errs: errs}
	case opUpdate:
		obj, err := s.recordType(rec)
		if err != nil {
			return fail(*err)
		}
		v, ok := fieldValue(obj, rec, "Id")
		raw, _ := str(v)
		if !ok || raw == "" {
			return fail(apiError{Code: "MISSING_ARGUMENT", Message: "Id not specified in an update call"})
		}
		id, ok := normalizeID(raw)
		if !ok || id[:3] != obj.KeyPrefix {
			return fail(apiError{Code: "MALFORMED_ID", Message: fmt.Sprintf("%s ID: id value of incorrect type: %s", obj.Label, raw), Fields: []string{"Id"}})
		}
		t := s.tables[obj.Name]
		if t.rows[id] == nil {
			if t.deleted[id] {
				return recordResult{id: id, errs: []apiError{errDeleted}}
			}
			return recordResult{id: id, errs: []apiError{{Code: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id"}}}
		}
		if e := s.takeRecordFault(id); e != nil {
			return recordResult{id: id, errs: []apiError{*e}}
		}
		return recordResult{id: id, errs: s.modify(obj, id, rec, "", sv)}
	}
	ids, failure := s.upsertTarget(o, extField, rec, seen)
	if failure != nil {
		return *failure
	}
	if fresh {
		ids = nil // it matched nothing when the transaction began
	}
	switch {
	case len(ids) > 1:
		return fail(apiError{Code: "DUPLICATE_EXTERNAL_ID", Message: fmt.Sprintf("%s: more than one record found for external id field: %v", extField.Name, ids), Fields: []string{extField.Name}})
	case len(ids) == 1:
		if e := s.takeRecordFault(ids[0]); e != nil {
			return fail(*e)
		}
		return recordResult{id: ids[0], errs: s.modify(o, ids[0], rec, extField.Name, sv)}
	case extField.Name == "Id":
		if v, _ := fieldValue(o, rec, "Id"); s.tables[o.Name].isDeleted(fmt.Sprint(v)) {
			return fail(errDeleted)
		}
		return fail(apiError{Code: "NOT_FOUND", Message: "Provided Id does not match any record"})
	}
	if e := s.takeRecordFault(""); e != nil {
		return fail(*e)
	}
	id, errs := s.insert(o, rec, sv)
	return recordResult{id: id, errs: errs, created: errs == nil}
}

// upsertTarget checks an upsert record of a collection and returns the
// records its external id value matches now; failure is the record's result
// when it cannot be upserted at all.
func (s *Server) upsertTarget(o *objectDef, extField *fieldDef, rec map[string]any, seen map[string]int) (ids []string, failure *recordResult) {
	fail := func(e apiError) ([]string, *recordResult) {
		return nil, &recordResult{errs: []apiError{e}}
	}
	// The type may be omitted but must not contradict the path.
	if _, has := rec["attributes"]; has {
		obj, err := s.recordType(rec)
		if err != nil {
			return fail(*err)
		}
		if obj != o {
			return fail(apiError{Code: "INVALID_TYPE", Message: fmt.Sprintf("Record type %s does not match the URL's %s", obj.Name, o.Name)})
		}
	}
	v, _ := fieldValue(o, rec, extField.Name)
	value, ok := str(v)
	if !ok || value == "" {
		return fail(apiError{Code: "MISSING_ARGUMENT", Message: fmt.Sprintf("%s not specified", extField.Name), Fields: []string{extField.Name}})
	}
	if seen[extField.matchKey(value)] > 1 {
		return fail(apiError{Code: "DUPLICATE_EXTERNAL_ID", Message: fmt.Sprintf("Duplicate external id specified: %s", value), Fields: []string{extField.Name}})
	}
	return s.tables[o.Name].matchExternal(extField, value), nil
}

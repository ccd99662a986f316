package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Record is one query result row with "attributes" removed. Values are as
// decoded from JSON, numbers as json.Number.
type Record map[string]any

// ID returns the record's Id, or "".
func (r Record) ID() string { return r.String("Id") }

// String returns field as text: "" for null or absent, numbers and booleans
// formatted, nested objects as JSON.
func (r Record) String(field string) string {
	switch v := r[field].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Time returns field as a date-time, zero when absent or not one.
func (r Record) Time(field string) time.Time {
	t, err := parseDate(r.String(field))
	if err != nil {
		return time.Time{}
	}
	return t
}

// SObject is a record to write in a collection call.
type SObject struct {
	// Type is the sObject name, e.g. "Contact".
	Type string
	// ID is the record Id; required for UpdateCollection, empty for creates.
	ID string
	// Fields are field name → value; nil clears a field on update.
	Fields map[string]any
}

// MarshalJSON renders {"attributes":{"type":T},"Id":…,fields…}; Type and ID
// win over "attributes" or "Id" keys in Fields.
func (o SObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"attributes":`)
	t, _ := json.Marshal(map[string]string{"type": o.Type})
	b.Write(t)
	if o.ID != "" {
		id, _ := json.Marshal(o.ID)
		b.WriteString(`,"Id":`)
		b.Write(id)
	}
	keys := make([]string, 0, len(o.Fields))
	for k := range o.Fields {
		if k != "attributes" && !(o.ID != "" && strings.EqualFold(k, "Id")) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o.Fields[k])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// SaveResult is the outcome for one record of a collection call, in request
// order.
type SaveResult struct {
	ID      string
	Success bool
	// Created is set by upserts that inserted the record.
	Created bool
	Errors  []RecordError
}

// RecordError is a per-record failure; collections report statusCode, not
// errorCode.
type RecordError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
	// DuplicateResult is set on a DUPLICATES_DETECTED error: the duplicate
	// rule that refused the record and the records it matched.
	DuplicateResult *DuplicateResult `json:"duplicateResult,omitempty"`
}

// DuplicateResult is what a duplicate rule found: the rule, whether it
// would let the record be saved (an Alert rule, with
// DuplicateRuleHeader.AllowSave), and per matching rule the existing
// records the save duplicates.
type DuplicateResult struct {
	AllowSave               bool          `json:"allowSave"`
	DuplicateRule           string        `json:"duplicateRule"`
	DuplicateRuleEntityType string        `json:"duplicateRuleEntityType"`
	ErrorMessage            string        `json:"errorMessage"`
	MatchResults            []MatchResult `json:"matchResults"`
}

// MatchResult is one matching rule's duplicates.
type MatchResult struct {
	EntityType   string        `json:"entityType"`
	MatchEngine  string        `json:"matchEngine"`
	Rule         string        `json:"rule"`
	Size         int           `json:"size"`
	Success      bool          `json:"success"`
	MatchRecords []MatchRecord `json:"matchRecords"`
}

// MatchRecord is one existing record a matching rule found: its Id, and
// its other fields when the request asked for IncludeRecordDetails.
type MatchRecord struct {
	MatchConfidence float64 `json:"matchConfidence"`
	Record          Record  `json:"record"`
}

// RecordIDs lists the ids of the records d matched, each once, in the
// order Salesforce gave them.
func (d *DuplicateResult) RecordIDs() []string {
	if d == nil {
		return nil
	}
	var ids []string
	for _, m := range d.MatchResults {
		for _, r := range m.MatchRecords {
			if id := r.Record.ID(); id != "" && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// DuplicateIDs lists the ids of the records the duplicate rules matched,
// each once, across errs: the duplicates Salesforce named when it refused
// a record with DUPLICATES_DETECTED.
func DuplicateIDs(errs []RecordError) []string {
	var ids []string
	for _, e := range errs {
		for _, id := range e.DuplicateResult.RecordIDs() {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// DuplicateRuleHeader is the Sforce-Duplicate-Rule-Header of a create,
// update or upsert, sObject Collections included: how the org's duplicate
// rules treat the save. Orgs honour it from API v52.0. Pass it as a
// SaveOption; every field is false unless set, as on the platform.
type DuplicateRuleHeader struct {
	// AllowSave saves a record that an Alert duplicate rule would refuse;
	// a Block rule refuses it regardless.
	AllowSave bool
	// IncludeRecordDetails asks for the duplicates' fields, not only their
	// ids, in DUPLICATES_DETECTED errors.
	IncludeRecordDetails bool
	// RunAsCurrentUser applies the integration user's sharing rules when
	// the duplicate rules run, instead of the system's.
	RunAsCurrentUser bool
}

// DuplicateRuleHeaderName is the header DuplicateRuleHeader is sent as.
const DuplicateRuleHeaderName = "Sforce-Duplicate-Rule-Header"

// String renders the header's value, e.g. "allowSave=true;
// includeRecordDetails=false; runAsCurrentUser=false".
func (h DuplicateRuleHeader) String() string {
	return fmt.Sprintf("allowSave=%t; includeRecordDetails=%t; runAsCurrentUser=%t", h.AllowSave, h.IncludeRecordDetails, h.RunAsCurrentUser)
}

func (h DuplicateRuleHeader) applySave(o *saveOptions) {
	o.header.Set(DuplicateRuleHeaderName, h.String())
}

// SaveOption adjusts a create, update or upsert; DuplicateRuleHeader is
// one.
type SaveOption interface {
	applySave(*saveOptions)
}

// saveOptions are a write's options, as request headers.
type saveOptions struct {
	header http.Header
}

// saveHeader returns the request headers opts ask for, nil for none.
func saveHeader(opts []SaveOption) http.Header {
	if len(opts) == 0 {
		return nil
	}
	o := saveOptions{header: http.Header{}}
	for _, opt := range opts {
		if opt != nil {
			opt.applySave(&o)
		}
	}
	return o.header
}

// UpsertResult is what a single-record upsert did.
type UpsertResult struct {
	// ID is the record's Id; empty if the org answered 204 with no body.
	ID string
	// Created is true when the upsert inserted the record.
	Created bool
}

// ObjectDescribe is the part of an sObject describe the product uses.
type ObjectDescribe struct {
	Name   string  `json:"name"`
	Fields []Field `json:"fields"`
}

// Field is one field of a describe.
type Field struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Length     int    `json:"length"`
	Createable bool   `json:"createable"`
	Updateable bool   `json:"updateable"`
	Nillable   bool   `json:"nillable"`
	ExternalID bool   `json:"externalId"`
	Unique     bool   `json:"unique"`
	// CaseSensitive says values compare case-sensitively (uniqueness, and
	// upsert matching on a Unique external id).
	CaseSensitive bool `json:"caseSensitive"`
	// DefaultedOnCreate is true when Salesforce fills the field on create
	// (Id, OwnerId, a Lead's Status…), so a spec need not write it.
	DefaultedOnCreate bool `json:"defaultedOnCreate"`
	// PicklistValues are a picklist's values; RestrictedPicklist says the
	// org refuses others.
	PicklistValues     []PicklistValue `json:"picklistValues"`
	RestrictedPicklist bool            `json:"restrictedPicklist"`
}

// PicklistValue is one value of a picklist field.
type PicklistValue struct {
	Value  string `json:"value"`
	Label  string `json:"label"`
	Active bool   `json:"active"`
}

// Field looks a field up by name, case-insensitively, as Salesforce does.
func (d *ObjectDescribe) Field(name string) (Field, bool) {
	for _, f := range d.Fields {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return Field{}, false
}

func checkName(what, name string) error {
	if !ValidName(name) {
		return fmt.Errorf("salesforce: invalid %s name %q", what, name)
	}
	return nil
}

func decode(resp interface{ Body() []byte }, v any) error {
	d := json.NewDecoder(bytes.NewReader(resp.Body()))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("salesforce: %w: %w", ErrUndecodable, err)
	}
	return nil
}

// Query runs soql and follows nextRecordsUrl until done, returning every
// record. Build literals with Quote; bound IN lists, since URIs over 16,384
// bytes are refused.
func (c *Client) Query(ctx context.Context, soql string) ([]Record, error) {
	return c.query(ctx, "/query", soql)
}

// QueryAll is Query over deleted and merged records too (the recycle bin):
// they carry IsDeleted true and, once merged, MasterRecordId.
func (c *Client) QueryAll(ctx context.Context, soql string) ([]Record, error) {
	return c.query(ctx, "/queryAll", soql)
}

func (c *Client) query(ctx context.Context, resource, soql string) ([]Record, error) {
	var out []Record
	path, q := resource, url.Values{"q": {soql}}
	for {
		resp, err := c.call(ctx, http.MethodGet, path, q, nil, http.StatusOK)
		if err != nil {
			return nil, err
		}
		var page struct {
			Done           bool     `json:"done"`
			NextRecordsURL string   `json:"nextRecordsUrl"`
			Records        []Record `json:"records"`
		}
		if err := decode(resp, &page); err != nil {
			return nil, err
		}
		for _, r := range page.Records {
			delete(r, "attributes")
			out = append(out, r)
		}
		if page.Done || page.NextRecordsURL == "" {
			return out, nil
		}
		if !strings.HasPrefix(page.NextRecordsURL, "/services/data/") {
			return nil, fmt.Errorf("salesforce: unexpected nextRecordsUrl %q", page.NextRecordsURL)
		}
		path, q = page.NextRecordsURL, nil
	}
}

type saveResponse struct {
	ID      string        `json:"id"`
	Success bool          `json:"success"`
	Created *bool         `json:"created"`
	Errors  []RecordError `json:"errors"`
}

// Create inserts one record and returns its Id.
func (c *Client) Create(ctx context.Context, object string, fields map[string]any, opts ...SaveOption) (string, error) {
	if err := checkName("object", object); err != nil {
		return "", err
	}
	resp, err := c.callWith(ctx, saveHeader(opts), http.MethodPost, "/sobjects/"+object, nil, nonNilFields(fields), http.StatusCreated, http.StatusOK)
	if err != nil {
		return "", err
	}
	var r saveResponse
	if err := decode(resp, &r); err != nil {
		return "", err
	}
	if !r.Success || r.ID == "" {
		return "", recordFailure(resp.StatusCode(), r.Errors)
	}
	return r.ID, nil
}

func recordFailure(status int, errs []RecordError) *Error {
	e := &Error{HTTPStatus: status, ErrorCode: "UNKNOWN", Message: "the record was not saved", fromOrg: true}
	if len(errs) > 0 {
		e.ErrorCode, e.Message, e.Fields = errs[0].StatusCode, errs[0].Message, errs[0].Fields
	}
	e.DuplicateIDs = DuplicateIDs(errs)
	return e
}

func nonNilFields(f map[string]any) map[string]any {
	if f == nil {
		return map[string]any{}
	}
	return f
}

// Update changes fields of the record with id; a nil value clears a field.
func (c *Client) Update(ctx context.Context, object, id string, fields map[string]any, opts ...SaveOption) error {
	if err := checkName("object", object); err != nil {
		return err
	}
	if id == "" {
		return errors.New("salesforce: Update: empty id")
	}
	_, err := c.callWith(ctx, saveHeader(opts), http.MethodPatch, "/sobjects/"+object+"/"+url.PathEscape(id), nil, nonNilFields(fields), http.StatusNoContent, http.StatusOK)
	return err
}

// Upsert creates or updates the record whose external id field extField
// equals extValue. A value matching several records fails with ErrorCode
// MULTIPLE_CHOICES (HTTP 300) and writes nothing.
func (c *Client) Upsert(ctx context.Context, object, extField, extValue string, fields map[string]any, opts ...SaveOption) (UpsertResult, error) {
	if err := checkName("object", object); err != nil {
		return UpsertResult{}, err
	}
	if err := checkName("field", extField); err != nil {
		return UpsertResult{}, err
	}
	if extValue == "" {
		return UpsertResult{}, errors.New("salesforce: Upsert: empty external id value")
	}
	path := "/sobjects/" + object + "/" + extField + "/" + url.PathEscape(extValue)
	resp, err := c.callWith(ctx, saveHeader(opts), http.MethodPatch, path, nil, nonNilFields(fields),
		http.StatusCreated, http.StatusOK, http.StatusNoContent, http.StatusMultipleChoices)
	if err != nil {
		return UpsertResult{}, err
	}
	switch resp.StatusCode() {
	case http.StatusNoContent:
		return UpsertResult{}, nil
	case http.StatusMultipleChoices:
		var urls []string
		_ = json.Unmarshal(resp.Body(), &urls)
		return UpsertResult{}, &Error{HTTPStatus: http.StatusMultipleChoices, ErrorCode: "MULTIPLE_CHOICES", fromOrg: true,
			Message: fmt.Sprintf("%s %s matches %d records: %s", extField, extValue, len(urls), strings.Join(urls, ", ")), Fields: []string{extField}}
	}
	var r saveResponse
	if err := decode(resp, &r); err != nil {
		return UpsertResult{}, err
	}
	if !r.Success {
		return UpsertResult{}, recordFailure(resp.StatusCode(), r.Errors)
	}
	created := resp.StatusCode() == http.StatusCreated
	if r.Created != nil {
		created = *r.Created
	}
	return UpsertResult{ID: r.ID, Created: created}, nil
}

// Changed is what the changed-records resources answer for a window.
type Changed struct {
	// IDs are the records created or updated in the window (Updated), or
	// deleted (Deleted).
	IDs []string
	// Deleted holds, for Deleted, when each record was deleted.
	DeletedAt map[string]time.Time
	// LatestDateCovered is the latest moment the answer is complete for:
	// resume from it and no change is missed.
	LatestDateCovered time.Time
}

// Updated lists the records of object created or updated between start and
// end (GET /sobjects/{object}/updated/): a window at least a minute wide,
// at most 30 days back.
func (c *Client) Updated(ctx context.Context, object string, start, end time.Time) (Changed, error) {
	var out struct {
		IDs               []string `json:"ids"`
		LatestDateCovered string   `json:"latestDateCovered"`
	}
	if err := c.window(ctx, object, "updated", start, end, &out); err != nil {
		return Changed{}, err
	}
	covered, err := parseDate(out.LatestDateCovered)
	if err != nil {
		return Changed{}, err
	}
	return Changed{IDs: out.IDs, LatestDateCovered: covered}, nil
}

// Deleted lists the records of object deleted between start and end (GET
// /sobjects/{object}/deleted/).
func (c *Client) Deleted(ctx context.Context, object string, start, end time.Time) (Changed, error) {
	var out struct {
		DeletedRecords []struct {
			ID          string `json:"id"`
			DeletedDate string `json:"deletedDate"`
		} `json:"deletedRecords"`
		LatestDateCovered string `json:"latestDateCovered"`
	}
	if err := c.window(ctx, object, "deleted", start, end, &out); err != nil {
		return Changed{}, err
	}
	covered, err := parseDate(out.LatestDateCovered)
	if err != nil {
		return Changed{}, err
	}
	ch := Changed{LatestDateCovered: covered, DeletedAt: map[string]time.Time{}}
	for _, r := range out.DeletedRecords {
		ch.IDs = append(ch.IDs, r.ID)
		if at, err := parseDate(r.DeletedDate); err == nil {
			ch.DeletedAt[r.ID] = at
		}
	}
	return ch, nil
}

func (c *Client) window(ctx context.Context, object, kind string, start, end time.Time, out any) error {
	if err := checkName("object", object); err != nil {
		return err
	}
	q := url.Values{"start": {start.UTC().Format(time.RFC3339)}, "end": {end.UTC().Format(time.RFC3339)}}
	resp, err := c.call(ctx, http.MethodGet, "/sobjects/"+object+"/"+kind+"/", q, nil, http.StatusOK)
	if err != nil {
		return err
	}
	return decode(resp, out)
}

// dateLayouts are the forms Salesforce writes dates in.
var dateLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05.000Z0700", time.RFC3339Nano, time.RFC3339}

// parseDate reads a Salesforce date-time.
func parseDate(s string) (time.Time, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("salesforce: %w: date %q", ErrUndecodable, s)
}

// Describe returns the fields of object.
func (c *Client) Describe(ctx context.Context, object string) (*ObjectDescribe, error) {
	if err := checkName("object", object); err != nil {
		return nil, err
	}
	resp, err := c.call(ctx, http.MethodGet, "/sobjects/"+object+"/describe", nil, nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var d ObjectDescribe
	if err := decode(resp, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// CreateCollection inserts up to MaxCollection records in one request. With
// allOrNone, any failure rolls every record back. Per-record failures are in
// the results, in request order; the error is for the request as a whole.
func (c *Client) CreateCollection(ctx context.Context, records []SObject, allOrNone bool, opts ...SaveOption) ([]SaveResult, error) {
	return c.Collection(ctx, CollectionCall{Kind: CollectionCreate, Records: records}, allOrNone, opts...)
}

// UpdateCollection updates up to MaxCollection records by Id in one request.
func (c *Client) UpdateCollection(ctx context.Context, records []SObject, allOrNone bool, opts ...SaveOption) ([]SaveResult, error) {
	return c.Collection(ctx, CollectionCall{Kind: CollectionUpdate, Records: records}, allOrNone, opts...)
}

// UpsertCollection upserts up to MaxCollection records of object by the
// external id field extField, which each record's Fields must carry.
func (c *Client) UpsertCollection(ctx context.Context, object, extField string, records []SObject, allOrNone bool, opts ...SaveOption) ([]SaveResult, error) {
	return c.Collection(ctx, CollectionCall{Kind: CollectionUpsert, Object: object, ExtField: extField, Records: records}, allOrNone, opts...)
}

// Collection makes one sObject Collections call (see CreateCollection,
// UpdateCollection and UpsertCollection).
func (c *Client) Collection(ctx context.Context, call CollectionCall, allOrNone bool, opts ...SaveOption) ([]SaveResult, error) {
	method, path, check, err := call.route()
	if err != nil {
		return nil, err
	}
	body, err := collectionBody(call.typed(), allOrNone, check)
	if err != nil || body == nil {
		return nil, err
	}
	resp, err := c.callWith(ctx, saveHeader(opts), method, path, nil, body, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return saveResults(resp, len(call.Records))
}

// collectionBody is a collection request's body, once its records pass
// check; nil when there are none.
func collectionBody(records []SObject, allOrNone bool, check func(SObject) error) (any, error) {
	if len(records) > MaxCollection {
		return nil, fmt.Errorf("%w: %d records", ErrCollectionTooLarge, len(records))
	}
	if len(records) == 0 {
		return nil, nil
	}
	for _, r := range records {
		if err := check(r); err != nil {
			return nil, err
		}
	}
	return struct {
		AllOrNone bool      `json:"allOrNone"`
		Records   []SObject `json:"records"`
	}{allOrNone, records}, nil
}

// saveResults decodes a collection call's answer for n records.
func saveResults(resp interface{ Body() []byte }, n int) ([]SaveResult, error) {
	var raw []saveResponse
	if err := decode(resp, &raw); err != nil {
		return nil, err
	}
	if len(raw) != n {
		return nil, fmt.Errorf("salesforce: %w: %d results for %d records", ErrUndecodable, len(raw), n)
	}
	out := make([]SaveResult, len(raw))
	for i, r := range raw {
		out[i] = SaveResult{ID: r.ID, Success: r.Success, Errors: r.Errors}
		if r.Created != nil {
			out[i].Created = *r.Created
		}
	}
	return out, nil
}

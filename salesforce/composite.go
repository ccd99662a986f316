package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The Composite resource (POST /composite) runs up to 25 subrequests in
// order and counts as one API call; at most 5 of them may be sObject
// Collections or query operations. afsync sends a lane batch's collection
// calls (creates and updates) in one.

// MaxCompositeCollections is the most sObject Collections subrequests one
// composite request may carry.
const MaxCompositeCollections = 5

// CollectionCall is one sObject Collections call: CreateCollection,
// UpdateCollection or UpsertCollection's request, to be sent with others.
type CollectionCall struct {
	// Kind is how the records are saved.
	Kind CollectionKind
	// Object and ExtField name the upsert's object and external id field.
	Object, ExtField string
	Records          []SObject
}

// CollectionKind is a collection call's kind of save.
type CollectionKind int

// The kinds of collection calls.
const (
	CollectionCreate CollectionKind = iota
	CollectionUpdate
	CollectionUpsert
)

// CollectionAnswer is one collection call's outcome within a composite
// request: its records' results, or the error Salesforce answered that
// subrequest with.
type CollectionAnswer struct {
	Results []SaveResult
	Err     error
}

// Collections sends calls (at most MaxCompositeCollections, none empty)
// in one composite request, allOrNone false for each, with opts on every
// subrequest: one API call where calls made one each. The error is the
// composite request's as a whole; a subrequest's own failure is in its
// answer.
func (c *Client) Collections(ctx context.Context, calls []CollectionCall, opts ...SaveOption) ([]CollectionAnswer, error) {
	if len(calls) == 0 || len(calls) > MaxCompositeCollections {
		return nil, fmt.Errorf("salesforce: Collections: %d calls, want 1 to %d", len(calls), MaxCompositeCollections)
	}
	h := saveHeader(opts)
	headers := map[string]string{}
	for k := range h {
		headers[k] = h.Get(k)
	}
	type subrequest struct {
		Method      string            `json:"method"`
		URL         string            `json:"url"`
		ReferenceID string            `json:"referenceId"`
		Body        any               `json:"body"`
		HTTPHeaders map[string]string `json:"httpHeaders,omitempty"`
	}
	subs := make([]subrequest, len(calls))
	for i, call := range calls {
		method, path, check, err := call.route()
		if err != nil {
			return nil, err
		}
		body, err := collectionBody(call.typed(), false, check)
		if err != nil {
			return nil, err
		}
		if body == nil {
			return nil, fmt.Errorf("salesforce: Collections: call %d has no records", i)
		}
		subs[i] = subrequest{Method: method, URL: "/services/data/" + c.version + path, ReferenceID: fmt.Sprintf("call%d", i), Body: body, HTTPHeaders: headers}
	}
	body := struct {
		AllOrNone        bool         `json:"allOrNone"`
		CompositeRequest []subrequest `json:"compositeRequest"`
	}{false, subs}
	resp, err := c.call(ctx, http.MethodPost, "/composite", nil, body, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var raw struct {
		CompositeResponse []struct {
			Body           json.RawMessage `json:"body"`
			HTTPStatusCode int             `json:"httpStatusCode"`
			ReferenceID    string          `json:"referenceId"`
		} `json:"compositeResponse"`
	}
	if err := decode(resp, &raw); err != nil {
		return nil, err
	}
	if len(raw.CompositeResponse) != len(calls) {
		return nil, fmt.Errorf("salesforce: %w: %d subresponses for %d subrequests", ErrUndecodable, len(raw.CompositeResponse), len(calls))
	}
	out := make([]CollectionAnswer, len(calls))
	for _, r := range raw.CompositeResponse {
		var i int
		if _, err := fmt.Sscanf(r.ReferenceID, "call%d", &i); err != nil || i < 0 || i >= len(calls) || out[i].Results != nil || out[i].Err != nil {
			return nil, fmt.Errorf("salesforce: %w: subresponse %q", ErrUndecodable, r.ReferenceID)
		}
		if r.HTTPStatusCode != http.StatusOK {
			out[i].Err = c.apiError(r.HTTPStatusCode, r.Body)
			continue
		}
		out[i].Results, out[i].Err = saveResults(rawBody(r.Body), len(calls[i].Records))
	}
	return out, nil
}

// typed is the call's records, an upsert's given its object's type where
// they name none.
func (call CollectionCall) typed() []SObject {
	if call.Kind != CollectionUpsert {
		return call.Records
	}
	out := make([]SObject, len(call.Records))
	for i, r := range call.Records {
		if r.Type == "" {
			r.Type = call.Object
		}
		out[i] = r
	}
	return out
}

// route is the collection call's method, path and record check.
func (call CollectionCall) route() (string, string, func(SObject) error, error) {
	switch call.Kind {
	case CollectionCreate:
		return http.MethodPost, "/composite/sobjects", func(o SObject) error { return checkName("object", o.Type) }, nil
	case CollectionUpdate:
		return http.MethodPatch, "/composite/sobjects", func(o SObject) error {
			if o.ID == "" {
				return errors.New("salesforce: UpdateCollection: a record has no ID")
			}
			return checkName("object", o.Type)
		}, nil
	case CollectionUpsert:
		if err := checkName("object", call.Object); err != nil {
			return "", "", nil, err
		}
		if err := checkName("field", call.ExtField); err != nil {
			return "", "", nil, err
		}
		return http.MethodPatch, "/composite/sobjects/" + call.Object + "/" + call.ExtField, func(o SObject) error {
			if !strings.EqualFold(o.Type, call.Object) {
				return fmt.Errorf("salesforce: UpsertCollection: record type %q is not %q", o.Type, call.Object)
			}
			return nil
		}, nil
	}
	return "", "", nil, fmt.Errorf("salesforce: Collections: unknown kind %d", call.Kind)
}

// rawBody serves a subresponse's body to decode.
type rawBody []byte

func (b rawBody) Body() []byte { return b }

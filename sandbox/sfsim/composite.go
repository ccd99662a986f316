package sfsim

// The Composite resource, POST /composite: up to 25 subrequests run in
// order in one request, which counts as one API call; at most 5 of them
// may be query operations or sObject Collections. Each subrequest is
// answered as it would be on its own (its status and body), and one
// failing does not stop the others (allOrNone false). The sandbox runs
// subrequests whose bodies hold no @{reference} to an earlier response;
// it refuses allOrNone true and references with a message saying so,
// rather than answer otherwise than Salesforce.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

const (
	maxCompositeSubrequests = 25
	// maxCompositeHeavy bounds a composite's query operations and sObject
	// Collections subrequests.
	maxCompositeHeavy = 5
)

type compositeRequest struct {
	AllOrNone        bool           `json:"allOrNone"`
	CompositeRequest []compositeSub `json:"compositeRequest"`
}

type compositeSub struct {
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	ReferenceID string            `json:"referenceId"`
	Body        json.RawMessage   `json:"body"`
	HTTPHeaders map[string]string `json:"httpHeaders"`
}

type compositeSubResponse struct {
	Body           any               `json:"body"`
	HTTPHeaders    map[string]string `json:"httpHeaders"`
	HTTPStatusCode int               `json:"httpStatusCode"`
	ReferenceID    string            `json:"referenceId"`
}

// composite answers POST /composite; the caller holds s.mu. It returns
// each subrequest's transaction in turn (reply.then), so that execute runs
// them one after the other, each for Options.WriteTime.
func (s *Server) composite(c *call) reply {
	if c.method != http.MethodPost {
		return methodNotAllowed(c.method, "POST")
	}
	var in compositeRequest
	if err := json.Unmarshal(c.body, &in); err != nil {
		return errReply(http.StatusBadRequest, "JSON_PARSER_ERROR", "Unexpected composite request body: "+err.Error())
	}
	switch n := len(in.CompositeRequest); {
	case n == 0:
		return errReply(http.StatusBadRequest, "INVALID_INPUT", "compositeRequest must hold at least one subrequest")
	case n > maxCompositeSubrequests:
		return errReply(http.StatusBadRequest, "INVALID_INPUT", fmt.Sprintf("A composite request holds at most %d subrequests; this one has %d", maxCompositeSubrequests, n))
	case in.AllOrNone:
		return errReply(http.StatusBadRequest, "INVALID_INPUT", "the sandbox does not roll composite subrequests back: send allOrNone false")
	}
	subs := make([]*call, len(in.CompositeRequest))
	heavy := 0
	for i, sub := range in.CompositeRequest {
		sc, why := s.compositeCall(c, sub)
		if sc == nil {
			return errReply(http.StatusBadRequest, "INVALID_INPUT", fmt.Sprintf("subrequest %d (%s): %s", i, sub.ReferenceID, why))
		}
		if isQuery(sc.segs) || isCollection(sc.segs) {
			heavy++
		}
		subs[i] = sc
	}
	if heavy > maxCompositeHeavy {
		return errReply(http.StatusBadRequest, "INVALID_INPUT", fmt.Sprintf("A composite request holds at most %d query or sObject Collections subrequests; this one has %d", maxCompositeHeavy, heavy))
	}
	out := make([]compositeSubResponse, 0, len(subs))
	var from func(i int) reply
	var finish func(i int, rep reply) reply
	finish = func(i int, rep reply) reply {
		if rep.then != nil {
			then := rep.then
			return reply{then: func() reply { return finish(i, then()) }}
		}
		headers := map[string]string{}
		for k := range rep.header {
			headers[k] = rep.header.Get(k)
		}
		out = append(out, compositeSubResponse{Body: rep.body, HTTPHeaders: headers, HTTPStatusCode: rep.status, ReferenceID: in.CompositeRequest[i].ReferenceID})
		return from(i + 1)
	}
	from = func(i int) reply {
		if i == len(subs) {
			return reply{status: http.StatusOK, body: map[string]any{"compositeResponse": out}}
		}
		return finish(i, s.route(subs[i]))
	}
	return from(0)
}

// compositeCall is subrequest sub of c as a call of its own, or nil and
// why it cannot be run.
func (s *Server) compositeCall(c *call, sub compositeSub) (*call, string) {
	u, err := url.Parse(sub.URL)
	if err != nil || sub.Method == "" {
		return nil, "a subrequest needs a method and a url"
	}
	const prefix = "/services/data/"
	version, rest, _ := strings.Cut(strings.TrimPrefix(u.EscapedPath(), prefix), "/")
	if !strings.HasPrefix(u.EscapedPath(), prefix) || !versionRE.MatchString(version) {
		return nil, "the url must begin with /services/data/vXX.X/"
	}
	var segs []string
	for _, raw := range strings.Split(rest, "/") {
		seg, err := url.PathUnescape(raw)
		if err != nil {
			return nil, "the url does not unescape"
		}
		segs = append(segs, seg)
	}
	if len(segs) > 0 && segs[0] == "composite" && !isCollection(segs) {
		return nil, "composite resources other than sObject Collections cannot be nested"
	}
	if strings.Contains(string(sub.Body), "@{") || strings.Contains(sub.URL, "@{") {
		return nil, "the sandbox does not resolve @{reference} expressions"
	}
	h := http.Header{}
	for k, v := range sub.HTTPHeaders {
		h.Set(k, v)
	}
	var body []byte
	if len(sub.Body) > 0 && string(sub.Body) != "null" {
		body = sub.Body
	}
	sc := &call{method: strings.ToUpper(sub.Method), query: u.Query(), version: version, segs: segs, body: body, arrival: c.arrival, dup: parseDupHeader(version, h)}
	if sc.method == http.MethodGet && isQuery(segs) && len(segs) == 1 {
		sc.pq = s.prepareQuery(version, sc.query.Get("q"), segs[0] == "queryAll")
	}
	return sc, ""
}

func isQuery(segs []string) bool {
	return len(segs) >= 1 && (segs[0] == "query" || segs[0] == "queryAll")
}

func isCollection(segs []string) bool {
	return len(segs) >= 2 && segs[0] == "composite" && segs[1] == "sobjects"
}

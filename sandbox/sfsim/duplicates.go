package sfsim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// DuplicateAction is what an active duplicate rule does with a save that
// matches existing records.
type DuplicateAction string

// The actions of a duplicate rule, as Setup names them.
const (
	// DuplicateAlert refuses an API save with DUPLICATES_DETECTED unless
	// the request carries Sforce-Duplicate-Rule-Header: allowSave=true,
	// which API versions from v52.0 honour: an API client sees no alert
	// to acknowledge.
	DuplicateAlert DuplicateAction = "Alert"
	// DuplicateBlock refuses the save whatever the request says.
	DuplicateBlock DuplicateAction = "Block"
)

// DuplicateRule is an active duplicate rule on Contact or Lead whose
// matching rule compares Email exactly but for case with the object's live
// records (deleted ones are not compared). It runs on create, and on edit
// when the save changes Email, as the platform's rules run on edit only
// when a field they match on changes. A request that saves several records
// (sObject Collections) has each compared with the records in the org
// before it, not with the request's other records.
//
// A refused save answers DUPLICATES_DETECTED with the matching records in
// duplicateResult.matchResults[].matchRecords[].record: their Id, or every
// field when the request's header says includeRecordDetails=true. The
// header's runAsCurrentUser is accepted and changes nothing: the simulator
// has no sharing rules.
type DuplicateRule struct {
	// Object is Contact or Lead.
	Object string
	// Action is DuplicateAlert or DuplicateBlock, on create and on edit.
	Action DuplicateAction
	// Name is the rule's developer name, as duplicateResult.duplicateRule
	// reports it; default "<Object>_Email_Duplicate_Rule".
	Name string
	// Message is the rule's alert text, the error's message; default the
	// standard rules' "You're creating a duplicate record. We recommend
	// you use an existing record instead."
	Message string
}

// dupRule is a DuplicateRule resolved against the schema.
type dupRule struct {
	action          DuplicateAction
	name, matchRule string
	message         string
	matchField      *fieldDef
}

const defaultDupMessage = "You're creating a duplicate record. We recommend you use an existing record instead."

// dupRules resolves the configured rules by object, panicking on one the
// simulator cannot model: options are code, and a wrong one a bug.
func (s *Server) dupRules(rules []DuplicateRule) map[string][]dupRule {
	out := map[string][]dupRule{}
	for i, r := range rules {
		o := s.objects[strings.ToLower(r.Object)]
		if o == nil || (o.Name != "Contact" && o.Name != "Lead") {
			panic(fmt.Sprintf("sfsim: DuplicateRules[%d]: object %q: duplicate rules match Contacts or Leads", i, r.Object))
		}
		if r.Action != DuplicateAlert && r.Action != DuplicateBlock {
			panic(fmt.Sprintf("sfsim: DuplicateRules[%d]: action %q is neither DuplicateAlert nor DuplicateBlock", i, r.Action))
		}
		d := dupRule{action: r.Action, name: r.Name, message: r.Message, matchField: o.field("Email"), matchRule: o.Name + "_Email_Matching_Rule"}
		if d.name == "" {
			d.name = o.Name + "_Email_Duplicate_Rule"
		}
		if d.message == "" {
			d.message = defaultDupMessage
		}
		out[o.Name] = append(out[o.Name], d)
	}
	return out
}

// dupHeader is a request's Sforce-Duplicate-Rule-Header, as far as its API
// version honours it.
type dupHeader struct {
	allowSave, includeRecordDetails bool
}

// dupHeaderName is the request header that sets how duplicate rules treat
// an API save.
const dupHeaderName = "Sforce-Duplicate-Rule-Header"

// minDupHeaderVersion is the first API version that honours
// dupHeaderName.
const minDupHeaderVersion = 52

// parseDupHeader reads dupHeaderName as the platform documents it:
// fields allowSave, includeRecordDetails and runAsCurrentUser, each
// name=true or name=false, separated by semicolons, every field false
// unless set. Versions before v52.0 ignore it.
func parseDupHeader(version string, h http.Header) dupHeader {
	var d dupHeader
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < minDupHeaderVersion {
		return d
	}
	for _, v := range h.Values(dupHeaderName) {
		for _, part := range strings.Split(v, ";") {
			name, value, _ := strings.Cut(part, "=")
			on := strings.EqualFold(strings.TrimSpace(value), "true")
			switch strings.TrimSpace(name) {
			case "allowSave":
				d.allowSave = on
			case "includeRecordDetails":
				d.includeRecordDetails = on
			}
		}
	}
	return d
}

// duplicateRules applies o's duplicate rules to a save of changes (the
// whole record on create) to existing (nil on create), and returns the
// errors of the rules that refuse it; the caller holds s.mu.
func (s *Server) duplicateRules(o *objectDef, changes row, create bool, existing row, sv *save) []apiError {
	rules := s.rules[o.Name]
	if len(rules) == 0 {
		return nil
	}
	var errs []apiError
	for _, r := range rules {
		f := r.matchField
		v, set := changes[f.Name]
		if !create {
			// On edit a rule runs only when a field it matches on changes.
			before, _ := str(existing[f.Name])
			after, _ := str(v)
			if !set || after == before {
				continue
			}
		}
		value, ok := str(v)
		if !ok {
			continue // an empty field matches nothing
		}
		ids := s.duplicatesOf(o, f, value, existing, sv)
		if len(ids) == 0 || r.action == DuplicateAlert && sv.dup.allowSave {
			continue
		}
		errs = append(errs, s.duplicatesDetected(o, r, ids, sv))
	}
	return errs
}

// duplicatesOf lists the live records of o whose f equals value but for
// case, leaving out the record saved itself and the records the request
// has written already.
func (s *Server) duplicatesOf(o *objectDef, f *fieldDef, value string, existing row, sv *save) []string {
	self, _ := str(existing["Id"])
	var ids []string
	for _, id := range s.tables[o.Name].lookup(f.Name, value) {
		if id != self && !sv.logged(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// duplicatesDetected is rule r's refusal, naming the records ids it
// matched in the shape of the platform's DuplicateError: a
// duplicateResult whose matchResults hold, per matching rule, the
// matchRecords with each record's attributes and Id (every field with
// includeRecordDetails).
func (s *Server) duplicatesDetected(o *objectDef, r dupRule, ids []string, sv *save) apiError {
	t := s.tables[o.Name]
	fields := []*fieldDef{o.field("Id")}
	if sv.dup.includeRecordDetails {
		fields = o.Fields
	}
	records := make([]ordered, len(ids))
	for i, id := range ids {
		records[i] = ordered{
			{"additionalInformation", []any{}},
			{"fieldDiffs", []any{}},
			{"matchConfidence", 100.0},
			{"record", render(sv.version, o, t.rows[id], fields)},
		}
	}
	result := ordered{
		{"allowSave", r.action == DuplicateAlert},
		{"duplicateRule", r.name},
		{"duplicateRuleEntityType", o.Name},
		{"errorMessage", r.message},
		{"matchResults", []ordered{{
			{"entityType", o.Name},
			{"errors", []any{}},
			{"matchEngine", "ExactMatchEngine"},
			{"matchRecords", records},
			{"rule", r.matchRule},
			{"size", len(ids)},
			{"success", true},
		}}},
	}
	return apiError{Code: "DUPLICATES_DETECTED", Message: r.message, Duplicates: result}
}

package sfsim

import (
	"errors"
	"fmt"
	"maps"
	"strings"
)

// OtherUserID is the User id of the people who work in Salesforce itself,
// not through the API: it creates the records Insert seeds and makes the
// changes of EditAs, DeleteAs and Merge, in CreatedById and
// LastModifiedById. It is never the integration user's.
const OtherUserID = "0055g0000000002AAA"

// IntegrationUserID returns the 18-character User id of the API user, the
// one the token response's id URL names: every API write (create, update,
// upsert, delete, sObject Collections) records it in LastModifiedById, and
// creates in CreatedById, so a sync can tell its own writes from other
// people's.
func (s *Server) IntegrationUserID() string { return s.userID }

// EditAs changes fields of the live record id (15 or 18 characters) of
// object as OtherUserID would in Salesforce: LastModifiedDate and
// SystemModstamp move to now and LastModifiedById to OtherUserID. The
// fields are validated as for an API update (an unknown or read-only
// field, a value too long, a duplicate unique value are errors, and
// nothing changes); "" or nil clears a field. Duplicate rules run as for a
// person in Salesforce, who may save past an Alert rule's warning but not
// past a Block rule. It costs no API call and is not counted in Stats.
func (s *Server) EditAs(object, id string, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, full, err := s.adminTarget("EditAs", object, id)
	if err != nil {
		return err
	}
	// A person may save past an Alert rule's warning, not a Block rule's.
	sv := &save{dup: dupHeader{allowSave: true}}
	if errs := s.modifyAs(o, full, fields, "", sv, OtherUserID); errs != nil {
		return adminError("EditAs", o, full, errs)
	}
	return nil
}

// DeleteAs deletes the live record id of object as OtherUserID would in
// Salesforce. As with an API delete, the record leaves queries and the
// API's reads and writes, which answer 404 ENTITY_IS_DELETED, and goes to
// the recycle bin for 15 days: queryAll and the deleted resource see it,
// IsDeleted true, with SystemModstamp, LastModifiedDate and
// LastModifiedById those of the deletion. It costs no API call and is not
// counted in Stats.
func (s *Server) DeleteAs(object, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, full, err := s.adminTarget("DeleteAs", object, id)
	if err != nil {
		return err
	}
	s.tables[o.Name].discard(full, OtherUserID, "", now())
	return nil
}

// Merge merges one or two records of object, Contact, Lead or Account, into the
// survivor, as OtherUserID would in Salesforce (which merges at most three
// records): each merged record is deleted as by DeleteAs, with
// MasterRecordId set to the survivor's id, and the survivor's
// LastModifiedDate, SystemModstamp and LastModifiedById change as by an
// edit that changes no field (field values are not carried over: EditAs
// the survivor first to model that). Every id must name a distinct live
// record of object; otherwise Merge changes nothing and returns an error.
func (s *Server) Merge(object, survivorID string, mergedIDs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[strings.ToLower(object)]
	switch {
	case o == nil:
		return fmt.Errorf("sfsim: Merge: unknown object %s", object)
	case !o.Mergeable:
		return fmt.Errorf("sfsim: Merge: %s records cannot be merged, only Contact, Lead and Account", o.Name)
	case len(mergedIDs) == 0 || len(mergedIDs) > 2:
		return fmt.Errorf("sfsim: Merge: %d records to merge into the survivor, want 1 or 2", len(mergedIDs))
	}
	survivor, err := s.live("Merge", o, survivorID)
	if err != nil {
		return err
	}
	seen := map[string]bool{survivor: true}
	merged := make([]string, len(mergedIDs))
	for i, raw := range mergedIDs {
		id, err := s.live("Merge", o, raw)
		if err != nil {
			return err
		}
		if seen[id] {
			if id == survivor {
				return fmt.Errorf("sfsim: Merge: the survivor %s is among the merged records", id)
			}
			return fmt.Errorf("sfsim: Merge: %s is named twice", id)
		}
		seen[id] = true
		merged[i] = id
	}
	t := s.tables[o.Name]
	ts := now()
	for _, id := range merged {
		t.discard(id, OtherUserID, survivor, ts)
	}
	r := maps.Clone(t.rows[survivor])
	touch(r, OtherUserID, ts)
	t.put(survivor, r)
	return nil
}

// adminTarget resolves the object and live record an admin action names;
// the caller holds s.mu.
func (s *Server) adminTarget(action, object, id string) (*objectDef, string, error) {
	o := s.objects[strings.ToLower(object)]
	if o == nil {
		return nil, "", fmt.Errorf("sfsim: %s: unknown object %s", action, object)
	}
	full, err := s.live(action, o, id)
	return o, full, err
}

// live returns the 18-character id of the live record raw names; the
// caller holds s.mu.
func (s *Server) live(action string, o *objectDef, raw string) (string, error) {
	id, ok := normalizeID(raw)
	if !ok || id[:3] != o.KeyPrefix {
		return "", fmt.Errorf("sfsim: %s: MALFORMED_ID: %q is not a %s id", action, raw, o.Name)
	}
	t := s.tables[o.Name]
	switch {
	case t.deleted[id]:
		return "", fmt.Errorf("sfsim: %s: ENTITY_IS_DELETED: %s %s is deleted", action, o.Name, id)
	case t.rows[id] == nil:
		return "", fmt.Errorf("sfsim: %s: NOT_FOUND: no %s %s", action, o.Name, id)
	}
	return id, nil
}

func adminError(action string, o *objectDef, id string, errs []apiError) error {
	var all []error
	for _, e := range errs {
		all = append(all, fmt.Errorf("%s: %s", e.Code, e.Message))
	}
	return fmt.Errorf("sfsim: %s %s %s: %w", action, o.Name, id, errors.Join(all...))
}

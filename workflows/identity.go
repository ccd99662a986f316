package workflows

import (
	"strings"

	"github.com/afsync/afsync/pairing"
)

// A person is one record for life. The lane follows them by what cannot
// move to someone else, never by their address alone (which they change,
// and which a newcomer may register once it is free):
//
//   - the record Award Force holds in the spec's record_id_field, or the
//     one a CRM change named (LaneItem.RecordID);
//   - their slug in the spec's external id (asked in the same query as the
//     identifiers; the record holding it is theirs, whatever address it
//     holds), which a record found by identifier is given (adoption);
//   - for specs without an external id, the record the lane last paired
//     them with (LaneState.Paired, kept as long as Written).
//
// A record found only by the identifier is not the person's when another
// person is known to be paired with it: their slug is on it, the lane
// remembers pairing them with it, or a batch in flight holds it as theirs
// (lane.owners). pairing.RulesIdentity then gives the person a record of
// their own instead.

// knownRecord is the record person it is known to be paired with: the id
// Award Force holds in record_id_field, else the one a CRM change named,
// else the one the lane remembers pairing them with.
func (l *lane) knownRecord(spec *pairing.Spec, it *LaneItem) string {
	if f := spec.RecordIDField; f != "" {
		if id := strings.TrimSpace(it.Profile.Values[f]); id != "" {
			return id
		}
	}
	if it.RecordID != "" {
		return it.RecordID
	}
	return l.st.Paired[it.Profile.Slug]
}

// paired remembers that person it is paired with record id, for specs
// whose records do not carry the slug (no external id).
func (r *laneRun) paired(it *LaneItem, id string) {
	if !r.identity || id == "" || r.b.spec.ExternalID.CRM != "" || it.Deleted {
		return
	}
	r.st.Paired[it.Profile.Slug] = normalID(id)
}

// othersOf lists the records among matches (found by person it's
// identifier) that other people are known to be paired with.
func (r *laneRun) othersOf(it *LaneItem, matches []pairing.CRMRecord) []string {
	var out []string
	for _, m := range matches {
		id := normalID(m.ID)
		if owner, ok := r.owners[id]; ok && owner != it.Profile.Slug {
			out = append(out, m.ID)
			continue
		}
		if len(r.st.Paired) == 0 {
			continue
		}
		if r.pairedBy == nil {
			r.pairedBy = make(map[string]string, len(r.st.Paired))
			for slug, rec := range r.st.Paired {
				if prev, ok := r.pairedBy[rec]; !ok || slug < prev { // deterministic whatever the map's order
					r.pairedBy[rec] = slug
				}
			}
		}
		if owner, ok := r.pairedBy[id]; ok && owner != it.Profile.Slug {
			out = append(out, m.ID)
		}
	}
	return out
}

// doubtedKeys maps the identifier keys of waiting people whose write had no
// known outcome (LaneItem.Doubted) to their slugs: someone else with that
// identifier waits until they are answered, so that the record the lost
// write may have made is found by its owner first, and then remembered as
// theirs.
func (l *lane) doubtedKeys() map[string]string {
	var out map[string]string
	for _, it := range l.st.Items {
		if !it.Doubted {
			continue
		}
		req, ok := l.st.Requests[it.Request]
		if !ok {
			continue
		}
		if k := (&batch{spec: l.st.Specs[req.Spec]}).key(it); k != "" {
			if out == nil {
				out = map[string]string{}
			}
			if _, seen := out[k]; !seen {
				out[k] = it.Profile.Slug
			}
		}
	}
	return out
}

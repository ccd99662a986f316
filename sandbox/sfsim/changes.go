package sfsim

import (
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// replicationHorizon is how far back the replication resources look.
const replicationHorizon = 30 * 24 * time.Hour

// replication returns "updated" or "deleted" when segs name the sObject Get
// Updated or Get Deleted resource, /sobjects/{Obj}/updated or /deleted,
// with or without a trailing slash; "" otherwise.
func replication(segs []string) string {
	if len(segs) < 3 || len(segs) > 4 || segs[0] != "sobjects" || len(segs) == 4 && segs[3] != "" {
		return ""
	}
	switch segs[2] {
	case "updated", "deleted":
		return segs[2]
	}
	return ""
}

func invalidReplicationDate(format string, args ...any) *reply {
	rep := errReply(http.StatusBadRequest, "INVALID_REPLICATION_DATE", fmt.Sprintf(format, args...))
	return &rep
}

// replicationWindow reads and checks the start and end parameters as the
// platform does: both required, ISO 8601, end at least a minute after
// start, and start no more than 30 days before now.
func replicationWindow(q url.Values, now time.Time) (start, end time.Time, rep *reply) {
	param := func(name string) (time.Time, *reply) {
		v, ok := q[name]
		if !ok || v[0] == "" {
			return time.Time{}, invalidReplicationDate("Missing parameter %s: an ISO 8601 date-time (UTC or with an offset) such as 2026-12-01T04:05:06Z or 2026-12-01T04:05:06.000+0000", name)
		}
		t, ok := parseDateTime(v[0])
		if !ok {
			return time.Time{}, invalidReplicationDate("Invalid %s '%s': expected an ISO 8601 date-time with seconds and a zone such as 2026-12-01T04:05:06Z, 2026-12-01T04:05:06+00:00 or 2026-12-01T04:05:06.000+0000", name, v[0])
		}
		return t, nil
	}
	if start, rep = param("start"); rep != nil {
		return
	}
	if end, rep = param("end"); rep != nil {
		return
	}
	switch {
	case !end.After(start):
		rep = invalidReplicationDate("end %s must be after start %s", formatTime(end), formatTime(start))
	case end.Sub(start) < time.Minute:
		rep = invalidReplicationDate("The window from start %s to end %s must be at least one minute wide", formatTime(start), formatTime(end))
	case start.Before(now.Add(-replicationHorizon)):
		rep = invalidReplicationDate("start %s is more than 30 days ago: it must be no earlier than %s", formatTime(start), formatTime(now.Add(-replicationHorizon)))
	}
	return
}

// latestDateCovered is the latest moment up to which an answer computed now
// for a window ending at end is complete: end, but no later than now, and
// no later than the arrival of any write still in progress, which may
// still commit. A client that resumes from it misses no change. The caller
// holds s.mu.
func (s *Server) latestDateCovered(end, now time.Time) time.Time {
	covered := end
	if now.Before(covered) {
		covered = now
	}
	for _, at := range s.inflight {
		if at.Before(covered) {
			covered = at
		}
	}
	return covered
}

// replicate answers GET /sobjects/{Obj}/updated/?start=&end= (the ids of
// the live records created or changed, by SystemModstamp, in [start, end])
// and GET /sobjects/{Obj}/deleted/?start=&end= (the records of the recycle
// bin deleted in [start, end], with the date of their deletion). The caller
// holds s.mu.
func (s *Server) replicate(o *objectDef, kind string, q url.Values) reply {
	now := time.Now()
	start, end, rep := replicationWindow(q, now)
	if rep != nil {
		return *rep
	}
	from, to := formatTime(start), formatTime(end)
	in := func(r row) (string, bool) {
		at, _ := str(r["SystemModstamp"])
		return at, at >= from && at <= to
	}
	covered := formatTime(s.latestDateCovered(end, now))
	t := s.tables[o.Name]
	if kind == "updated" {
		ids := []string{}
		for _, id := range t.order {
			if r := t.rows[id]; r != nil {
				if _, ok := in(r); ok {
					ids = append(ids, id)
				}
			}
		}
		return reply{status: http.StatusOK, body: ordered{{"ids", ids}, {"latestDateCovered", covered}}}
	}
	t.purge(now)
	deleted := []ordered{}
	for _, id := range t.binOrder {
		if at, ok := in(t.bin[id]); ok {
			deleted = append(deleted, ordered{{"id", id}, {"deletedDate", at}})
		}
	}
	// The oldest deletion the bin holds; with none, the bin's horizon:
	// nothing deleted since then has been emptied out of it.
	earliest := formatTime(now.Add(-binRetention))
	if len(t.binOrder) > 0 {
		earliest, _ = str(t.bin[t.binOrder[0]]["SystemModstamp"])
	}
	return reply{status: http.StatusOK, body: ordered{{"deletedRecords", deleted}, {"earliestDateAvailable", earliest}, {"latestDateCovered", covered}}}
}

package workflows

import (
	"hash/fnv"
	"maps"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// Award Force's `updated` has a second's resolution: a person who registers
// and fixes a typo at once, or two quick edits, make two versions of one
// `updated`. What tells them apart is their values; which one is the later
// only Award Force knows, so whoever meets two of them reads it again.

// ProfileDigest is a short digest of the values of p that spec reads
// (normalised as the lanes compare them): two versions of one `updated`
// with different digests are two edits made within one second. It is 32
// bits of FNV-1a, not a record of the values: it cannot give them back.
// Zero stands for "unknown" and is never returned.
func ProfileDigest(spec *pairing.Spec, p pairing.Profile) uint32 {
	h := fnv.New32a()
	for _, f := range readFields(spec) {
		v := strings.TrimSpace(p.Values[f])
		if f == pairing.AFEmail {
			v = strings.ToLower(v)
		}
		h.Write([]byte(f))
		h.Write([]byte{0})
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	if d := h.Sum32(); d != 0 {
		return d
	}
	return 1
}

// sameVersionOtherValues reports whether a and b are one version of a
// user (the same `updated`, known) holding different values.
func sameVersionOtherValues(a, b *pairing.Profile) bool {
	return a != nil && b != nil && !a.Updated.IsZero() && a.Updated.Equal(b.Updated) && !maps.Equal(a.Values, b.Values)
}

// editedWithin reports whether person it holds, at version (the one last
// paired), other values than those paired (digest): an edit made within
// that second (ChangeSameSecondEdits; asked only of such a person, whom no
// older history holds).
func (r *laneRun) editedWithin(it *LaneItem, version time.Time, digest uint32) bool {
	if digest == 0 || version.IsZero() || !it.Profile.Updated.Equal(version) || ProfileDigest(&r.b.spec, it.Profile) == digest {
		return false
	}
	return workflow.GetVersion(r.ctx, ChangeSameSecondEdits, workflow.DefaultVersion, 1) >= 1
}

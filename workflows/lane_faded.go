package workflows

// A lane's exact memory of writes (LaneState.Written) costs about 46 bytes
// a person in its continue-as-new input; at its in-run cap that input
// passed a megabyte. Under ChangeLaneBoundedInput the oldest writes fade
// instead of being forgotten: they are summarised in Bloom filters
// (FadedWrites), about 1.7 bytes a person, that can only say "this lane
// may have written this person between From and To" or "it did not". A
// profile read before the exact memory begins is read again from Award
// Force only when a summary since its read may hold the person; the rare
// false "may" costs one fresh read, never a wrong write. What a summary
// cannot tell (the version written, its second, the record paired) is
// what the exact memory alone answers, as it did before: the lane's
// decided query, write-back order and same-second edits fall back as they
// do for a person the lane forgot.

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"time"
)

// Bounds of a lane's continue-as-new input (ChangeLaneBoundedInput).
const (
	// laneInputBudget is the most a lane's continue-as-new input may
	// weigh, JSON-encoded: under Temporal's 256 KB payload warning, with
	// room for the envelope. Beyond it, waiting people go to the lane's
	// queue (newest first) until it fits.
	laneInputBudget = 200 << 10
	// carriedExact is how many writes a lane carries exactly into its next
	// run (the latest); older ones fade (about 46 bytes each exact, with
	// up to 33 more for the record paired).
	carriedExact = 600
	// fadedPeople is how many people one FadedWrites summarises, and
	// fadedBits its filter's size: 10 bits a person, 7 hashes, about 0.8%
	// false "may" (6.8 KB of base64 each).
	fadedPeople = 4096
	fadedBits   = 10 * fadedPeople
	fadedHashes = 7
	// maxFaded bounds the summaries a lane keeps: beyond, the oldest is
	// forgotten (about 55 KB for 32,768 people).
	maxFaded = 8
)

// FadedWrites summarises the people a lane wrote between From and To
// (Unix seconds, both included) that it no longer remembers exactly.
type FadedWrites struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// N counts the people added; Bits is their Bloom filter (fadedBits).
	N    int    `json:"n"`
	Bits []byte `json:"bits"`
}

// bloomProbes returns the bit positions of key in a Bloom filter of
// len(bits)*8 bits: double hashing of one 64-bit FNV-1a, the same on every
// replay and every worker.
func bloomProbes(key string, bits []byte) [fadedHashes]uint32 {
	h := fnv.New64a()
	h.Write([]byte(key))
	sum := h.Sum64()
	h1, h2 := uint32(sum), uint32(sum>>32)|1
	n := uint32(len(bits) * 8)
	var out [fadedHashes]uint32
	for i := range out {
		out[i] = (h1 + uint32(i)*h2) % n
	}
	return out
}

// bloomSet adds key to the Bloom filter bits.
func bloomSet(bits []byte, key string) {
	for _, p := range bloomProbes(key, bits) {
		bits[p/8] |= 1 << (p % 8)
	}
}

// bloomHas reports whether key may have been added to the Bloom filter
// bits (false: it was not).
func bloomHas(bits []byte, key string) bool {
	for _, p := range bloomProbes(key, bits) {
		if bits[p/8]&(1<<(p%8)) == 0 {
			return false
		}
	}
	return true
}

// add puts slug, written at the Unix second at, into the summary.
func (f *FadedWrites) add(slug string, at int64) {
	if f.Bits == nil {
		f.Bits = make([]byte, fadedBits/8)
		f.From, f.To = at, at
	}
	bloomSet(f.Bits, slug)
	f.From, f.To = min(f.From, at), max(f.To, at)
	f.N++
}

// mayHold reports whether slug may have been added (false: it was not).
func (f *FadedWrites) mayHold(slug string) bool {
	if len(f.Bits) != fadedBits/8 {
		return true // not a filter this code made: be safe
	}
	return bloomHas(f.Bits, slug)
}

// fade moves the oldest exact writes beyond keep into the summaries (ties
// by slug, so that every replay fades the same ones), forgetting their
// records paired, and the oldest summaries beyond maxFaded.
func (l *lane) fade(keep int) {
	if len(l.st.Written) <= keep {
		return
	}
	slugs := l.oldestWrittenFirst(maps.Keys(l.st.Written))
	if len(l.st.Faded) == 0 {
		// Every write since MemorySince is exact: the summaries take over
		// from there.
		l.st.FadedSince = l.st.MemorySince
	}
	last := int64(0)
	for _, slug := range slugs[:len(slugs)-keep] {
		if n := len(l.st.Faded); n == 0 || l.st.Faded[n-1].N >= fadedPeople {
			l.st.Faded = append(l.st.Faded, FadedWrites{})
		}
		last = l.st.Written[slug][1]
		l.st.Faded[len(l.st.Faded)-1].add(slug, last)
		delete(l.st.Written, slug)
		delete(l.st.Paired, slug)
	}
	// Every write made before the second after the last one faded is in
	// a summary now, or still exact.
	if since := time.Unix(last+1, 0).UTC(); since.After(l.st.MemorySince) {
		l.st.MemorySince = since
	}
	for len(l.st.Faded) > maxFaded {
		l.dropFaded()
	}
}

// dropFaded forgets the oldest summary.
func (l *lane) dropFaded() {
	gone := l.st.Faded[0]
	l.st.Faded = slices.Delete(l.st.Faded, 0, 1)
	if since := time.Unix(gone.To+1, 0).UTC(); since.After(l.st.FadedSince) {
		l.st.FadedSince = since
	}
	if len(l.st.Faded) == 0 {
		l.st.FadedSince = time.Time{}
	}
}

// forgetFadedBefore forgets the writes made before the Unix second t: the
// summaries of writes all made before it, and what the others hold of
// them (FadedSince).
func (l *lane) forgetFadedBefore(t int64) {
	for len(l.st.Faded) > 0 && l.st.Faded[0].To < t {
		l.dropFaded()
	}
	if since := time.Unix(t, 0).UTC(); len(l.st.Faded) > 0 && since.After(l.st.FadedSince) {
		l.st.FadedSince = since
	}
}

// unsure reports whether the lane cannot tell that it wrote nobody's
// newer version of it's person since it was read: its exact memory begins
// after the read, and the summaries do not reach back to it or may hold
// the person since then.
func (st *LaneState) unsure(it *LaneItem) bool {
	if !it.ReadAt.Before(st.MemorySince) {
		return false
	}
	if len(st.Faded) == 0 || it.ReadAt.Before(st.FadedSince) {
		return true
	}
	read := it.ReadAt.Unix()
	for i := range st.Faded {
		if f := &st.Faded[i]; f.To >= read && f.mayHold(it.who()) {
			return true
		}
	}
	return false
}

// boundInput makes the lane's continue-as-new input fit laneInputBudget:
// writes beyond carriedExact fade, then the newest waiting people are
// taken out of Items until it fits, and returned in arrival order for the
// queue. Someone in doubt stays: nobody with their identifier may go
// before them.
func (l *lane) boundInput() []*LaneItem {
	l.fade(carriedExact)
	size := jsonSize(&l.st)
	if size <= laneInputBudget || l.st.Queue == nil {
		return nil
	}
	out := map[*LaneItem]bool{}
	for i := len(l.st.Items) - 1; i >= 0 && size > laneInputBudget; i-- {
		if it := l.st.Items[i]; !it.Doubted {
			size -= jsonSize(it) + 1
			out[it] = true
		}
	}
	var keep, gone []*LaneItem
	for _, it := range l.st.Items {
		if out[it] {
			gone = append(gone, it)
		} else {
			keep = append(keep, it)
		}
	}
	l.st.Items = keep
	return gone
}

// jsonSize is v's size JSON-encoded, as the default data converter sends it.
func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/afsync/afsync/sandbox/afsim"
)

// Burst is a wave of activity in Award Force, as at a registration deadline:
// people registering and people editing their profiles, spread evenly over
// Over, each delivered as a signed webhook when the simulator has one.
type Burst struct {
	Registrations int           `json:"registrations"`
	Edits         int           `json:"edits"`
	Over          time.Duration `json:"over"`
	// Seed makes the registrants' names reproducible.
	Seed uint64 `json:"seed"`
}

// BurstResult names who registered and who was edited, in order, and
// when (the moment each was handed to the simulator, which delivers its
// webhook at once).
type BurstResult struct {
	Registered   []string    `json:"registered"`
	RegisteredAt []time.Time `json:"registered_at"`
	Edited       []string    `json:"edited"`
	EditedAt     []time.Time `json:"edited_at"`
}

// Burst plays b on the Award Force simulator and returns when it is done
// (or ctx ends). Registrants are new people; edits change the surname of
// existing users picked at random.
func (s *Sandbox) Burst(ctx context.Context, b Burst) BurstResult {
	r := rand.New(rand.NewPCG(b.Seed, 0xb125))
	existing := s.AwardForce.Users()
	total := b.Registrations + b.Edits
	var out BurstResult
	if total == 0 {
		return out
	}
	step := b.Over / time.Duration(total)
	start := time.Now()
	regs, edits := b.Registrations, b.Edits
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * step)); wait > 0 {
			select {
			case <-ctx.Done():
				return out
			case <-time.After(wait):
			}
		}
		// Interleave the two kinds evenly.
		register := edits == 0 || regs > 0 && r.IntN(regs+edits) < regs
		if register || len(existing) == 0 {
			regs--
			p := person(r, fmt.Sprintf("burst-%d-%d", b.Seed, len(out.Registered)), int(s.registrants.Add(1)))
			at := time.Now()
			u := s.AwardForce.Register(p)
			out.Registered = append(out.Registered, u.Slug)
			out.RegisteredAt = append(out.RegisteredAt, at)
			continue
		}
		edits--
		u := existing[r.IntN(len(existing))]
		out.EditedAt = append(out.EditedAt, time.Now())
		s.AwardForce.Edit(u.Slug, func(u *afsim.User) {
			u.LastName = strings.SplitN(u.LastName, " (", 2)[0] + fmt.Sprintf(" (%d)", r.IntN(1000))
		})
		out.Edited = append(out.Edited, u.Slug)
	}
	return out
}

// awardForceHandler serves the Award Force simulator and, beside its API,
// the sandbox's own control route POST /_sandbox/burst (not part of Award
// Force: the way a demo or a benchmark makes people register), which takes
// a Burst as JSON ("over" as a duration such as "10s"), answers 202 at once
// and plays it in the background. It needs a Read / Write API key.
func (s *Sandbox) awardForceHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.AwardForce)
	mux.HandleFunc("POST /_sandbox/burst", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-api-key") != APIKey {
			http.Error(w, `{"message":"Unauthenticated."}`, http.StatusUnauthorized)
			return
		}
		var in struct {
			Registrations int    `json:"registrations"`
			Edits         int    `json:"edits"`
			Over          string `json:"over"`
			Seed          uint64 `json:"seed"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Registrations < 0 || in.Edits < 0 {
			http.Error(w, `{"message":"want {\"registrations\": N, \"edits\": N, \"over\": \"10s\"}"}`, http.StatusBadRequest)
			return
		}
		b := Burst{Registrations: in.Registrations, Edits: in.Edits, Seed: in.Seed}
		if in.Over != "" {
			d, err := time.ParseDuration(in.Over)
			if err != nil || d < 0 {
				http.Error(w, `{"message":"over: want a duration such as 10s"}`, http.StatusBadRequest)
				return
			}
			b.Over = d
		}
		if b.Seed == 0 {
			b.Seed = uint64(time.Now().UnixNano())
		}
		go s.Burst(context.Background(), b)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"registrations": b.Registrations, "edits": b.Edits, "over": b.Over.String()})
	})
	return mux
}

package afsim

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChaosUnavailable(t *testing.T) {
	tests := []struct {
		name      string
		share     float64
		wantFault bool
	}{
		{"share 1 faults every request", 1, true},
		{"share 0 faults none", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{RateLimit: 30})
			u := s.AddUser(User{Email: "a@example.com"})
			s.SetChaos(Chaos{Unavailable: tt.share, Seed: 5})
			for i := range 20 {
				method, path, body := "GET", "/user", any(nil)
				if i%2 == 1 {
					method, path, body = "PUT", "/user/"+u.Slug, map[string]any{"first_name": fmt.Sprint("N", i)}
				}
				r := call(t, s, method, path, rwKey, body)
				assert.NotEmpty(t, r.header.Get("X-RateLimit-Remaining"), "faults come after rate limiting")
				if tt.wantFault {
					require.Equal(t, http.StatusServiceUnavailable, r.code, r.raw)
					assert.Equal(t, map[string]any{"status": "Maintenance in progress"}, r.body)
				} else {
					require.Equal(t, http.StatusOK, r.code, r.raw)
				}
			}
			// Unauthenticated requests are refused before any fault.
			assertError(t, call(t, s, "GET", "/user", "", nil), http.StatusUnauthorized)
			assertError(t, call(t, s, "GET", "/user", "wrong-key", nil), http.StatusForbidden)
			st := s.Stats()
			if tt.wantFault {
				assert.Equal(t, 20, st.Faults)
				assert.Equal(t, 0, st.Writes, "a faulted PUT writes nothing")
				got, _ := s.User(u.Slug)
				assert.Empty(t, got.FirstName)
			} else {
				assert.Equal(t, 0, st.Faults)
				assert.Equal(t, 10, st.Writes)
			}
		})
	}
}

func TestChaosAfterRateLimit(t *testing.T) {
	s := newServer(t, Options{RateLimit: 2})
	s.SetChaos(Chaos{Unavailable: 1})
	assert.Equal(t, http.StatusServiceUnavailable, call(t, s, "GET", "/user", rwKey, nil).code)
	assert.Equal(t, http.StatusServiceUnavailable, call(t, s, "GET", "/user", rwKey, nil).code)
	assertError(t, call(t, s, "GET", "/user", rwKey, nil), http.StatusTooManyRequests)
	st := s.Stats()
	assert.Equal(t, 2, st.Faults, "a request refused by the limiter is not faulted")
	assert.Equal(t, 1, st.RateLimited)
}

func TestChaosIsReproducible(t *testing.T) {
	run := func(c Chaos) string {
		s := newServer(t, Options{})
		s.SetChaos(c)
		var codes []string
		for range 60 {
			codes = append(codes, fmt.Sprint(call(t, s, "GET", "/user", rwKey, nil).code))
		}
		return strings.Join(codes, ",")
	}
	c := Chaos{Unavailable: 0.4, Seed: 11}
	a := run(c)
	assert.Equal(t, a, run(c), "same seed, same faults")
	assert.Contains(t, a, "503")
	assert.Contains(t, a, "200")
	c.Seed = 12
	assert.NotEqual(t, a, run(c), "another seed, other faults")
}

func TestInjectedFaultsAreCountedAndComeFirst(t *testing.T) {
	s := newServer(t, Options{})
	s.SetChaos(Chaos{Unavailable: 1})
	s.InjectFaults(1, http.StatusInternalServerError)
	assertError(t, call(t, s, "GET", "/user", rwKey, nil), http.StatusInternalServerError)
	assert.Equal(t, http.StatusServiceUnavailable, call(t, s, "GET", "/user", rwKey, nil).code)
	assert.Equal(t, 2, s.Stats().Faults)
	s.SetChaos(Chaos{})
	assert.Equal(t, http.StatusOK, call(t, s, "GET", "/user", rwKey, nil).code, "the zero Chaos turns it off")
	s.ResetStats()
	assert.Equal(t, 0, s.Stats().Faults)
}

func TestSetChaosValidates(t *testing.T) {
	for _, share := range []float64{-0.01, 1.01, math.NaN(), math.Inf(1)} {
		assert.Panics(t, func() { New(Options{}).SetChaos(Chaos{Unavailable: share}) }, "share %v", share)
	}
	assert.NotPanics(t, func() { New(Options{}).SetChaos(Chaos{Unavailable: 1}) })
}

// TestSetChaosWhileServing is for the race detector.
func TestSetChaosWhileServing(t *testing.T) {
	s := newServer(t, Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				req, _ := http.NewRequest("GET", srv.URL+"/user", nil)
				req.Header.Set("Accept", AcceptHeader)
				req.Header.Set("x-api-key", rwKey)
				resp, err := srv.Client().Do(req)
				if assert.NoError(t, err) {
					assert.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, resp.StatusCode)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			s.SetChaos(Chaos{Unavailable: 0.5, Seed: uint64(i)})
			_ = s.Stats()
		}
	})
	wg.Wait()
	assert.Equal(t, 40, s.Stats().Requests)
}

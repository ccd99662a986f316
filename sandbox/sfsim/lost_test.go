package sfsim

import (
	"net/http"
	"strings"
	"testing"
)

func TestLostResponseCommitsTheWriteButDropsTheAnswer(t *testing.T) {
	e := newEnv(t, Options{})
	e.sim.InjectLostResponses(1)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+api+"/sobjects/Contact", strings.NewReader(`{"LastName":"Lost"}`))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got %s, want the connection dropped", resp.Status)
	}
	if n := len(e.sim.Records("Contact")); n != 1 {
		t.Fatalf("%d contacts, want the write committed", n)
	}
	if r := e.do("POST", "/sobjects/Contact", map[string]any{"LastName": "Found"}); r.status != http.StatusCreated {
		t.Fatalf("the next write: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/limits", nil); r.status != http.StatusOK {
		t.Fatalf("reads are never dropped: %d", r.status)
	}
}

package afworker

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/workflows"
)

func TestSearchAttributeCommand(t *testing.T) {
	want := "temporal operator search-attribute create --namespace prod --name AfsyncOutcome --type Keyword --name AfsyncRecordId --type Keyword" +
		" --name AfsyncFailedUsers --type KeywordList --name AfsyncAmbiguousUsers --type KeywordList"
	if got := SearchAttributeCommand("prod"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestEnsureSearchAttributesRegistersTheMissingOnes(t *testing.T) {
	bin, err := devserver.Find()
	if err != nil {
		t.Fatalf("needs the Temporal CLI (make test builds it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{Binary: bin, UIPort: -1}) // no search attributes
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address, Namespace: srv.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 { // the second call finds them and changes nothing
		if err := EnsureSearchAttributes(ctx, c, srv.Namespace); err != nil {
			t.Fatal(err)
		}
	}
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range workflows.SearchAttributeKeys() {
		if got, ok := have.GetCustomAttributes()[k.GetName()]; !ok || got != k.GetValueType() {
			t.Errorf("%s: registered %v (%v), want %v", k.GetName(), ok, got, k.GetValueType())
		}
	}
}

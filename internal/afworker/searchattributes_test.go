package afworker

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/afsync/afsync/internal/devserver"
	"github.com/afsync/afsync/internal/devserver/devservertest"
	"github.com/afsync/afsync/workflows"
)

func TestSearchAttributeCommand(t *testing.T) {
	want := "temporal operator search-attribute create --namespace prod --name AfsyncOutcome --type Keyword --name AfsyncRecordId --type Keyword" +
		" --name AfsyncFailedUsers --type KeywordList --name AfsyncAmbiguousUsers --type KeywordList --name AfsyncLedger --type KeywordList --name AfsyncIntegration --type Keyword"
	if got := SearchAttributeCommand("prod"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestEnsureSearchAttributesRegistersTheMissingOnes(t *testing.T) {
	srv := devservertest.Start(t, devserver.Options{UIPort: -1}) // no search attributes
	c := devservertest.Dial(t, srv, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
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

// deniedOperator answers like Temporal Cloud or a restricted role: it lists
// no afsync attribute and refuses to add one.
type deniedOperator struct {
	operatorservice.OperatorServiceClient
}

func (deniedOperator) ListSearchAttributes(context.Context, *operatorservice.ListSearchAttributesRequest, ...grpc.CallOption) (*operatorservice.ListSearchAttributesResponse, error) {
	return &operatorservice.ListSearchAttributesResponse{}, nil
}

func (deniedOperator) AddSearchAttributes(context.Context, *operatorservice.AddSearchAttributesRequest, ...grpc.CallOption) (*operatorservice.AddSearchAttributesResponse, error) {
	return nil, serviceerror.NewPermissionDenied("not allowed", "")
}

type deniedClient struct{ client.Client }

func (deniedClient) OperatorService() operatorservice.OperatorServiceClient { return deniedOperator{} }

func TestEnsureSearchAttributesNamesTheCommandWhenItMayNot(t *testing.T) {
	err := EnsureSearchAttributes(context.Background(), deniedClient{}, "prod")
	if err == nil || !strings.Contains(err.Error(), SearchAttributeCommand("prod")) {
		t.Fatalf("want the exact command in the error, got %v", err)
	}
}

package devserver

import (
	"testing"

	"github.com/afsync/afsync/internal/config"
)

// The ledger's pages fill the value limit the dev server is started with;
// their memos (the same pairings, as a map) are about as large, and the
// worker's client must not warn about each of them.
func TestTheClientWarnsOnlyAboveTheMemosTheValueLimitMakes(t *testing.T) {
	if config.MemoSizeWarning < 2*SearchAttributeValueLimit {
		t.Fatalf("the client warns from %d-byte memos; ledger pages of %d-byte values carry memos up to about that size",
			config.MemoSizeWarning, SearchAttributeValueLimit)
	}
}

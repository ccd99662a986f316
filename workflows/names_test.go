package workflows

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/afsync/afsync/pairing"
)

// The default integration keeps afsync's original names: executions
// started before integrations existed, and their histories, go on.
func TestTheDefaultIntegrationKeepsTheOriginalNames(t *testing.T) {
	spec := pairing.Default()
	for _, n := range []Names{DefaultNames, NamesOf(""), NamesOf(DefaultIntegration)} {
		require.True(t, n.IsDefault())
		require.Equal(t, DefaultIntegration, n.Integration())
		require.Equal(t, TaskQueue, n.TaskQueue())
		require.Equal(t, AwardForceTaskQueue, n.AwardForceTaskQueue())
		require.Equal(t, CoordinatorTaskQueue, n.CoordinatorTaskQueue())
		require.Equal(t, "afsync-user-AbCd1234", n.UserSync("AbCd1234"))
		require.Equal(t, "afsync-lane-0", n.Lane(0))
		require.Equal(t, "afsync-lane-0-queue-3", n.LaneQueue(0, 3))
		require.Equal(t, BudgetWorkflowID, n.Budget())
		require.Equal(t, CRMWatchWorkflowID, n.CRMWatch())
		require.Equal(t, "afsync-backfill-"+spec.Fingerprint(), n.Backfill(spec, false))
		require.Equal(t, "afsync-ledger-contact-", n.ledgerPrefix("Contact"))
		require.True(t, strings.HasPrefix(n.ResolveUser(), "afsync-resolve-"))
		require.True(t, strings.HasPrefix(n.ResolveRole(), "afsync-resolve-role-"))
		require.True(t, strings.HasPrefix(n.CountUsers(), "afsync-count-users-"))
		require.Equal(t, "Sync Award Force user AbCd1234 (manual)", n.Summary("Sync Award Force user AbCd1234 (manual)"))
	}
}

// Every workflow an integration starts carries its id: the
// AfsyncIntegration search attribute and the memo, beside what a workflow
// adds of its own; the summary of another than the default begins with it.
func TestEveryWorkflowIsLabelledWithItsIntegration(t *testing.T) {
	for _, n := range []Names{DefaultNames, NamesOf("grants")} {
		for _, o := range []client.StartWorkflowOptions{
			n.StartOptions(n.UserSync("AbCd1234"), UserSyncTimeout),
			n.BackfillStartOptions(n.Backfill(pairing.Default(), false), pairing.Default(), false),
			n.coordinatorOptions(n.Lane(0), "Pairing lane 0"),
		} {
			id, ok := o.TypedSearchAttributes.GetKeyword(IntegrationKey)
			require.True(t, ok, o.ID)
			require.Equal(t, n.Integration(), id, o.ID)
			require.Equal(t, n.Integration(), o.Memo[MemoIntegration], o.ID)
		}
		sa := n.SearchAttributes(LedgerKey.ValueSet([]string{"s:AbCd1234"}))
		keys, _ := sa.GetKeywordList(LedgerKey)
		id, _ := sa.GetKeyword(IntegrationKey)
		require.Equal(t, []string{"s:AbCd1234"}, keys)
		require.Equal(t, n.Integration(), id)
		require.Equal(t, map[string]any{MemoIntegration: n.Integration(), "object": "Contact"}, n.Memo(map[string]any{"object": "Contact"}))
	}
	require.Equal(t, "grants: Pairing lane 0", NamesOf("grants").coordinatorOptions("x", "Pairing lane 0").StaticSummary)
	require.Contains(t, SearchAttributeKeys(), temporal.SearchAttributeKey(IntegrationKey))
}

// Another integration's names are all its own: none is one of the
// default's, nor begins like one (visibility queries select by prefix).
func TestAnIntegrationsNamesAreItsOwn(t *testing.T) {
	spec := pairing.Default()
	names := func(n Names) []string {
		return []string{n.TaskQueue(), n.AwardForceTaskQueue(), n.CoordinatorTaskQueue(), n.UserSync("AbCd1234"),
			n.Lane(0), n.LaneQueue(0, 1), n.Budget(), n.CRMWatch(), n.Backfill(spec, false), n.Backfill(spec, true),
			n.ledgerPrefix("Contact"), n.ResolveUser(), n.ResolveRole(), n.CountUsers()}
	}
	grants := NamesOf("grants")
	require.False(t, grants.IsDefault())
	require.Equal(t, "grants", grants.Integration())
	require.Equal(t, "afsync-grants-user-AbCd1234", grants.UserSync("AbCd1234"))
	require.Equal(t, "afsync-grants", grants.TaskQueue())
	for _, other := range []Names{DefaultNames, NamesOf("grants-2"), NamesOf("awards")} {
		for _, a := range names(grants) {
			for _, b := range names(other) {
				require.NotEqual(t, a, b)
				if strings.HasSuffix(b, "-") { // a prefix that selects
					require.False(t, strings.HasPrefix(a, b), "%s begins like %s", a, b)
				}
			}
		}
	}
}

// The reserved words are exactly those the default integration's names
// begin with after "afsync-": an id starting with one is refused, so no
// integration's names begin like the default's.
func TestTheReservedWordsAreThoseOfTheDefaultNames(t *testing.T) {
	spec := pairing.Default()
	n := DefaultNames
	words := map[string]bool{}
	for _, name := range []string{n.AwardForceTaskQueue(), n.CoordinatorTaskQueue(), n.UserSync("AbCd1234"), n.Backfill(spec, false),
		n.Lane(0), n.LaneQueue(0, 1), n.Budget(), n.CRMWatch(), n.ledgerPrefix("Contact"),
		n.ResolveUser(), n.ResolveRole(), n.CountUsers()} {
		rest, ok := strings.CutPrefix(name, "afsync-")
		require.True(t, ok, name)
		first, _, _ := strings.Cut(rest, "-")
		words[first] = true
	}
	require.ElementsMatch(t, slices.Collect(maps.Keys(words)), reservedWords)
	for _, id := range []string{"lane", "ledger-contact", "user-2", "crm"} {
		require.True(t, ReservedIntegrationID(id), id)
	}
	for _, id := range []string{"awards", "grants", "users", "default"} {
		require.False(t, ReservedIntegrationID(id), id)
	}
}

package workflows

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/afsync/afsync/pairing"
)

// Names are the coordinating names of one integration (an Award Force
// account paired with a Salesforce org): its task queues and the IDs of its
// workflows. Several integrations share a Temporal namespace and stay
// apart because nothing of one is named like anything of another: the
// default integration keeps afsync's original names ("afsync",
// "afsync-user-<slug>", "afsync-lane-0", …), so that executions started
// before integrations existed run on unchanged, and integration <id>'s are
// prefixed "afsync-<id>-" ("afsync-grants", "afsync-grants-user-<slug>").
//
// A workflow learns its integration from the worker that runs it, never
// from a global: each integration's workers poll its own task queues and
// register the workflows bound to its Names (RegisterWorkflowsFor), and
// every name a workflow uses comes from namesOf(ctx). The integration of a
// run is thus the task queue its history records, which a replay, a reset
// or a continue-as-new keeps.
//
// A dependent integration (one that reaches its Salesforce org through
// another integration's grant) shares that integration's lanes, their
// queues and its identity ledger: the lane is what keeps one record per
// person in an org, so every integration writing to one org writes through
// its one lane. Everything else (its syncs, backfills, Award Force budget,
// CRM watch, task queues) is its own.
type Names struct {
	integration string
	// org is the integration whose grant reaches the org, when another:
	// its lanes and ledger are the org's. "" for an authenticated one.
	org string
}

// DefaultIntegration is the id of the integration of a deployment without a
// registry: its names are afsync's original ones.
const DefaultIntegration = "default"

// DefaultNames are the default integration's names.
var DefaultNames = Names{}

// NamesOf returns integration id's names; "" is the default integration.
func NamesOf(id string) Names {
	if id == DefaultIntegration {
		id = ""
	}
	return Names{integration: id}
}

// NamesFor returns the names of integration id, dependent on the
// integration dependsOn when set (a registry's depends_on).
func NamesFor(id, dependsOn string) Names {
	n := NamesOf(id)
	if dependsOn != "" {
		n = n.DependentOn(NamesOf(dependsOn))
	}
	return n
}

// DependentOn returns the names of this integration as a dependent of
// the authenticated integration auth: its lanes, their queues and its
// ledger are auth's.
func (n Names) DependentOn(auth Names) Names {
	n.org = auth.Integration()
	return n
}

// of returns the names of integration id as the lanes of n know it: n for
// "" (a lane's own people), else id as a dependent of n's org.
func (n Names) of(id string) Names {
	if id == "" {
		return n
	}
	return NamesOf(id).DependentOn(n.lanes())
}

// Dependent says whether the integration writes through another's lanes
// (DependentOn).
func (n Names) Dependent() bool { return n.org != "" }

// Org is the id of the integration whose lanes the integration writes
// through: its own, or the one it depends on.
func (n Names) Org() string { return n.lanes().Integration() }

// lanes are the names whose lanes, lane queues, coordinator task queue and
// ledger pages are n's: n's own, or those of the integration it depends on.
func (n Names) lanes() Names {
	if n.org == "" {
		return n
	}
	return NamesOf(n.org)
}

// Slug is the slug of the person the lanes know as who (Person), when they
// are the integration's: an org's ledger holds the people of every
// integration writing to it, and each integration's CRM watch starts the
// syncs of its own.
func (n Names) Slug(who string) (string, bool) {
	if n.org == "" {
		return who, !strings.Contains(who, "/")
	}
	return strings.CutPrefix(who, n.Integration()+"/")
}

// Person is the key the integration's lanes and ledger know the person
// slug by: the slug itself for the lanes' own integration, "<id>/<slug>"
// for a dependent one (two Award Force accounts may have equal slugs; a
// slug holds no "/").
func (n Names) Person(slug string) string {
	if n.org == "" {
		return slug
	}
	return personOf(n.Integration(), slug)
}

// personOf is the key of the person slug of integration in a lane and its
// ledger: the slug for the lane's own ("" integration), "<id>/<slug>" for
// a dependent one's. integrationOf reads the integration back.
func personOf(integration, slug string) string {
	if integration == "" {
		return slug
	}
	return integration + "/" + slug
}

// Integration is the integration's id.
func (n Names) Integration() string {
	if n.integration == "" {
		return DefaultIntegration
	}
	return n.integration
}

// IsDefault says whether these are the default integration's names.
func (n Names) IsDefault() bool { return n.integration == "" }

// prefix begins every name.
func (n Names) prefix() string {
	if n.integration == "" {
		return "afsync"
	}
	return "afsync-" + n.integration
}

// TaskQueue carries the integration's workflow tasks and Salesforce
// activities (see the TaskQueue constant).
func (n Names) TaskQueue() string { return n.prefix() }

// AwardForceTaskQueue carries the integration's Award Force activities.
func (n Names) AwardForceTaskQueue() string { return n.prefix() + "-awardforce" }

// CoordinatorTaskQueue carries the workflow tasks of the integration's
// lanes, their queues and its Award Force budget.
func (n Names) CoordinatorTaskQueue() string { return n.prefix() + "-coordinators" }

// UserSync is the workflow ID of the sync of the Award Force user slug.
func (n Names) UserSync(slug string) string { return n.prefix() + "-user-" + slug }

// Backfill names the backfill of a spec (see BackfillWorkflowID).
func (n Names) Backfill(spec *pairing.Spec, dryRun bool) string {
	id := n.prefix() + "-backfill-" + spec.Fingerprint()
	if dryRun {
		id += "-dry-run"
	}
	return id
}

// BackfillSchedule names the schedule of a spec's backfills (`starter
// schedule`).
func (n Names) BackfillSchedule(spec *pairing.Spec) string {
	return n.Backfill(spec, false) + "-schedule"
}

// Lane names lane l.
func (n Names) Lane(l int) string { return fmt.Sprintf("%s-lane-%d", n.lanes().prefix(), l) }

// LaneQueue names segment seq of lane l's queue.
func (n Names) LaneQueue(l, seq int) string {
	return fmt.Sprintf("%s-lane-%d-queue-%d", n.lanes().prefix(), l, seq)
}

// Budget names the Award Force budget of the integration's key.
func (n Names) Budget() string { return n.prefix() + "-awardforce-budget" }

// CRMWatch names the integration's CRM watch.
func (n Names) CRMWatch() string { return n.prefix() + "-crm-watch" }

// ledgerPages begins the IDs of the integration's ledger pages.
func (n Names) ledgerPages() string { return n.lanes().prefix() + "-ledger-" }

// ledgerPrefix begins the IDs of the integration's ledger pages of object.
func (n Names) ledgerPrefix(object string) string {
	return n.ledgerPages() + strings.ToLower(object) + "-"
}

// SearchAttributes are the search attributes every workflow of the
// integration starts with: IntegrationKey, and more (a ledger page's).
func (n Names) SearchAttributes(more ...temporal.SearchAttributeUpdate) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(append([]temporal.SearchAttributeUpdate{IntegrationKey.ValueSet(n.Integration())}, more...)...)
}

// Memo is the memo every workflow of the integration starts with:
// MemoIntegration, and the fields of more.
func (n Names) Memo(more map[string]any) map[string]any {
	m := map[string]any{MemoIntegration: n.Integration()}
	maps.Copy(m, more)
	return m
}

// Summary labels a workflow of the integration in the UI: summary as it
// is for the default integration, after the integration's id for another
// ("grants: Sync Award Force user …"), so that lists of several read apart.
func (n Names) Summary(summary string) string {
	if n.IsDefault() {
		return summary
	}
	return n.integration + ": " + summary
}

// reservedWords are the words the default integration's names begin with
// after "afsync-" ("afsync-user-…", "afsync-lane-…").
var reservedWords = []string{"awardforce", "backfill", "coordinators", "count", "crm", "lane", "ledger", "resolve", "user"}

// ReservedIntegrationID says whether an integration may not take id: its
// first word (up to a dash) is one of reservedWords, so its names would
// begin like the default integration's, and a query of the default's by
// prefix ("afsync-ledger-contact-…") would select them.
func ReservedIntegrationID(id string) bool {
	first, _, _ := strings.Cut(id, "-")
	return slices.Contains(reservedWords, first)
}

// namesKey holds a workflow's Names in its context.
type namesKey struct{}

// withNames gives ctx the names n.
func withNames(ctx workflow.Context, n Names) workflow.Context {
	return workflow.WithValue(ctx, namesKey{}, n)
}

// namesOf returns the names of the integration whose worker runs the
// workflow of ctx.
func namesOf(ctx workflow.Context) Names {
	if n, ok := ctx.Value(namesKey{}).(Names); ok {
		return n
	}
	return DefaultNames
}

package afworker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/afsync/afsync/pairing"
	"github.com/afsync/afsync/workflows"
)

// Reloaded says what a Reload changed, by integration id.
type Reloaded struct {
	// Added are the integrations served from now on.
	Added []string `json:"added,omitempty"`
	// Removed are the integrations no longer served.
	Removed []string `json:"removed,omitempty"`
	// Changed are the integrations served with a new configuration or
	// spec.
	Changed []string `json:"changed,omitempty"`
}

// None says whether nothing changed.
func (r Reloaded) None() bool { return len(r.Added)+len(r.Removed)+len(r.Changed) == 0 }

func (r Reloaded) String() string {
	if r.None() {
		return "no change"
	}
	var parts []string
	for _, p := range []struct {
		what string
		ids  []string
	}{{"added", r.Added}, {"removed", r.Removed}, {"changed", r.Changed}} {
		if len(p.ids) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.ids, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// scheduleRetiredNote marks the schedules Reload paused because their
// integration left the registry: adding it again resumes those, and only
// those (a schedule someone paused stays paused).
const scheduleRetiredNote = "afsync: paused because its integration left the registry; adding it again resumes it"

// retireWatchWait bounds how long Reload waits for a removed integration's
// CRM watch to end before terminating it.
const retireWatchWait = 30 * time.Second

// Reload makes the node serve next instead of the integrations it serves,
// without a restart (the worker calls it when its registry changes):
//
//   - an integration added, or changed (its configuration or spec), is
//     checked first (Preflight: a rejected key, a spec that does not fit
//     its org, or an org another integration served reaches refuses the
//     whole reload, and the node serves on as before);
//     then its task queues are polled, its webhooks received at
//     /webhooks/awardforce/<id>, its CRM watch started and the schedules
//     a removal paused resumed. A changed one's new workers start before
//     its old ones stop, so its queues are never unpolled.
//   - an integration removed has its CRM watch ended (the watch is told
//     its spec no longer watches, and ends while its worker still runs;
//     terminated if it has not within retireWatchWait), its scheduled
//     backfills paused (scheduleRetiredNote), its webhooks answered 404, and
//     then its workers stopped (running activities finish, as at a
//     shutdown). What it had running (syncs, backfills, its lane) waits,
//     durable, for a worker of that integration: adding it again resumes
//     it where it stopped.
//
// The process's own settings (HTTP address, codec, stop timeout) are the
// ones it booted with. Reloads are serialised; each returns what it
// changed.
func (n *Node) Reload(ctx context.Context, next []Served) (Reloaded, error) {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	next = bindDependents(next)
	seen := map[string]bool{}
	for _, s := range next {
		id := s.Names.Integration()
		if seen[id] {
			return Reloaded{}, fmt.Errorf("integration %s is listed twice", id)
		}
		seen[id] = true
		if s.Spec == nil {
			return Reloaded{}, fmt.Errorf("afworker: Reload needs the pairing spec of integration %s", id)
		}
		if _, _, err := apiClients(s.Config); err != nil {
			return Reloaded{}, s.Named(err)
		}
	}
	n.mu.Lock()
	cur := slices.Clone(n.served)
	n.mu.Unlock()
	diff, fresh := diffServed(cur, next)
	if diff.None() {
		return diff, nil
	}

	popts := n.preflight
	popts.Status, popts.Logger = NewStatus(), n.logger // /healthz tells the start-up check, not a reload's
	orgs := map[string]string{}
	for _, s := range next {
		orgs[s.Names.Integration()] = n.orgs[s.Names.Integration()]
	}
	for _, s := range fresh {
		org, err := preflight(ctx, s.Config, s.Spec, popts)
		if err != nil {
			return Reloaded{}, s.Named(fmt.Errorf("not reloaded: %w", err))
		}
		if was := n.orgs[s.Names.Integration()]; was != "" && was != org {
			// Its lane, ledger and syncs remember records of the org it
			// wrote: in another org they are other people's ids, or none.
			return Reloaded{}, s.Named(fmt.Errorf("not reloaded: it reaches Salesforce org %s now, not %s, the org its pairings are in; "+
				"give the integration on the new org an id of its own (it starts afresh), or restore the old connection", org, was))
		}
		orgs[s.Names.Integration()] = org
	}
	if err := oneLanePerOrg(next, orgs); err != nil {
		return Reloaded{}, fmt.Errorf("not reloaded: %w", err)
	}

	stopping, err := n.swap(next, fresh)
	if err != nil {
		return Reloaded{}, err // nothing changed
	}
	n.orgs = orgs
	// Removed integrations' watches end while their workers, not yet
	// stopped, still run them.
	removed := map[string]bool{}
	for _, id := range diff.Removed {
		removed[id] = true
	}
	var errs []error
	for _, s := range cur {
		if removed[s.Names.Integration()] {
			errs = append(errs, s.Named(retire(ctx, n.Client, s)))
		}
	}
	for _, w := range stopping {
		w.Stop()
	}
	n.logWebhooks(fresh)
	for _, s := range fresh {
		if err := WatchCRM(ctx, n.Client, s.Names, s.Spec); err != nil {
			errs = append(errs, s.Named(err))
		}
		errs = append(errs, s.Named(resumeSchedules(ctx, n.Client, s.Names, s.Spec)))
	}
	return diff, errors.Join(errs...)
}

// swap serves next: the workers of fresh (the added and changed
// integrations) start, when the node polls at all, the webhooks go to
// next's, and it returns the workers the caller stops (the removed and
// changed integrations' old ones, still running). On error nothing
// changed.
func (n *Node) swap(next, fresh []Served) ([]*Worker, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	routes := &webhookRoutes{}
	if err := routes.set(n.Client, next, n.Metrics, n.logger); err != nil {
		return nil, err
	}
	var stop []*Worker
	if old := n.workers.Load(); old != nil {
		started, err := n.startWorkers(fresh, len(next) > 1)
		if err != nil {
			return nil, err
		}
		byID := map[string]*Worker{}
		for i, s := range n.served {
			byID[s.Names.Integration()] = (*old)[i]
		}
		ws := make([]*Worker, 0, len(next))
		for _, s := range next {
			id := s.Names.Integration()
			if i := slices.IndexFunc(fresh, func(f Served) bool { return f.Names.Integration() == id }); i >= 0 {
				ws = append(ws, started[i])
				continue
			}
			ws = append(ws, byID[id])
			delete(byID, id)
		}
		for _, w := range byID {
			stop = append(stop, w)
		}
		n.workers.Store(&ws)
	}
	n.routes.by.Store(routes.by.Load())
	n.served = next
	return stop, nil
}

// diffServed compares what a node serves with next: what changed, and
// next's integrations that are new or changed, in next's order.
func diffServed(cur, next []Served) (diff Reloaded, fresh []Served) {
	old := map[string]Served{}
	for _, s := range cur {
		old[s.Names.Integration()] = s
	}
	for _, s := range next {
		id := s.Names.Integration()
		was, ok := old[id]
		delete(old, id)
		switch {
		case !ok:
			diff.Added = append(diff.Added, id)
		case was.Same(s):
			continue
		default:
			diff.Changed = append(diff.Changed, id)
		}
		fresh = append(fresh, s)
	}
	for _, s := range cur {
		if _, gone := old[s.Names.Integration()]; gone {
			diff.Removed = append(diff.Removed, s.Names.Integration())
		}
	}
	return diff, fresh
}

// Same says whether s and o serve an integration alike: the same names,
// configuration, spec and dependents' specs (a registry read again
// unchanged is the same; an integration whose dependents change restarts,
// its activities accepting their specs).
func (s Served) Same(o Served) bool {
	return s.Names == o.Names && reflect.DeepEqual(s.Config, o.Config) && s.Spec.Fingerprint() == o.Spec.Fingerprint() &&
		slices.EqualFunc(s.dependents, o.dependents, func(a, b *pairing.Spec) bool { return a.Fingerprint() == b.Fingerprint() })
}

// retire ends a removed integration's CRM watch and pauses its scheduled
// backfills.
func retire(ctx context.Context, c client.Client, s Served) error {
	var errs []error
	if s.Spec.Watches() {
		errs = append(errs, endWatch(ctx, c, s))
	}
	errs = append(errs, pauseSchedules(ctx, c, s.Names, s.Spec))
	return errors.Join(errs...)
}

// endWatch tells the integration's CRM watch that its spec no longer
// watches, and waits for it to end (its worker still runs); one that has
// not within retireWatchWait is terminated, saying why.
func endWatch(ctx context.Context, c client.Client, s Served) error {
	off := *s.Spec
	off.CRMChanges.Watch = new(false)
	if err := WatchCRM(ctx, c, s.Names, &off); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, retireWatchWait)
	defer cancel()
	err := c.GetWorkflow(wctx, s.Names.CRMWatch(), "").Get(wctx, nil)
	var notFound *serviceerror.NotFound
	switch {
	case err == nil || errors.As(err, &notFound):
		return nil
	case wctx.Err() != nil && ctx.Err() == nil:
		err = c.TerminateWorkflow(ctx, s.Names.CRMWatch(), "", "its integration left the registry and the watch did not end within "+retireWatchWait.String())
		if errors.As(err, &notFound) {
			return nil
		}
		return err
	default:
		return fmt.Errorf("ending the CRM watch: %w", err)
	}
}

// integrationSchedules lists the ids of the integration's schedules: those
// carrying its AfsyncIntegration, and its spec's backfill schedule (which
// may have been made before schedules carried it, and may not exist).
func integrationSchedules(ctx context.Context, c client.Client, names workflows.Names, spec *pairing.Spec) ([]string, error) {
	var ids []string
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{
		Query: fmt.Sprintf("%s = '%s'", workflows.IntegrationKey.GetName(), names.Integration()),
	})
	if err != nil {
		return nil, fmt.Errorf("listing the schedules of integration %s: %w", names.Integration(), err)
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("listing the schedules of integration %s: %w", names.Integration(), err)
		}
		ids = append(ids, e.ID)
	}
	if !slices.Contains(ids, names.BackfillSchedule(spec)) {
		ids = append(ids, names.BackfillSchedule(spec))
	}
	return ids, nil
}

// pauseSchedules pauses the integration's running schedules, marked with
// scheduleRetiredNote.
func pauseSchedules(ctx context.Context, c client.Client, names workflows.Names, spec *pairing.Spec) error {
	return eachSchedule(ctx, c, names, spec, func(h client.ScheduleHandle, st *client.ScheduleState) error {
		if st.Paused {
			return nil
		}
		return h.Pause(ctx, client.SchedulePauseOptions{Note: scheduleRetiredNote})
	})
}

// resumeSchedules resumes the integration's schedules that a removal
// paused (scheduleRetiredNote).
func resumeSchedules(ctx context.Context, c client.Client, names workflows.Names, spec *pairing.Spec) error {
	return eachSchedule(ctx, c, names, spec, func(h client.ScheduleHandle, st *client.ScheduleState) error {
		if !st.Paused || st.Note != scheduleRetiredNote {
			return nil
		}
		return h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: "afsync: its integration is in the registry again"})
	})
}

// eachSchedule calls do with each of the integration's schedules
// (integrationSchedules) that exists, and its state.
func eachSchedule(ctx context.Context, c client.Client, names workflows.Names, spec *pairing.Spec, do func(client.ScheduleHandle, *client.ScheduleState) error) error {
	ids, err := integrationSchedules(ctx, c, names, spec)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		h := c.ScheduleClient().GetHandle(ctx, id)
		d, err := h.Describe(ctx)
		var notFound *serviceerror.NotFound
		if err == nil {
			err = do(h, d.Schedule.State)
		}
		if err != nil && !errors.As(err, &notFound) {
			errs = append(errs, fmt.Errorf("schedule %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

package sla

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// ServiceChange is a state change of one service, ready to be written as
// an sla_state_change point (StateChangePoint).
type ServiceChange struct {
	Service string
	StateChange
}

// Tracker turns live observations (probe checks, host and VM state
// changes) into service state changes, incrementally. It is the live form
// of ChangesFromChecks + ServiceChanges and gives the same timeline: it only
// emits changes before the settled horizon, the time before which no
// back-dated DOWN can still appear (a probe in the middle of a failure run
// holds the horizon at the run's first failure). It reads no clock: the
// caller's scheduler passes now to Advance.
type Tracker struct {
	cat        Catalog
	debouncers map[string]*Debouncer     // probe name ->
	comp       map[string][]StateChange  // component ID -> changes, trimmed to the horizon
	dependents map[string]map[string]int // component ID -> services (index into cat.Services)
	dirty      map[int]bool
	last       map[int]StateChange
	horizon    time.Time
}

// NewTracker returns a tracker that emits changes from start on. Every
// service starts UNKNOWN.
func NewTracker(cat Catalog, checks CheckPolicy, start time.Time) (*Tracker, error) {
	if err := cat.Validate(); err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	if err := checks.Validate(); err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	t := &Tracker{
		cat: cat, debouncers: map[string]*Debouncer{}, comp: map[string][]StateChange{},
		dependents: map[string]map[string]int{}, dirty: map[int]bool{}, last: map[int]StateChange{},
		horizon: start,
	}
	// Placements grow as VMs are seen to move (ObservePlacement): the
	// tracker keeps its own copy.
	t.cat.Placements = slices.Clone(cat.Placements)
	byVM := placementsByVM(cat.Placements)
	dep := t.dep
	for i, s := range cat.Services {
		for _, h := range s.RunsOn.Hosts {
			dep(ComponentID(KindHost, h), i)
		}
		for _, v := range s.RunsOn.VMs {
			dep(ComponentID(KindVM, v), i)
			for _, p := range byVM[v] {
				dep(ComponentID(KindHost, p.Host), i)
			}
		}
		for _, p := range s.RunsOn.Probes {
			dep(ComponentID(KindProbe, p), i)
			if t.debouncers[p] == nil {
				t.debouncers[p] = NewDebouncer(checks)
			}
		}
	}
	return t, nil
}

func (t *Tracker) dep(id string, svc int) {
	if t.dependents[id] == nil {
		t.dependents[id] = map[string]int{}
	}
	t.dependents[id][t.cat.Services[svc].Name] = svc
}

// ObservePlacement records that vm runs on host from at on, as libvirt
// shows it (a live migration, by an operator or by consolidation): from
// then on the services on vm follow host's state, not the configured
// placement's ("a host outage is an outage of every VM on it" means the
// VMs on it now). A placement dated before the horizon takes effect at
// the horizon. It reports whether the placement changed.
func (t *Tracker) ObservePlacement(vm, host string, at time.Time) bool {
	svcs := t.dependents[ComponentID(KindVM, vm)]
	if len(svcs) == 0 || host == "" || t.Placement(vm) == host {
		return false
	}
	if at.Before(t.horizon) {
		at = t.horizon
	}
	t.cat.Placements = append(t.cat.Placements, Placement{VM: vm, Host: host, Since: at})
	for _, i := range svcs {
		t.dep(ComponentID(KindHost, host), i)
		t.dirty[i] = true
	}
	return true
}

// Placement returns the host vm is placed on last ("" if none).
func (t *Tracker) Placement(vm string) string {
	var host string
	var since time.Time
	for _, p := range t.cat.Placements {
		if p.VM == vm && (host == "" || !p.Since.Before(since)) {
			host, since = p.Host, p.Since
		}
	}
	return host
}

// ObserveCheck feeds one result of the named probe (in time order).
func (t *Tracker) ObserveCheck(probe string, c Check) {
	d := t.debouncers[probe]
	if d == nil {
		return // no service uses this probe
	}
	t.record(ComponentID(KindProbe, probe), d.Observe(c))
}

// ObserveComponent records a host or VM state change (from libvirt events,
// host polls or collector errors), e.g. ObserveComponent("host:hv1",
// StateChange{At: t, State: StateDown, Cause: CauseEnergyAction}). A change
// dated before the horizon is already history and is moved to the horizon.
func (t *Tracker) ObserveComponent(id string, c StateChange) {
	if c.At.Before(t.horizon) {
		c.At = t.horizon
	}
	t.record(id, []StateChange{c})
}

func (t *Tracker) record(id string, cs []StateChange) {
	if len(cs) == 0 {
		return
	}
	l := t.comp[id]
	for _, c := range cs {
		// Keep each component's changes in time order.
		i := sort.Search(len(l), func(i int) bool { return l[i].At.After(c.At) })
		l = append(l, StateChange{})
		copy(l[i+1:], l[i:])
		l[i] = c
	}
	t.comp[id] = l
	for _, svc := range t.dependents[id] {
		t.dirty[svc] = true
	}
}

// Horizon is the time before which every service change has been emitted.
func (t *Tracker) Horizon() time.Time { return t.horizon }

// Advance moves the tracker to now and returns the service changes that
// became final, in time order per service.
func (t *Tracker) Advance(now time.Time) []ServiceChange {
	h := now
	for name, d := range t.debouncers {
		t.record(ComponentID(KindProbe, name), d.Advance(now))
		if s := d.Settled(now); s.Before(h) {
			h = s
		}
	}
	if !h.After(t.horizon) {
		return nil
	}
	var out []ServiceChange
	svcs := make([]int, 0, len(t.dirty))
	for i := range t.dirty {
		svcs = append(svcs, i)
	}
	sort.Ints(svcs)
	for _, i := range svcs {
		svc := t.cat.Services[i]
		last, emitted := t.last[i]
		if !emitted {
			last = StateChange{State: StateUnknown}
		}
		pending := false
		for _, c := range ServiceChanges(svc, t.cat.Placements, t.comp) {
			if c.At.Before(t.horizon) {
				continue
			}
			if !c.At.Before(h) {
				pending = true
				break
			}
			if !c.same(last) {
				out = append(out, ServiceChange{Service: svc.Name, StateChange: c})
				last = c
			}
		}
		t.last[i] = last
		if !pending {
			delete(t.dirty, i)
		}
	}
	t.horizon = h
	t.trimPlacements(h)
	for id, l := range t.comp {
		// Keep the last change before the horizon (the state in force) and
		// everything after it.
		k := sort.Search(len(l), func(i int) bool { return !l[i].At.Before(h) })
		if k > 1 {
			t.comp[id] = append(l[:0], l[k-1:]...)
		}
	}
	return out
}

// Reassert returns every service's current state stamped at the horizon.
// Writing these once a month (e.g. at the first tick of the month) keeps
// the state in force at a month's start within a short read of the
// month's own changes; repeating a state changes nothing in a timeline.
func (t *Tracker) Reassert() []ServiceChange {
	out := make([]ServiceChange, 0, len(t.last))
	for i, svc := range t.cat.Services {
		if c, ok := t.last[i]; ok {
			c.At = t.horizon
			out = append(out, ServiceChange{Service: svc.Name, StateChange: c})
		}
	}
	return out
}

// trimPlacements keeps, for each VM, the last placement before h (the one
// in force) and those after it, so that months of migrations cost nothing.
func (t *Tracker) trimPlacements(h time.Time) {
	latest := map[string]time.Time{} // VM -> Since of its placement in force at h
	for _, p := range t.cat.Placements {
		if l, ok := latest[p.VM]; p.Since.Before(h) && (!ok || !p.Since.Before(l)) {
			latest[p.VM] = p.Since
		}
	}
	kept := t.cat.Placements[:0]
	for _, p := range t.cat.Placements {
		if l, ok := latest[p.VM]; !ok || !p.Since.Before(l) {
			kept = append(kept, p)
		}
	}
	clear(t.cat.Placements[len(kept):])
	t.cat.Placements = kept
}

// Placements is the number of placements the tracker holds.
func (t *Tracker) Placements() int { return len(t.cat.Placements) }

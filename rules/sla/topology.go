package sla

import (
	"sort"
	"time"
)

// Component kinds, the prefixes of component IDs ("host:hv1", "vm:web1",
// "probe:web-http").
const (
	KindHost  = "host"
	KindVM    = "vm"
	KindProbe = "probe"
)

// ComponentID names a component of a kind.
func ComponentID(kind, name string) string { return kind + ":" + name }

// ServiceChanges derives a service's timeline from its components'
// timelines (keyed by ComponentID), following the stack in mission.md
// ("a failure low in the stack takes everything above it down"):
//
//   - a VM is down while the host it is placed on is down (or in
//     maintenance), whatever the VM reports; it is unknown while either has
//     no data;
//   - the infrastructure (hosts and VMs in RunsOn) is up while at least
//     Redundancy of them are up (all of them if 0), unknown while the
//     unknown ones could still make up the difference, else down;
//   - every probe must be up; one down probe is a down service;
//   - evidence of a failure from either side makes the service DOWN (the
//     infrastructure's cause first: it explains the probe failure); else
//     evidence that it works from either side makes it UP; only with no
//     valid evidence at all is it UNKNOWN. (The precedence UNKNOWN > DOWN
//     applies to time without data, not to one silent source among others.)
//
// Zabbix propagates by status rules on a service tree (research §1.1);
// this is the same idea fixed to the virtualisation stack, with unknown as
// a state of its own. Cost is linear in the number of changes.
func ServiceChanges(svc Service, placements []Placement, components map[string][]StateChange) []StateChange {
	byVM := placementsByVM(placements)
	type event struct {
		at  time.Time
		id  string // component changed, or "" for a placement
		ch  StateChange
		vm  string
		hst string
	}
	var events []event
	add := func(id string) {
		for _, c := range components[id] {
			events = append(events, event{at: c.At, id: id, ch: c})
		}
	}
	seenHost := map[string]bool{}
	initial := map[string]string{}
	for _, h := range svc.RunsOn.Hosts {
		if !seenHost[h] {
			seenHost[h] = true
			add(ComponentID(KindHost, h))
		}
	}
	for _, v := range svc.RunsOn.VMs {
		add(ComponentID(KindVM, v))
		for _, p := range byVM[v] {
			if p.Since.IsZero() {
				initial[v] = p.Host // placed from the beginning
			} else {
				events = append(events, event{at: p.Since, vm: v, hst: p.Host})
			}
			if !seenHost[p.Host] {
				seenHost[p.Host] = true
				add(ComponentID(KindHost, p.Host))
			}
		}
	}
	for _, p := range svc.RunsOn.Probes {
		add(ComponentID(KindProbe, p))
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })

	cur := map[string]StateChange{}
	host := initial
	var out []StateChange
	last := StateChange{State: StateUnknown}
	for i := 0; i < len(events); {
		t := events[i].at
		for ; i < len(events) && events[i].at.Equal(t); i++ {
			if e := events[i]; e.id != "" {
				cur[e.id] = e.ch
			} else {
				host[e.vm] = e.hst
			}
		}
		s := combine(svc, cur, host)
		if !s.same(last) {
			s.At = t
			out = append(out, s)
			last = s
		}
	}
	return out
}

// member is one component's effective state with its cause.
type member struct {
	state    State
	cause    string
	severity Severity
}

func effective(id string, c StateChange, ok bool) member {
	if !ok {
		return member{state: StateUnknown, cause: "no data for " + id}
	}
	switch c.State {
	case StateDown, StatePlanned:
		cause := c.Cause
		if cause == "" {
			if c.State == StatePlanned {
				cause = CauseUnannounced
			} else {
				cause = id + " down"
			}
		}
		return member{state: StateDown, cause: cause, severity: c.Severity}
	case StateUp:
		return member{state: StateUp}
	}
	cause := c.Cause
	if cause == "" {
		cause = "no data for " + id
	}
	return member{state: StateUnknown, cause: cause}
}

func combine(svc Service, cur map[string]StateChange, host map[string]string) StateChange {
	var infra []member
	for _, h := range svc.RunsOn.Hosts {
		id := ComponentID(KindHost, h)
		c, ok := cur[id]
		infra = append(infra, effective(id, c, ok))
	}
	for _, v := range svc.RunsOn.VMs {
		id := ComponentID(KindVM, v)
		c, ok := cur[id]
		m := effective(id, c, ok)
		if h, placed := host[v]; placed {
			hid := ComponentID(KindHost, h)
			hc, hok := cur[hid]
			hm := effective(hid, hc, hok)
			switch {
			case hm.state == StateDown:
				m = hm
			case m.state == StateDown:
			case hm.state == StateUnknown:
				m = hm
			}
		}
		infra = append(infra, m)
	}
	infraState := judge(infra, svc.Redundancy)
	var probes []member
	for _, p := range svc.RunsOn.Probes {
		id := ComponentID(KindProbe, p)
		c, ok := cur[id]
		probes = append(probes, effective(id, c, ok))
	}
	probeState := judge(probes, 0)
	switch {
	case infraState.state == StateDown:
		return infraState.change()
	case probeState.state == StateDown:
		return probeState.change()
	case infraState.state == StateUp || probeState.state == StateUp:
		// Valid evidence that the service works and none that it fails.
		return StateChange{State: StateUp}
	case len(infra) > 0:
		return infraState.change()
	}
	return probeState.change()
}

// judge applies "need of n up" to members (need 0: all); no members is
// UNKNOWN with no cause. The cause is the first failing member's.
func judge(ms []member, need int) member {
	if len(ms) == 0 {
		return member{state: StateUnknown}
	}
	if need == 0 {
		need = len(ms)
	}
	up, unknown := 0, 0
	var firstDown, firstUnknown *member
	for i := range ms {
		switch ms[i].state {
		case StateUp:
			up++
		case StateDown:
			if firstDown == nil {
				firstDown = &ms[i]
			}
		default:
			unknown++
			if firstUnknown == nil {
				firstUnknown = &ms[i]
			}
		}
	}
	switch {
	case up >= need:
		return member{state: StateUp}
	case up+unknown >= need:
		return *firstUnknown
	}
	return *firstDown
}

func (m member) change() StateChange {
	return StateChange{State: m.state, Cause: m.cause, Severity: m.severity}
}

package slactl

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/sla"
)

// Measurements the tap reads besides probe (docs/schema.md). They are
// spelled out rather than imported: adapters/libvirt needs cgo, and the
// controller must not.
const (
	measurementHost     = "host"
	measurementVM       = "vm"
	measurementVMEvent  = "vm_event"
	measurementCollErrs = "collector_errors"
	kindLibvirt         = "libvirt"
)

// Tap returns a sink that hands every point to next and then reads it for
// SLA state. It never drops or changes a point, and it does not block on
// anything but the controller's lock.
func (c *Controller) Tap(next collector.Sink) collector.Sink { return &tap{c: c, next: next} }

type tap struct {
	c    *Controller
	next collector.Sink
}

func (t *tap) Write(ctx context.Context, pts []point.Point) error {
	err := t.next.Write(ctx, pts)
	t.c.Observe(pts)
	return err
}

// vmSighting is what one host last said about a VM.
type vmSighting struct {
	state string // libvirt state name: running, shutoff, ...
	at    time.Time
}

// Observe reads points for SLA state, as the tap does:
//
//   - probe: a check of the probe tagged probe;
//   - host: the host answered a poll: UP;
//   - collector_errors of kind libvirt: the poll of the host named by
//     source failed: UNKNOWN (not DOWN: the monitor lost sight of it), but
//     a host known to be DOWN stays DOWN;
//   - vm and vm_event: what a host says about a VM. A VM is UP while any
//     host runs it (a migration is never an outage), DOWN when a host has
//     it paused, shut off or crashed and none runs it, UNKNOWN when no
//     host lists it any more. A host's poll lists all its VMs, so a VM
//     missing from the batch of a host point has left that host, as has
//     one stopped with detail "migrated"; the source's pause at the end of
//     a live migration is not an outage.
//
// Only VMs the catalog depends on are followed, and every libvirt host
// (a VM may be migrated to any). The one host that runs a followed VM
// becomes its placement (sla.Tracker.ObservePlacement): after a migration
// its services follow the new host, not the configured one. An
// observation older than the latest one of the same thing is dropped.
func (c *Controller) Observe(pts []point.Point) {
	// Most writes are meter samples: they pass without the lock or maps.
	if !slices.ContainsFunc(pts, relevant) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var listings map[string]time.Time // host -> time of its poll in this batch
	for _, p := range pts {
		if p.Measurement == measurementHost {
			if listings == nil {
				listings = map[string]time.Time{}
			}
			listings[p.Tags["host"]] = p.Time
		}
	}
	touched := map[string]time.Time{} // VM -> time of the latest sighting
	touch := func(vm string, at time.Time) {
		if at.After(touched[vm]) {
			touched[vm] = at
		}
	}
	listed := map[string]map[string]bool{} // host -> VMs in its listing
	for _, p := range pts {
		switch p.Measurement {
		case sla.MeasurementProbe:
			c.observeProbe(p)
		case measurementHost:
			// Every libvirt host is followed, not only the catalog's: a VM
			// may be migrated to any of them.
			c.setComponent(sla.ComponentID(sla.KindHost, p.Tags["host"]), sla.StateChange{At: p.Time, State: sla.StateUp})
		case measurementCollErrs:
			h := p.Tags["source"]
			if p.Tags["kind"] != kindLibvirt {
				continue
			}
			id := sla.ComponentID(sla.KindHost, h)
			if c.comp[id].State == sla.StateDown {
				continue // e.g. powered down by the executor: polls fail, it is still down
			}
			c.setComponent(id, sla.StateChange{At: p.Time, State: sla.StateUnknown,
				Cause: fmt.Sprintf("libvirt poll of %s failed", h)})
		case measurementVM:
			h, vm := p.Tags["host"], p.Tags["vm"]
			if _, inListing := listings[h]; inListing {
				if listed[h] == nil {
					listed[h] = map[string]bool{}
				}
				listed[h][vm] = true
			}
			if !c.vms[vm] {
				continue
			}
			if s, _ := p.Fields["state"].(string); c.sight(vm, h, s, p.Time) {
				touch(vm, p.Time)
			}
		case measurementVMEvent:
			h, vm := p.Tags["host"], p.Tags["vm"]
			if !c.vms[vm] {
				continue
			}
			event, _ := p.Fields["event"].(string)
			detail, _ := p.Fields["detail"].(string)
			state, _ := p.Fields["state"].(string)
			switch {
			case event == "undefined", event == "stopped" && detail == "migrated":
				if c.unsight(vm, h, p.Time) {
					touch(vm, p.Time)
				}
			case event == "suspended" && detail == "migrated":
				// The source pauses the VM for the last copy of a live
				// migration: it is moving, not failing (still UP), and no
				// longer where it runs: its new host's resume places it.
				if c.sight(vm, h, stateMigrating, p.Time) {
					touch(vm, p.Time)
				}
			case state != "":
				if c.sight(vm, h, state, p.Time) {
					touch(vm, p.Time)
				}
			}
		}
	}
	// VMs a host no longer lists have left it.
	for h, at := range listings {
		for vm, on := range c.vmOn {
			if _, was := on[h]; was && !listed[h][vm] && c.unsight(vm, h, at) {
				touch(vm, at)
			}
		}
	}
	vms := make([]string, 0, len(touched))
	for vm := range touched {
		vms = append(vms, vm)
	}
	sort.Strings(vms)
	for _, vm := range vms {
		ch := vmState(vm, c.vmOn[vm])
		ch.At = touched[vm]
		// The host that runs the VM is where its services now live.
		if h := runningOn(c.vmOn[vm]); h != "" && c.tracker.ObservePlacement(vm, h, ch.At) {
			c.log.Info("vm placement follows libvirt", "vm", vm, "host", h, "at", ch.At)
		}
		c.setComponent(sla.ComponentID(sla.KindVM, vm), ch)
	}
}

// stateMigrating is a source host's sighting of a VM it paused to hand it
// over in a live migration: UP, but not a placement.
const stateMigrating = "migrating"

// relevant reports a point Observe reads.
func relevant(p point.Point) bool {
	switch p.Measurement {
	case sla.MeasurementProbe, measurementHost, measurementVM, measurementVMEvent:
		return true
	case measurementCollErrs:
		return p.Tags["kind"] == kindLibvirt
	}
	return false
}

// runningOn is the one host that runs the VM, or "" when none or several
// do (mid-migration both may list it).
func runningOn(on map[string]vmSighting) string {
	host := ""
	for h, s := range on {
		if s.state == "running" || s.state == "blocked" {
			if host != "" {
				return ""
			}
			host = h
		}
	}
	return host
}

// ObserveComponent records a host's or VM's state that the data path
// cannot see, e.g. the executor powering a host down:
// ObserveComponent("host:hv3", sla.StateChange{At: t, State: sla.StateDown,
// Cause: sla.CauseEnergyAction}). A host stays DOWN through failed polls
// until one succeeds.
func (c *Controller) ObserveComponent(id string, ch sla.StateChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setComponent(id, ch)
}

func (c *Controller) observeProbe(p point.Point) {
	up, ok := p.Fields["up"].(bool)
	if !ok {
		return
	}
	ms, _ := p.Fields["response_ms"].(float64)
	msg, _ := p.Fields["error"].(string)
	c.tracker.ObserveCheck(p.Tags["probe"], sla.Check{At: p.Time, OK: up, ResponseMs: ms, Error: msg})
}

// setComponent passes a component's state to the tracker when it differs
// from the latest one; an observation older than that is dropped. A new
// cause alone is no change: a destroyed VM reports shutdown, then shutoff
// a millisecond later, and that is one outage with the first cause.
func (c *Controller) setComponent(id string, ch sla.StateChange) {
	last, ok := c.comp[id]
	if ok && ch.At.Before(last.At) {
		return
	}
	if ok && last.State == ch.State && last.Severity == ch.Severity {
		last.At = ch.At // newer, so later observations are not dropped as older
		c.comp[id] = last
		return
	}
	c.comp[id] = ch
	c.tracker.ObserveComponent(id, ch)
}

// sight records what host h says about vm at; false if it is older than
// what h said before.
func (c *Controller) sight(vm, h, state string, at time.Time) bool {
	on := c.vmOn[vm]
	if on == nil {
		on = map[string]vmSighting{}
		c.vmOn[vm] = on
	}
	if last, ok := on[h]; ok && at.Before(last.at) {
		return false
	}
	on[h] = vmSighting{state: state, at: at}
	return true
}

// unsight records that vm is no longer on host h since at.
func (c *Controller) unsight(vm, h string, at time.Time) bool {
	last, ok := c.vmOn[vm][h]
	if !ok || at.Before(last.at) {
		return false
	}
	delete(c.vmOn[vm], h)
	return true
}

// vmState combines what the hosts say about a VM.
func vmState(vm string, on map[string]vmSighting) sla.StateChange {
	hosts := make([]string, 0, len(on))
	for h := range on {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		if s := on[h].state; s == "running" || s == "blocked" || s == stateMigrating {
			return sla.StateChange{State: sla.StateUp}
		}
	}
	for _, h := range hosts {
		switch s := on[h].state; s {
		case "paused", "shutdown", "shutoff", "crashed", "pmsuspended":
			return sla.StateChange{State: sla.StateDown, Cause: fmt.Sprintf("vm %s %s on %s", vm, s, h)}
		}
	}
	if len(hosts) == 0 {
		return sla.StateChange{State: sla.StateUnknown, Cause: fmt.Sprintf("vm %s is not listed by any monitored host", vm)}
	}
	return sla.StateChange{State: sla.StateUnknown, Cause: fmt.Sprintf("vm %s state %q on %s", vm, on[hosts[0]].state, hosts[0])}
}

package shedctl

import (
	"fmt"
	"sort"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/shed"
)

// Domain is one active domain as libvirt reports it.
type Domain struct {
	Name   string
	MemMiB int64
}

// Live is what one host's hypervisor answered (Err set: it did not).
type Live struct {
	Domains []Domain
	Err     error
}

// Overlay returns the inventory with the live placement over it: a VM
// runs where libvirt sees it; a VM no answering host runs is left out; a
// domain the inventory does not know is added pinned (its demand is
// unknown, so its host stays on); a host that answers is on; an on host
// that does not answer is put in maintenance (neither drained nor a
// destination). notes say what changed.
func Overlay(inv shed.Inventory, live map[string]Live) (shed.Inventory, []string) {
	var notes []string
	out := inv
	out.Hosts = append([]shed.Host(nil), inv.Hosts...)
	known := map[string]bool{}
	answered := map[string]bool{}
	for i := range out.Hosts {
		h := &out.Hosts[i]
		known[h.Name] = true
		l, ok := live[h.Name]
		switch {
		case !ok:
		case l.Err == nil:
			answered[h.Name] = true
			if h.Off {
				h.Off = false
				notes = append(notes, fmt.Sprintf("%s answers: on", h.Name))
			}
		case !h.Off:
			h.Maintenance = true
			notes = append(notes, fmt.Sprintf("%s does not answer (%v): kept out of the plan", h.Name, l.Err))
		}
	}
	where := map[string]string{}
	mem := map[string]int64{}
	hosts := make([]string, 0, len(live))
	for h := range live {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		if !answered[h] {
			continue
		}
		for _, d := range live[h].Domains {
			where[d.Name], mem[d.Name] = h, d.MemMiB
		}
	}
	seen := map[string]bool{}
	out.VMs = nil
	for _, v := range inv.VMs {
		seen[v.Name] = true
		if h, ok := where[v.Name]; ok {
			if h != v.Host {
				notes = append(notes, fmt.Sprintf("%s runs on %s (inventory: %s)", v.Name, h, v.Host))
				v.Host = h
			}
		} else if answered[v.Host] {
			notes = append(notes, fmt.Sprintf("%s does not run on any answering host: left out", v.Name))
			continue
		}
		out.VMs = append(out.VMs, v)
	}
	var extra []string
	for vm := range where {
		if !seen[vm] && known[where[vm]] {
			extra = append(extra, vm)
		}
	}
	sort.Strings(extra)
	for _, vm := range extra {
		out.VMs = append(out.VMs, shed.VM{Name: vm, Host: where[vm], MemoryGB: float64(mem[vm]) / 1024, Pinned: true})
		notes = append(notes, fmt.Sprintf("%s on %s is not in the inventory: pinned (its demand is unknown)", vm, where[vm]))
	}
	return out, notes
}

// StepResult is one step of a submitted plan and whether it is done.
type StepResult struct {
	Step shed.Step
	Done bool
}

// Apply returns the inventory as a plan's done steps leave it: migrated
// VMs on their destinations, powered-off hosts off (LastPowerOff at, one
// more power cycle), powered-on hosts on, set-point stages active or not.
// A plan that never ran (advise mode) is applied as if every step were
// done, so that its restore can be shown.
func Apply(inv shed.Inventory, steps []StepResult, at time.Time) shed.Inventory {
	out := inv
	out.Hosts = append([]shed.Host(nil), inv.Hosts...)
	out.VMs = append([]shed.VM(nil), inv.VMs...)
	out.Stages = append([]shed.FacilityStage(nil), inv.Stages...)
	host := func(n string) *shed.Host {
		for i := range out.Hosts {
			if out.Hosts[i].Name == n {
				return &out.Hosts[i]
			}
		}
		return nil
	}
	for _, r := range steps {
		if !r.Done {
			continue
		}
		s := r.Step
		switch s.Kind {
		case shed.StepMigrate:
			for i := range out.VMs {
				if out.VMs[i].Name == s.VM {
					out.VMs[i].Host, out.VMs[i].LastMigrated = s.To, at
				}
			}
		case shed.StepPowerOff:
			if h := host(s.Host); h != nil {
				h.Off, h.LastPowerOff = true, at
				h.PowerCyclesToday++
			}
		case shed.StepPowerOn:
			if h := host(s.Host); h != nil {
				h.Off = false
			}
		case shed.StepSetpoint, shed.StepSetpointRevert:
			for i := range out.Stages {
				if out.Stages[i].Name == s.Stage {
					out.Stages[i].Active = s.Kind == shed.StepSetpoint
				}
			}
		}
	}
	return out
}

// PowerOnLead is the longest power-on latency of the hosts a plan powers
// off (the host's own, else the policy's).
func PowerOnLead(inv shed.Inventory, pol shed.Policy, p shed.Plan) time.Duration {
	pol = pol.WithDefaults()
	var lead time.Duration
	for _, s := range p.Steps {
		if s.Kind != shed.StepPowerOff {
			continue
		}
		d := pol.PowerOnLatency.D()
		for _, h := range inv.Hosts {
			if h.Name == s.Host && h.PowerOnLatency > 0 {
				d = h.PowerOnLatency.D()
			}
		}
		lead = max(lead, d)
	}
	return lead
}

// Sheddable is what the site can shed now, for the demand controller's
// cap: each host the most aggressive plan the constraints allow releases
// (its power_off step's saving, ready once its drain and shutdown are
// over), and each facility stage not applied yet. consolidate is that
// plan (shed.NewPlan with a consolidate request on the live inventory).
func Sheddable(inv shed.Inventory, consolidate shed.Plan) []demand.Sheddable {
	var out []demand.Sheddable
	for _, s := range consolidate.Steps {
		if s.Kind != shed.StepPowerOff || s.ExpectedSavingKW <= 0 {
			continue
		}
		out = append(out, demand.Sheddable{Name: "host " + s.Host, Kind: demand.KindIT, KW: s.ExpectedSavingKW,
			Latency: clampLatency(s.ExpectedStart.D() + s.ExpectedDuration.D())})
	}
	for _, st := range inv.Stages {
		if st.Active || st.KW <= 0 {
			continue
		}
		out = append(out, demand.Sheddable{Name: "stage " + st.Name, Kind: demand.KindFacility, KW: st.KW,
			Latency: clampLatency(st.Latency.D())})
	}
	return out
}

// clampLatency keeps a latency inside what demand accepts ([0, 1h)): a
// load that takes an hour or more to act never helps a block anyway.
func clampLatency(d time.Duration) time.Duration {
	return min(max(d, 0), time.Hour-time.Second)
}

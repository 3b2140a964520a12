package shed

import (
	"fmt"
	"slices"
	"time"
)

// state is the planner's working copy of an inventory.
type state struct {
	pol   Policy
	now   time.Time
	pue   float64
	hosts []*hostState
	vms   []*vmState
	byVM  map[string]int
	// units are the movable groups of VMs (one VM, or an affinity group's
	// members on one host), per host.
	left      []VMReason
	hostsKept []HostReason
	refCPU    float64 // mean host CPU capacity, to normalise sizes
	refMem    float64
	// moved are a restore's rebalancing migrations so far.
	moved []move
	// extraTries bounds how many single hosts maxRelease tries after the
	// longest releasable prefix without success in a row.
	extraTries int
}

type hostState struct {
	idx    int
	h      Host
	off    bool
	cpuCap float64 // capacity x ceiling
	memCap float64
	cpu    float64 // demand placed on it
	mem    float64
	vms    []int // VMs on it now
	// forced is why the host must stay on ("" when it may be drained).
	forced string
	// antiAff counts VMs per anti-affinity group on it; aff the affinity
	// groups it holds.
	antiAff map[string]int
	aff     map[string]int
	// room and rack number the host's room and rack (site/room/rack).
	room, rack int
}

type vmState struct {
	idx  int
	v    VM
	host int
	// frozen is why the VM may not move ("" when it may).
	frozen string
	detail string
}

// HostReason is a host the planner would not drain, and why.
type HostReason struct {
	Host   string `json:"host"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

func newState(inv Inventory, pol Policy, now time.Time) (*state, error) {
	s := &state{pol: pol, now: now, pue: inv.PUE, byVM: make(map[string]int, len(inv.VMs))}
	s.extraTries = max(8, 50_000/max(len(inv.VMs), 1))
	if s.pue <= 0 {
		s.pue = 1
	}
	byHost := make(map[string]int, len(inv.Hosts))
	for i, h := range inv.Hosts {
		if _, dup := byHost[h.Name]; dup {
			return nil, fmt.Errorf("host %q listed twice", h.Name)
		}
		if h.CPU <= 0 || h.MemoryGB <= 0 {
			return nil, fmt.Errorf("host %q: cpu %.2f, memory_gb %.2f: want both > 0", h.Name, h.CPU, h.MemoryGB)
		}
		byHost[h.Name] = i
		s.hosts = append(s.hosts, &hostState{idx: i, h: h, off: h.Off,
			cpuCap: h.CPU * pol.CPUCeiling, memCap: h.MemoryGB * pol.MemCeiling,
			antiAff: map[string]int{}, aff: map[string]int{}})
		s.refCPU += h.CPU
		s.refMem += h.MemoryGB
	}
	rooms, racks := map[string]int{}, map[string]int{}
	for _, h := range s.hosts {
		room := h.h.Site + "/" + h.h.Room
		rack := room + "/" + h.h.Rack
		if _, ok := rooms[room]; !ok {
			rooms[room] = len(rooms)
		}
		if _, ok := racks[rack]; !ok {
			racks[rack] = len(racks)
		}
		h.room, h.rack = rooms[room], racks[rack]
	}
	if n := len(inv.Hosts); n > 0 {
		s.refCPU /= float64(n)
		s.refMem /= float64(n)
	}
	budget := map[string]float64{}
	for _, sv := range inv.Services {
		if sv.ErrorBudgetRemaining != nil {
			budget[sv.Name] = *sv.ErrorBudgetRemaining
		}
	}
	for i, v := range inv.VMs {
		if _, dup := s.byVM[v.Name]; dup {
			return nil, fmt.Errorf("vm %q listed twice", v.Name)
		}
		hi, ok := byHost[v.Host]
		if !ok {
			return nil, fmt.Errorf("vm %q: host %q is not in the inventory", v.Name, v.Host)
		}
		if v.CPU < 0 || v.MemoryGB < 0 {
			return nil, fmt.Errorf("vm %q: negative demand", v.Name)
		}
		s.byVM[v.Name] = i
		vs := &vmState{idx: i, v: v, host: hi}
		h := s.hosts[hi]
		if h.off {
			return nil, fmt.Errorf("vm %q runs on host %q, which is off", v.Name, v.Host)
		}
		switch {
		case v.Pinned:
			vs.frozen = ReasonPinned
		case v.LocalDisk:
			vs.frozen = ReasonLocalDisk
		case v.NotLiveMigratable:
			vs.frozen = ReasonNotLive
		case slices.Contains(pol.FrozenClasses, v.SLAClass):
			vs.frozen, vs.detail = ReasonSLAClass, fmt.Sprintf("SLA class %q never moves", v.SLAClass)
		case v.Service != "" && hasBudget(budget, v.Service) && budget[v.Service] < pol.MinErrorBudget:
			vs.frozen = ReasonErrorBudget
			vs.detail = fmt.Sprintf("%.0f%% of the error budget left, policy needs %.0f%%", budget[v.Service]*100, pol.MinErrorBudget*100)
		case !v.LastMigrated.IsZero() && now.Sub(v.LastMigrated) < pol.MigrationCooldown.D():
			vs.frozen = ReasonMovedRecent
			vs.detail = fmt.Sprintf("migrated at %s", v.LastMigrated.Format(time.RFC3339))
		}
		s.vms = append(s.vms, vs)
		h.vms = append(h.vms, i)
		h.cpu += v.CPU
		h.mem += v.MemoryGB
		if v.AntiAffinity != "" {
			h.antiAff[v.AntiAffinity]++
		}
		if v.Affinity != "" {
			h.aff[v.Affinity]++
		}
		if vs.frozen != "" {
			s.left = append(s.left, VMReason{VM: v.Name, Host: v.Host, Service: v.Service, Reason: vs.frozen, Detail: vs.detail})
			if h.forced == "" {
				h.forced = "vm " + v.Name + ": " + vs.frozen
			}
		}
	}
	for _, h := range s.hosts {
		if h.off {
			continue
		}
		reason, detail := "", ""
		switch {
		case h.h.Maintenance:
			reason = ReasonMaintenance
		case h.h.BMC == "none":
			reason, detail = ReasonHostNoPowerM, "no BMC or Wake-on-LAN to power it on again"
		case h.h.PowerCyclesToday >= pol.MaxPowerCyclesPerDay:
			reason = ReasonHostNoCycle
			detail = fmt.Sprintf("%d power cycles today, at most %d", h.h.PowerCyclesToday, pol.MaxPowerCyclesPerDay)
		case h.forced != "":
			reason, detail = ReasonHostKept, h.forced
		}
		if reason != "" {
			h.forced = reason
			s.hostsKept = append(s.hostsKept, HostReason{Host: h.h.Name, Reason: reason, Detail: detail})
		}
	}
	return s, nil
}

func hasBudget(b map[string]float64, svc string) bool { _, ok := b[svc]; return ok }

// vmPowerW is the dynamic power VM v adds on host h.
func (s *state) vmPowerW(v *vmState, h *hostState) float64 {
	return h.h.SlopeW * v.v.CPU / h.h.CPU
}

// hostPowerW is host h's modelled power with its current demand.
func (h *hostState) powerW() float64 {
	u := h.cpu / h.h.CPU
	if u > 1 {
		u = 1
	}
	return h.h.IdleW + h.h.SlopeW*u
}

func (h *hostState) latencyOn(p Policy) time.Duration {
	if h.h.PowerOnLatency > 0 {
		return h.h.PowerOnLatency.D()
	}
	return p.PowerOnLatency.D()
}

func (h *hostState) latencyOff(p Policy) time.Duration {
	if h.h.ShutdownLatency > 0 {
		return h.h.ShutdownLatency.D()
	}
	return p.ShutdownLatency.D()
}

// onCount is the number of hosts powered on.
func (s *state) onCount() int {
	n := 0
	for _, h := range s.hosts {
		if !h.off {
			n++
		}
	}
	return n
}

package shed

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Placement is a static consolidation from scratch (Bobroff et al.'s
// "static consolidation"): every VM that may move placed afresh, first fit
// decreasing, on the fewest hosts, the largest hosts opened first; VMs
// that may not move stay where they are. It answers "how many hosts does
// this load need" (capacity planning, the benchmark against the lower
// bound) rather than "which migrations now": a live plan only drains whole
// hosts (NewPlan).
type Placement struct {
	// Hosts is the number of hosts with a VM (or kept on for another
	// reason); Assign maps VM name to host name.
	Hosts      int               `json:"hosts"`
	Assign     map[string]string `json:"assign"`
	LowerBound LowerBound        `json:"lower_bound"`
}

// StaticPlacement computes a Placement under the policy's ceilings,
// anti-affinity and affinity, and N+k by packing.
func StaticPlacement(inv Inventory, pol Policy) (Placement, error) {
	pol = pol.WithDefaults()
	if err := pol.Validate(); err != nil {
		return Placement{}, fmt.Errorf("shed policy: %w", err)
	}
	s, err := newState(inv, pol, time.Time{})
	if err != nil {
		return Placement{}, fmt.Errorf("shed inventory: %w", err)
	}
	lb := s.lowerBound()
	// Lift every movable VM off its host.
	for _, h := range s.hosts {
		var keep []int
		for _, vi := range h.vms {
			v := s.vms[vi]
			if v.frozen != "" {
				keep = append(keep, vi)
				continue
			}
			h.cpu -= v.v.CPU
			h.mem -= v.v.MemoryGB
			if v.v.AntiAffinity != "" {
				h.antiAff[v.v.AntiAffinity]--
			}
			if v.v.Affinity != "" {
				h.aff[v.v.Affinity]--
				if h.aff[v.v.Affinity] == 0 {
					delete(h.aff, v.v.Affinity)
				}
			}
		}
		h.vms = keep
	}
	var movers []int
	for i, v := range s.vms {
		if v.frozen == "" && !s.hosts[v.host].off {
			movers = append(movers, i)
		}
	}
	us := s.unitsOf(movers)
	// Hosts in the order they are opened: those that must stay on first,
	// then the largest.
	var order []int
	for _, h := range s.hosts {
		if !h.off && !h.h.Maintenance {
			order = append(order, h.idx)
		}
	}
	var dc, dm, cc, cm float64
	for _, h := range s.hosts {
		if !h.off {
			cc += h.cpuCap
			cm += h.memCap
		}
	}
	for _, v := range s.vms {
		dc += v.v.CPU
		dm += v.v.MemoryGB
	}
	wc, wm := dc/math.Max(cc, eps), dm/math.Max(cm, eps)
	sort.SliceStable(order, func(i, j int) bool {
		a, b := s.hosts[order[i]], s.hosts[order[j]]
		fa, fb := a.forced != "" || len(a.vms) > 0, b.forced != "" || len(b.vms) > 0
		if fa != fb {
			return fa
		}
		return wc*a.cpuCap/s.refCPU+wm*a.memCap/s.refMem > wc*b.cpuCap/s.refCPU+wm*b.memCap/s.refMem
	})
	try := func(m int) (*packer, bool) {
		open := order[:m]
		p := s.newPackerOrdered(open)
		for i := range us {
			u := &us[i]
			l := p.global.first(u.cpu, u.mem, func(h int) bool { return p.fits(u, h) })
			if l < 0 {
				return nil, false
			}
			h := p.global.hosts[l]
			p.commit(u, h)
			for _, vi := range u.vms {
				p.moves = append(p.moves, move{vm: vi, from: u.from, to: h})
			}
		}
		closed := make([]bool, len(s.hosts))
		for _, h := range order[m:] {
			closed[h] = true
		}
		for _, h := range s.hosts {
			if h.off {
				closed[h.idx] = true
			}
		}
		return p, s.reserveHolds(p, closed)
	}
	lo := min(max(lb.Hosts, 1), len(order))
	var p *packer
	m := lo
	for ; m <= len(order); m++ {
		if q, ok := try(m); ok {
			p = q
			break
		}
	}
	if p == nil {
		return Placement{}, fmt.Errorf("static placement: the VMs do not fit on the %d hosts", len(order))
	}
	pl := Placement{Assign: map[string]string{}, LowerBound: lb}
	used := map[int]bool{}
	for _, v := range s.vms {
		if v.frozen != "" {
			pl.Assign[v.v.Name] = s.hosts[v.host].h.Name
			used[v.host] = true
		}
	}
	for _, mv := range p.moves {
		pl.Assign[s.vms[mv.vm].v.Name] = s.hosts[mv.to].h.Name
		used[mv.to] = true
	}
	for _, h := range order[:m] {
		if used[h] || s.hosts[h].forced != "" {
			pl.Hosts++
		}
	}
	for _, h := range s.hosts {
		if !h.off && h.h.Maintenance {
			pl.Hosts++
		}
	}
	pl.LowerBound.Gap = float64(pl.Hosts-lb.Hosts) / math.Max(float64(lb.Hosts), 1)
	return pl, nil
}

// unitsOf groups the given VMs into units (affinity groups on one host
// together), largest first.
func (s *state) unitsOf(vms []int) []unit {
	var us []unit
	byAff := map[string]int{}
	for _, vi := range vms {
		v := s.vms[vi]
		k := -1
		if v.v.Affinity != "" {
			if j, ok := byAff[v.v.Affinity]; ok {
				k = j
			} else {
				byAff[v.v.Affinity] = len(us)
			}
		}
		if k < 0 {
			us = append(us, unit{from: v.host, aff: v.v.Affinity})
			k = len(us) - 1
		}
		u := &us[k]
		u.vms = append(u.vms, vi)
		u.cpu += v.v.CPU
		u.mem += v.v.MemoryGB
		if v.v.AntiAffinity != "" {
			u.anti = append(u.anti, v.v.AntiAffinity)
		}
	}
	for i := range us {
		us[i].size = math.Max(us[i].cpu/s.refCPU, us[i].mem/s.refMem)
	}
	sort.SliceStable(us, func(i, j int) bool { return us[i].size > us[j].size })
	return us
}

// Bound is the lower bound on hosts for an inventory under a policy, as a
// plan would report it.
func Bound(inv Inventory, pol Policy) (LowerBound, error) {
	pol = pol.WithDefaults()
	s, err := newState(inv, pol, time.Time{})
	if err != nil {
		return LowerBound{}, fmt.Errorf("shed inventory: %w", err)
	}
	return s.lowerBound(), nil
}

package shed

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// planRestore powers hosts back on before the next block (the released
// ones, not in maintenance and able to be woken), reverts the facility
// stages in force, then rebalances: VMs leave hosts above the CPU or
// memory ceiling for the hosts just powered on, each migration after its
// destination's power_on. With req.KW > 0 it reverts stages and powers on
// hosts only as far as that headroom (site kW) allows: stages first, then
// the hosts that can be up soonest.
func (s *state) planRestore(req Request, stages []FacilityStage) Plan {
	plan := Plan{Kind: KindRestore, CreatedAt: s.now, Request: req, Limits: s.limits()}
	n := 0
	next := func() string { n++; return fmt.Sprintf("s%d", n) }
	var end time.Duration
	budget := math.Inf(1)
	if req.KW > 0 {
		budget = req.KW
	}
	// Facility stages come back first (they cost no migration), within the
	// budget: the last applied (highest priority number) first.
	active := []FacilityStage{}
	for _, st := range stages {
		if st.Active {
			active = append(active, st)
		}
	}
	sort.SliceStable(active, func(i, j int) bool { return active[i].Priority > active[j].Priority })
	for _, st := range active {
		if st.KW > budget+eps {
			continue
		}
		budget -= st.KW
		v := st.Normal
		plan.Steps = append(plan.Steps, Step{ID: next(), Kind: StepSetpointRevert, Stage: st.Name, Point: st.Point, Value: &v,
			ExpectedDuration: st.Latency, ExpectedSavingKW: -st.KW})
		plan.Expected.FacilitySavingKW -= st.KW
		plan.Expected.FacilityStages = append(plan.Expected.FacilityStages, st.Name)
		end = max(end, st.Latency.D())
	}
	var off []*hostState
	for _, h := range s.hosts {
		if h.off && !h.h.Maintenance && h.h.BMC != "none" {
			off = append(off, h)
		}
	}
	// The hosts that can be up soonest first (the protection window
	// counts), so that a budget buys capacity early.
	upAt := func(h *hostState) time.Duration {
		d := h.latencyOn(s.pol)
		if !h.h.LastPowerOff.IsZero() {
			if w := h.h.LastPowerOff.Add(s.pol.PowerOnProtection.D()).Sub(s.now); w > 0 {
				d += w
			}
		}
		return d
	}
	sort.SliceStable(off, func(i, j int) bool { return upAt(off[i]) < upAt(off[j]) })
	onStep := map[int]string{}
	onAt := map[int]time.Duration{}
	for _, h := range off {
		kw := h.h.IdleW * s.pue / 1000
		if kw > budget+eps {
			continue
		}
		budget -= kw
		var wait time.Duration
		if !h.h.LastPowerOff.IsZero() {
			if w := h.h.LastPowerOff.Add(s.pol.PowerOnProtection.D()).Sub(s.now); w > 0 {
				wait = w
				plan.Notes = append(plan.Notes, fmt.Sprintf("%s powers on at +%s: %s power-on protection after its power-off", h.h.Name, w.Round(time.Second), s.pol.PowerOnProtection.D()))
			}
		}
		d := h.latencyOn(s.pol)
		id := next()
		plan.Steps = append(plan.Steps, Step{ID: id, Kind: StepPowerOn, Host: h.h.Name,
			ExpectedStart: Duration(wait), ExpectedDuration: Duration(d), ExpectedSavingKW: -round3(kw)})
		onStep[h.idx], onAt[h.idx] = id, wait+d
		plan.Expected.ITSavingKW -= kw
		plan.Expected.HostsPoweredOn = append(plan.Expected.HostsPoweredOn, h.h.Name)
		end = max(end, wait+d)
	}
	// Rebalance: clear hosts above a ceiling onto the hosts powered on.
	cpu := make([]float64, len(s.hosts))
	mem := make([]float64, len(s.hosts))
	for i, h := range s.hosts {
		cpu[i], mem[i] = h.cpu, h.mem
	}
	sc := newScheduler(s.pol)
	var targets []int
	for h := range onStep {
		targets = append(targets, h)
	}
	sort.Ints(targets)
	for _, h := range s.hosts {
		if h.off || len(targets) == 0 {
			continue
		}
		vms := append([]int(nil), h.vms...)
		sort.SliceStable(vms, func(i, j int) bool { return s.vms[vms[i]].v.CPU < s.vms[vms[j]].v.CPU })
		for _, vi := range vms {
			if cpu[h.idx] <= h.cpuCap+eps && mem[h.idx] <= h.memCap+eps {
				break
			}
			v := s.vms[vi]
			if v.frozen != "" || v.v.Affinity != "" {
				continue
			}
			best, bestFree := -1, -1.0
			for _, t := range targets {
				th := s.hosts[t]
				if cpu[t]+v.v.CPU > th.cpuCap+eps || mem[t]+v.v.MemoryGB > th.memCap+eps {
					continue
				}
				if v.v.AntiAffinity != "" && s.groupOn(v.v.AntiAffinity, t, cpu) {
					continue
				}
				// The host up soonest, then the one with most room.
				f := th.cpuCap - cpu[t]
				if best < 0 || onAt[t] < onAt[best] || (onAt[t] == onAt[best] && f > bestFree) {
					best, bestFree = t, f
				}
			}
			if best < 0 {
				continue
			}
			d := s.migrationTime(v.v.MemoryGB)
			start := sc.add(h.idx, best, onAt[best], d)
			plan.Steps = append(plan.Steps, Step{ID: next(), Kind: StepMigrate, VM: v.v.Name, From: h.h.Name,
				To: s.hosts[best].h.Name, Host: h.h.Name, MemoryGB: v.v.MemoryGB, DependsOn: []string{onStep[best]},
				ExpectedStart: Duration(start), ExpectedDuration: Duration(d)})
			cpu[h.idx] -= v.v.CPU
			mem[h.idx] -= v.v.MemoryGB
			cpu[best] += v.v.CPU
			mem[best] += v.v.MemoryGB
			s.moved = append(s.moved, move{vm: vi, from: h.idx, to: best})
			plan.Expected.Migrations++
			plan.Expected.GBMoved += v.v.MemoryGB
			end = max(end, start+d)
		}
	}
	plan.Expected.ITSavingKW = round3(plan.Expected.ITSavingKW)
	plan.Expected.SavingKW = round3(plan.Expected.ITSavingKW + plan.Expected.FacilitySavingKW)
	plan.Expected.GBMoved = round3(plan.Expected.GBMoved)
	plan.Expected.HostsBefore = s.onCount()
	plan.Expected.HostsAfter = plan.Expected.HostsBefore + len(onStep)
	plan.Expected.Duration = Duration(end)
	plan.Expected.By = s.now.Add(end)
	plan.Expected.CoversRequest = req.By.IsZero() || !plan.Expected.By.After(req.By)
	if !plan.Expected.CoversRequest {
		plan.Notes = append(plan.Notes, fmt.Sprintf("the hosts are up at %s, after %s: start the restore earlier", plan.Expected.By.Format(time.RFC3339), req.By.Format(time.RFC3339)))
	}
	for i, h := range s.hosts {
		if h.off && onStep[i] == "" {
			continue
		}
		plan.Expected.MaxCPUUtil = math.Max(plan.Expected.MaxCPUUtil, cpu[i]/h.h.CPU)
		plan.Expected.MaxMemUtil = math.Max(plan.Expected.MaxMemUtil, mem[i]/h.h.MemoryGB)
	}
	s.finishLB(&plan, s.lowerBound())
	plan.ID = planID(plan)
	return plan
}

// groupOn says whether a VM of anti-affinity group g is on host h (as
// planned so far in s.moved).
func (s *state) groupOn(g string, h int, _ []float64) bool {
	if s.hosts[h].antiAff[g] > 0 {
		return true
	}
	for _, m := range s.moved {
		if m.to == h && s.vms[m.vm].v.AntiAffinity == g {
			return true
		}
	}
	return false
}

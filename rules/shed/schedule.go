package shed

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// slots tracks when each of a fixed number of parallel lanes is next free.
type slots []time.Duration

func (s slots) earliest() int {
	best := 0
	for i := range s {
		if s[i] < s[best] {
			best = i
		}
	}
	return best
}

// scheduler places migrations under the per-host and per-site
// concurrency limits: each migration takes the earliest moment a lane of
// its source, of its destination and of the site is free.
type scheduler struct {
	perHost int
	site    slots
	hosts   map[int]slots
}

func newScheduler(pol Policy) *scheduler {
	return &scheduler{perHost: max(pol.MigrationsPerHost, 1), site: make(slots, max(pol.MigrationsPerSite, 1)), hosts: map[int]slots{}}
}

func (sc *scheduler) host(h int) slots {
	s, ok := sc.hosts[h]
	if !ok {
		s = make(slots, sc.perHost)
		sc.hosts[h] = s
	}
	return s
}

func (sc *scheduler) add(from, to int, notBefore, d time.Duration) time.Duration {
	a, b := sc.host(from), sc.host(to)
	ia, ib, is := a.earliest(), b.earliest(), sc.site.earliest()
	start := max(a[ia], b[ib], sc.site[is], notBefore)
	end := start + d
	a[ia], b[ib], sc.site[is] = end, end, end
	return start
}

func (s *state) migrationTime(gb float64) time.Duration {
	sec := gb * 8 / s.pol.MigrationGbps
	return time.Duration(sec*float64(time.Second)) + s.pol.MigrationOverhead.D()
}

// emit turns a release and facility stages into steps and expectations.
func (s *state) emit(plan *Plan, rel *release, stages []FacilityStage) {
	n := 0
	next := func() string { n++; return fmt.Sprintf("s%d", n) }
	var end time.Duration
	for _, st := range stages {
		v := st.Value
		plan.Steps = append(plan.Steps, Step{ID: next(), Kind: StepSetpoint, Stage: st.Name, Point: st.Point, Value: &v,
			ExpectedDuration: st.Latency, ExpectedSavingKW: st.KW})
		plan.Expected.FacilitySavingKW += st.KW
		plan.Expected.FacilityStages = append(plan.Expected.FacilityStages, st.Name)
		end = max(end, st.Latency.D())
	}
	_, perHost := s.savingKW(rel)
	movesBy := map[int][]move{}
	for _, m := range rel.p.moves {
		movesBy[m.from] = append(movesBy[m.from], m)
	}
	// Drains with the fewest migrations first: their savings land soonest.
	hosts := append([]int(nil), rel.hosts...)
	sort.SliceStable(hosts, func(i, j int) bool { return len(movesBy[hosts[i]]) < len(movesBy[hosts[j]]) })
	sc := newScheduler(s.pol)
	for _, h := range hosts {
		hs := s.hosts[h]
		var deps []string
		var done time.Duration
		for _, m := range movesBy[h] {
			v := s.vms[m.vm]
			d := s.migrationTime(v.v.MemoryGB)
			start := sc.add(m.from, m.to, 0, d)
			id := next()
			plan.Steps = append(plan.Steps, Step{ID: id, Kind: StepMigrate, VM: v.v.Name, From: hs.h.Name,
				To: s.hosts[m.to].h.Name, Host: hs.h.Name, MemoryGB: v.v.MemoryGB,
				ExpectedStart: Duration(start), ExpectedDuration: Duration(d)})
			deps = append(deps, id)
			done = max(done, start+d)
			plan.Expected.Migrations++
			plan.Expected.GBMoved += v.v.MemoryGB
		}
		off := hs.latencyOff(s.pol)
		plan.Steps = append(plan.Steps, Step{ID: next(), Kind: StepPowerOff, Host: hs.h.Name, DependsOn: deps,
			ExpectedStart: Duration(done), ExpectedDuration: Duration(off), ExpectedSavingKW: round3(perHost[h])})
		plan.Expected.ITSavingKW += perHost[h]
		plan.Expected.HostsReleased = append(plan.Expected.HostsReleased, hs.h.Name)
		end = max(end, done+off)
	}
	plan.Expected.HostsBefore = s.onCount()
	plan.Expected.HostsAfter = plan.Expected.HostsBefore - len(rel.hosts)
	released := make([]bool, len(s.hosts))
	for _, h := range rel.hosts {
		released[h] = true
	}
	for _, h := range s.hosts {
		if h.off || released[h.idx] {
			continue
		}
		plan.Expected.MaxCPUUtil = math.Max(plan.Expected.MaxCPUUtil, rel.p.cpu[h.idx]/h.h.CPU)
		plan.Expected.MaxMemUtil = math.Max(plan.Expected.MaxMemUtil, rel.p.mem[h.idx]/h.h.MemoryGB)
	}
	plan.Expected.ITSavingKW = round3(plan.Expected.ITSavingKW)
	plan.Expected.SavingKW = round3(plan.Expected.ITSavingKW + plan.Expected.FacilitySavingKW)
	plan.Expected.GBMoved = round3(plan.Expected.GBMoved)
	plan.Expected.Duration = Duration(end)
	plan.Expected.By = s.now.Add(end)
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

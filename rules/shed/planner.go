package shed

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"time"
)

// Input is everything a plan depends on.
type Input struct {
	Inventory Inventory
	Policy    Policy
	Request   Request
	// Now is the planning time (a replay's simulated clock).
	Now time.Time
}

// NewPlan plans a shed, a consolidation or a restore. It is pure.
func NewPlan(in Input) (Plan, error) {
	pol := in.Policy.WithDefaults()
	if err := pol.Validate(); err != nil {
		return Plan{}, fmt.Errorf("shed policy: %w", err)
	}
	s, err := newState(in.Inventory, pol, in.Now)
	if err != nil {
		return Plan{}, fmt.Errorf("shed inventory: %w", err)
	}
	req := in.Request
	if req.Kind == "" {
		if req.KW > 0 {
			req.Kind = KindShed
		} else {
			req.Kind = KindConsolidate
		}
	}
	switch req.Kind {
	case KindShed, KindConsolidate:
		return s.planShed(req, in.Inventory.Stages), nil
	case KindRestore:
		return s.planRestore(req, in.Inventory.Stages), nil
	}
	return Plan{}, fmt.Errorf("shed request: kind %q (want shed, consolidate or restore)", req.Kind)
}

// candidates are the hosts that may be drained, in the order a
// consolidation releases them: the smallest first (capacity weighted by
// how scarce each dimension is, so the hosts that stay are the ones that
// hold most), then among equals the least loaded (fewest migrations); or,
// byLoad, the least loaded first whatever their size (better when hosts
// are alike and what they already hold decides how well the rest packs).
func (s *state) candidates(byLoad bool) []int {
	var c []int
	var dc, dm, cc, cm float64
	for _, h := range s.hosts {
		if h.off {
			continue
		}
		dc += h.cpu
		dm += h.mem
		cc += h.cpuCap
		cm += h.memCap
		if h.forced == "" {
			c = append(c, h.idx)
		}
	}
	wc, wm := 1.0, 1.0
	if cc > 0 && cm > 0 {
		wc, wm = dc/cc, dm/cm
	}
	keep := func(h *hostState) float64 { return wc*h.cpuCap/s.refCPU + wm*h.memCap/s.refMem }
	load := func(h *hostState) float64 { return wc*h.cpu/h.cpuCap + wm*h.mem/h.memCap }
	sort.SliceStable(c, func(i, j int) bool {
		a, b := s.hosts[c[i]], s.hosts[c[j]]
		if byLoad {
			return math.Max(a.cpu/a.cpuCap, a.mem/a.memCap) < math.Max(b.cpu/b.cpuCap, b.mem/b.memCap)
		}
		if ka, kb := keep(a), keep(b); math.Abs(ka-kb) > 1e-9 {
			return ka < kb
		}
		return load(a) < load(b)
	})
	return c
}

// release is a feasible set of hosts to release and the packing that
// empties them.
type release struct {
	hosts []int
	p     *packer
}

// tryRelease packs the VMs of hosts and checks N+k; nil when either fails,
// with the host a VM of which found no room (-1 for N+k).
func (s *state) tryRelease(hosts []int) (*release, int) {
	p, _, bad := s.pack(hosts)
	if p == nil {
		return nil, bad
	}
	mask := make([]bool, len(s.hosts))
	for _, h := range hosts {
		mask[h] = true
	}
	if !s.reserveHolds(p, mask) {
		return nil, -1
	}
	return &release{hosts: append([]int(nil), hosts...), p: p}, -1
}

// maxRelease finds the longest prefix of the candidates that can be
// released (galloping down from the most the lower bound allows, then
// bisecting), then tries each remaining candidate on its own.
func (s *state) maxRelease(lbHosts int) *release {
	goal := lbHosts + max(1, lbHosts/50)
	best := s.maxReleaseIn(s.candidates(false), lbHosts)
	if s.onCount()-len(best.hosts) > goal {
		if r := s.maxReleaseIn(s.candidates(true), lbHosts); len(r.hosts) > len(best.hosts) ||
			(len(r.hosts) == len(best.hosts) && len(r.p.moves) < len(best.p.moves)) {
			best = r
		}
	}
	return best
}

func (s *state) maxReleaseIn(cand []int, lbHosts int) *release {
	hi := min(len(cand), s.onCount()-lbHosts)
	if hi < 0 {
		hi = 0
	}
	empty, _ := s.tryRelease(nil)
	if empty == nil {
		// Even releasing nothing breaks N+k: report the packing as is.
		p, _, _ := s.pack(nil)
		empty = &release{p: p}
	}
	best, bestN := empty, 0
	// Gallop down from hi to a feasible prefix.
	lo, step, top := 0, 1, hi
	for n := hi; n > 0; {
		if r, _ := s.tryRelease(cand[:n]); r != nil {
			best, bestN, lo = r, n, n
			break
		}
		top = n - 1
		n -= step
		step *= 2
		if n <= 0 && top > 0 {
			n = 0
		}
	}
	// Bisect (lo feasible, top+1 infeasible).
	for lo < top {
		mid := (lo + top + 1) / 2
		if r, _ := s.tryRelease(cand[:mid]); r != nil {
			best, bestN, lo = r, mid, mid
		} else {
			top = mid - 1
		}
	}
	// Then each later candidate alone, while the bound leaves room.
	hosts := append([]int(nil), cand[:bestN]...)
	tries := 0
	for _, h := range cand[bestN:] {
		if len(hosts) >= hi || tries >= s.extraTries {
			break
		}
		tries++
		if r, _ := s.tryRelease(append(hosts, h)); r != nil {
			best, hosts = r, r.hosts
			tries = 0
		}
	}
	return best
}

// savingKW is the site kW saved by a release: the released hosts' power
// less the dynamic power their VMs add on their destinations, x PUE.
func (s *state) savingKW(r *release) (total float64, perHost map[int]float64) {
	perHost = map[int]float64{}
	for _, h := range r.hosts {
		perHost[h] = s.hosts[h].powerW()
	}
	for _, m := range r.p.moves {
		v := s.vms[m.vm]
		perHost[m.from] -= s.vmPowerW(v, s.hosts[m.to])
	}
	for h, w := range perHost {
		perHost[h] = w * s.pue / 1000
		total += perHost[h]
	}
	return total, perHost
}

// shedOrder ranks candidates for a kW request: fewest migrations and GB
// per kW saved first.
func (s *state) shedOrder() []int {
	c := s.candidates(false)
	cost := make(map[int]float64, len(c))
	for _, h := range c {
		hs := s.hosts[h]
		gb := 0.0
		for _, vi := range hs.vms {
			gb += s.vms[vi].v.MemoryGB
		}
		kw := hs.h.IdleW * s.pue / 1000
		cost[h] = (float64(len(hs.vms)) + gb/64) / math.Max(kw, 1e-6)
	}
	sort.SliceStable(c, func(i, j int) bool { return cost[c[i]] < cost[c[j]] })
	return c
}

// coverRequest releases the cheapest hosts whose saving covers needKW.
// It tries at once the shortest prefix of the cheapest-first order whose
// idle power x PUE covers the request, bisects down to the longest
// feasible prefix when that fails, then extends one host at a time,
// skipping a host whose VMs find no room or that breaks N+k, until the
// saving (as packed) covers the request or the tries run out. Every try is
// a whole packing, so the number of tries, not of hosts, sets the cost.
func (s *state) coverRequest(needKW float64) *release {
	order := s.shedOrder()
	est, n := 0.0, 0
	for n < len(order) && est < needKW {
		est += s.hosts[order[n]].h.IdleW * s.pue / 1000
		n++
	}
	best, _ := s.tryRelease(order[:n])
	if best == nil {
		lo, hi := 0, n-1 // lo feasible, hi+1 infeasible
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if r, _ := s.tryRelease(order[:mid]); r != nil {
				best, lo = r, mid
			} else {
				hi = mid - 1
			}
		}
		n = lo
	}
	if best == nil {
		if best, _ = s.tryRelease(nil); best == nil {
			p, _, _ := s.pack(nil)
			best = &release{p: p}
		}
	}
	hosts := append([]int(nil), best.hosts...)
	saving, _ := s.savingKW(best)
	tries := 0
	for _, h := range order[n:] {
		if saving >= needKW || tries >= s.extraTries {
			break
		}
		tries++
		r, _ := s.tryRelease(append(hosts, h))
		if r == nil {
			continue
		}
		best, hosts = r, r.hosts
		saving, _ = s.savingKW(r)
		tries = 0
	}
	return best
}

func (s *state) planShed(req Request, stages []FacilityStage) Plan {
	plan := Plan{Kind: req.Kind, CreatedAt: s.now, Request: req, Limits: s.limits()}
	lb := s.lowerBound()
	maxRel := s.maxRelease(lb.Hosts)
	maxIT, _ := s.savingKW(maxRel)

	// Facility stages without SLA risk first (by priority), then IT
	// drains, then stages that affect comfort.
	var free, after []FacilityStage
	for _, st := range stages {
		if st.Active {
			continue
		}
		if st.AfterIT {
			after = append(after, st)
		} else {
			free = append(free, st)
		}
	}
	byPrio := func(ss []FacilityStage) {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].Priority < ss[j].Priority })
	}
	byPrio(free)
	byPrio(after)
	maxFacility := 0.0
	for _, st := range stages {
		if !st.Active {
			maxFacility += st.KW
		}
	}

	var chosen []FacilityStage
	rel := maxRel
	if req.Kind == KindShed {
		need := req.KW
		for _, st := range free {
			if need <= eps {
				break
			}
			chosen = append(chosen, st)
			need -= st.KW
		}
		if need > eps {
			rel = s.coverRequest(need)
			it, _ := s.savingKW(rel)
			if it+eps < need && maxIT > it {
				rel = maxRel
				it = maxIT
			}
			need -= it
		} else {
			rel, _ = s.tryRelease(nil)
			if rel == nil {
				p, _, _ := s.pack(nil)
				rel = &release{p: p}
			}
		}
		for _, st := range after {
			if need <= eps {
				break
			}
			chosen = append(chosen, st)
			need -= st.KW
		}
	}
	s.emit(&plan, rel, chosen)
	plan.Expected.MaxSavingKW = maxIT + maxFacility
	if req.Kind == KindShed {
		plan.Expected.CoversRequest = plan.Expected.SavingKW+eps >= req.KW
		if !plan.Expected.CoversRequest {
			plan.Expected.ShortfallKW = req.KW - plan.Expected.SavingKW
			plan.Notes = append(plan.Notes, fmt.Sprintf("the request of %.1f kW exceeds what the constraints allow: %.1f kW", req.KW, plan.Expected.SavingKW))
		}
		if !req.By.IsZero() && plan.Expected.By.After(req.By) {
			plan.Notes = append(plan.Notes, fmt.Sprintf("the last step ends at %s, after the request's deadline %s", plan.Expected.By.Format(time.RFC3339), req.By.Format(time.RFC3339)))
		}
	} else {
		plan.Expected.CoversRequest = true
	}
	s.finishLB(&plan, lb)
	plan.ID = planID(plan)
	return plan
}

func (s *state) finishLB(plan *Plan, lb LowerBound) {
	after := plan.Expected.HostsAfter
	if lb.Hosts > 0 {
		lb.Gap = float64(after-lb.Hosts) / float64(lb.Hosts)
	}
	lb.ReleasedEfficiency = 1
	if d := plan.Expected.HostsBefore - lb.Hosts; d > 0 {
		lb.ReleasedEfficiency = float64(plan.Expected.HostsBefore-after) / float64(d)
	}
	plan.LowerBound = lb
	plan.LeftAlone = s.left
	plan.HostsKept = s.hostsKept
}

func (s *state) limits() PaceLimits {
	return PaceLimits{MaxPowerCyclesPerDay: s.pol.MaxPowerCyclesPerDay, PowerOnProtection: s.pol.PowerOnProtection,
		MigrationCooldown: s.pol.MigrationCooldown, MigrationsPerHost: s.pol.MigrationsPerHost, MigrationsPerSite: s.pol.MigrationsPerSite}
}

func planID(p Plan) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s|%s|%.3f|%s|%d", p.Kind, p.CreatedAt.UTC().Format(time.RFC3339Nano), p.Request.KW, p.Request.By.UTC().Format(time.RFC3339), len(p.Steps))
	for _, st := range p.Steps {
		fmt.Fprintf(h, "|%s%s%s%s", st.Kind, st.VM, st.To, st.Host)
	}
	return fmt.Sprintf("%s-%s-%08x", p.Kind, p.CreatedAt.UTC().Format("20060102T150405"), h.Sum32())
}

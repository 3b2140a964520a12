package shed

import (
	"cmp"
	"math"
	"slices"
	"sort"
)

// fitTree finds, among destinations in a fixed order, the first with room
// for a demand: a segment tree over the residual CPU and memory, each node
// holding the largest residual of its leaves in each dimension. The two
// maxima may come from different leaves, so a subtree can be searched in
// vain, but never skipped wrongly.
type fitTree struct {
	n        int
	cpu, mem []float64
	hosts    []int // leaf -> host index
}

func newFitTree(hosts []int, cpuFree, memFree func(int) float64) *fitTree {
	n := 1
	for n < len(hosts) {
		n *= 2
	}
	t := &fitTree{n: n, cpu: make([]float64, 2*n), mem: make([]float64, 2*n), hosts: hosts}
	for i := range t.cpu {
		t.cpu[i], t.mem[i] = -1, -1
	}
	for i, h := range hosts {
		t.cpu[n+i], t.mem[n+i] = cpuFree(h), memFree(h)
	}
	for i := n - 1; i >= 1; i-- {
		t.cpu[i] = math.Max(t.cpu[2*i], t.cpu[2*i+1])
		t.mem[i] = math.Max(t.mem[2*i], t.mem[2*i+1])
	}
	return t
}

func (t *fitTree) set(leaf int, cpu, mem float64) {
	i := t.n + leaf
	t.cpu[i], t.mem[i] = cpu, mem
	for i /= 2; i >= 1; i /= 2 {
		t.cpu[i] = math.Max(t.cpu[2*i], t.cpu[2*i+1])
		t.mem[i] = math.Max(t.mem[2*i], t.mem[2*i+1])
	}
}

// first returns the first leaf with cpu >= c and mem >= m for which ok
// holds, or -1.
func (t *fitTree) first(c, m float64, ok func(host int) bool) int {
	return t.search(1, c, m, ok)
}

func (t *fitTree) search(i int, c, m float64, ok func(int) bool) int {
	if t.cpu[i]+eps < c || t.mem[i]+eps < m {
		return -1
	}
	if i >= t.n {
		leaf := i - t.n
		if leaf < len(t.hosts) && ok(t.hosts[leaf]) {
			return leaf
		}
		return -1
	}
	if r := t.search(2*i, c, m, ok); r >= 0 {
		return r
	}
	return t.search(2*i+1, c, m, ok)
}

// unit is what moves as one: a VM, or the members of an affinity group
// on one host.
type unit struct {
	vms      []int
	from     int
	cpu, mem float64
	size     float64
	anti     []string
	aff      string
}

// move is one planned migration.
type move struct {
	vm, from, to int
}

// packer places the units of the hosts being released on the hosts that
// stay, under the ceilings, anti-affinity and affinity.
type packer struct {
	s        *state
	cpu, mem []float64 // demand per host during packing
	leaf     []int     // host -> leaf in the global tree (-1: not a destination)
	global   *fitTree
	rooms    map[int]*fitTree
	roomLeaf []int
	racks    map[int][]int
	anti     map[hostGroup]int
	aff      map[hostGroup]int
	affHosts map[string][]int // affinity group -> surviving hosts holding members
	moves    []move
}

type hostGroup struct {
	host  int
	group string
}

// dests are the hosts that stay on and may receive VMs, ordered fullest
// first, so that a first fit is nearly a best fit.
func (s *state) dests(released []bool) []int {
	var d []int
	for _, h := range s.hosts {
		if h.off || released[h.idx] || h.h.Maintenance {
			continue
		}
		d = append(d, h.idx)
	}
	sort.SliceStable(d, func(i, j int) bool {
		a, b := s.hosts[d[i]], s.hosts[d[j]]
		return math.Max(a.cpu/a.cpuCap, a.mem/a.memCap) > math.Max(b.cpu/b.cpuCap, b.mem/b.memCap)
	})
	return d
}

func (s *state) newPacker(released []bool) *packer {
	return s.newPackerOrdered(s.dests(released))
}

func (s *state) newPackerOrdered(d []int) *packer {
	p := &packer{s: s, cpu: make([]float64, len(s.hosts)), mem: make([]float64, len(s.hosts)),
		leaf: make([]int, len(s.hosts)), roomLeaf: make([]int, len(s.hosts)),
		rooms: map[int]*fitTree{}, racks: map[int][]int{},
		anti: map[hostGroup]int{}, aff: map[hostGroup]int{}, affHosts: map[string][]int{}}
	for i, h := range s.hosts {
		p.cpu[i], p.mem[i] = h.cpu, h.mem
		p.leaf[i], p.roomLeaf[i] = -1, -1
	}
	free := func(dim int) func(int) float64 {
		return func(h int) float64 {
			if dim == 0 {
				return s.hosts[h].cpuCap - p.cpu[h]
			}
			return s.hosts[h].memCap - p.mem[h]
		}
	}
	p.global = newFitTree(d, free(0), free(1))
	byRoom := map[int][]int{}
	for i, h := range d {
		p.leaf[h] = i
		hs := s.hosts[h]
		p.roomLeaf[h] = len(byRoom[hs.room])
		byRoom[hs.room] = append(byRoom[hs.room], h)
		p.racks[hs.rack] = append(p.racks[hs.rack], h)
		for g, n := range hs.antiAff {
			p.anti[hostGroup{h, g}] = n
		}
		for g, n := range hs.aff {
			p.aff[hostGroup{h, g}] = n
			p.affHosts[g] = append(p.affHosts[g], h)
		}
	}
	for room, hs := range byRoom {
		p.rooms[room] = newFitTree(hs, free(0), free(1))
	}
	return p
}

func (s *state) roomOf(h int) int { return s.hosts[h].room }

func (s *state) rackOf(h int) int { return s.hosts[h].rack }

// units groups the VMs of the released hosts into units.
func (s *state) units(released []int) []unit {
	var us []unit
	for _, h := range released {
		byAff := map[string]int{}
		for _, vi := range s.hosts[h].vms {
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
				us = append(us, unit{from: h, aff: v.v.Affinity})
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
	}
	for i := range us {
		us[i].size = math.Max(us[i].cpu/s.refCPU, us[i].mem/s.refMem)
	}
	slices.SortStableFunc(us, func(a, b unit) int { return cmp.Compare(b.size, a.size) })
	return us
}

func (p *packer) fits(u *unit, h int) bool {
	hs := p.s.hosts[h]
	if p.cpu[h]+u.cpu > hs.cpuCap+eps || p.mem[h]+u.mem > hs.memCap+eps {
		return false
	}
	for _, g := range u.anti {
		if p.anti[hostGroup{h, g}] > 0 {
			return false
		}
	}
	// An affinity group may join its members on h, but no host may gain a
	// group that lives elsewhere among the survivors.
	if u.aff != "" && len(p.affHosts[u.aff]) > 0 && p.aff[hostGroup{h, u.aff}] == 0 {
		return false
	}
	return true
}

func (p *packer) score(u *unit, h int) float64 {
	hs := p.s.hosts[h]
	load := math.Max((p.cpu[h]+u.cpu)/hs.cpuCap, (p.mem[h]+u.mem)/hs.memCap)
	loc := 0.0
	switch {
	case p.s.rackOf(h) == p.s.rackOf(u.from):
		loc = 1
	case p.s.roomOf(h) == p.s.roomOf(u.from):
		loc = 0.5
	}
	return p.s.pol.WLoad*load + p.s.pol.WLocation*loc
}

// place finds u a destination: the best-scoring of the best host in its
// rack, the first fitting host in its room and the first fitting host
// anywhere. -1 when none fits.
func (p *packer) place(u *unit) int {
	best, bestScore := -1, math.Inf(-1)
	try := func(h int) {
		if h < 0 || !p.fits(u, h) {
			return
		}
		if sc := p.score(u, h); sc > bestScore {
			best, bestScore = h, sc
		}
	}
	if u.aff != "" && len(p.affHosts[u.aff]) > 0 {
		for _, h := range p.affHosts[u.aff] {
			try(h)
		}
		return best
	}
	ok := func(h int) bool { return p.fits(u, h) }
	for _, h := range p.racks[p.s.rackOf(u.from)] {
		try(h)
	}
	if t := p.rooms[p.s.roomOf(u.from)]; t != nil {
		if l := t.first(u.cpu, u.mem, ok); l >= 0 {
			try(t.hosts[l])
		}
	}
	if l := p.global.first(u.cpu, u.mem, ok); l >= 0 {
		try(p.global.hosts[l])
	}
	return best
}

func (p *packer) commit(u *unit, h int) {
	p.cpu[h] += u.cpu
	p.mem[h] += u.mem
	for _, g := range u.anti {
		p.anti[hostGroup{h, g}]++
	}
	if u.aff != "" {
		if p.aff[hostGroup{h, u.aff}] == 0 {
			p.affHosts[u.aff] = append(p.affHosts[u.aff], h)
		}
		p.aff[hostGroup{h, u.aff}] += len(u.vms)
	}
	hs := p.s.hosts[h]
	cf, mf := hs.cpuCap-p.cpu[h], hs.memCap-p.mem[h]
	p.global.set(p.leaf[h], cf, mf)
	p.rooms[p.s.roomOf(h)].set(p.roomLeaf[h], cf, mf)
}

// pack plans every VM of the released hosts onto the others. It returns
// the moves and -1, or nil and the host whose VM found no room.
func (s *state) pack(released []int) (*packer, []move, int) {
	mask := make([]bool, len(s.hosts))
	for _, h := range released {
		mask[h] = true
	}
	p := s.newPacker(mask)
	us := s.units(released)
	for i := range us {
		u := &us[i]
		h := p.place(u)
		if h < 0 {
			return nil, nil, u.from
		}
		p.commit(u, h)
		for _, vi := range u.vms {
			p.moves = append(p.moves, move{vm: vi, from: u.from, to: h})
		}
	}
	return p, p.moves, -1
}

// reserveHolds checks N+k by packing: the VMs of the k surviving hosts
// carrying the most demand must fit, first fit decreasing, into what the
// other survivors have left of their full capacity (no ceiling: this is a
// failure) and anti-affinity aside.
func (s *state) reserveHolds(p *packer, released []bool) bool {
	k := s.pol.Reserve
	if k <= 0 {
		return true
	}
	var surv []int
	for _, h := range s.hosts {
		if !h.off && !released[h.idx] {
			surv = append(surv, h.idx)
		}
	}
	if len(surv) <= k {
		// Nothing to fail over to: holds only if the k hosts are empty.
		for _, h := range surv {
			if p.cpu[h] > eps || p.mem[h] > eps {
				return false
			}
		}
		return true
	}
	load := func(h int) float64 { return math.Max(p.cpu[h]/s.refCPU, p.mem[h]/s.refMem) }
	sort.SliceStable(surv, func(i, j int) bool { return load(surv[i]) > load(surv[j]) })
	failed, rest := surv[:k], surv[k:]
	// The failed hosts' VMs: those planned onto them plus those staying.
	failedSet := map[int]bool{}
	for _, h := range failed {
		failedSet[h] = true
	}
	var items []unit
	moved := make([]bool, len(s.vms))
	for _, m := range p.moves {
		moved[m.vm] = true
	}
	for _, v := range s.vms {
		h := v.host
		if moved[v.idx] || released[h] {
			continue // moved: counted at its destination below
		}
		if failedSet[h] {
			items = append(items, unit{cpu: v.v.CPU, mem: v.v.MemoryGB})
		}
	}
	for _, m := range p.moves {
		if failedSet[m.to] {
			v := s.vms[m.vm]
			items = append(items, unit{cpu: v.v.CPU, mem: v.v.MemoryGB})
		}
	}
	for i := range items {
		items[i].size = math.Max(items[i].cpu/s.refCPU, items[i].mem/s.refMem)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].size > items[j].size })
	cpuFree := func(h int) float64 { return s.hosts[h].h.CPU - p.cpu[h] }
	memFree := func(h int) float64 { return s.hosts[h].h.MemoryGB - p.mem[h] }
	t := newFitTree(rest, cpuFree, memFree)
	cf := make([]float64, len(rest))
	mf := make([]float64, len(rest))
	for i, h := range rest {
		cf[i], mf[i] = cpuFree(h), memFree(h)
	}
	all := func(int) bool { return true }
	for _, it := range items {
		l := t.first(it.cpu, it.mem, all)
		if l < 0 {
			return false
		}
		cf[l] -= it.cpu
		mf[l] -= it.mem
		t.set(l, cf[l], mf[l])
	}
	return true
}

package shed

import (
	"math"
	"sort"
)

// eps absorbs float rounding in ceilings of sums.
const eps = 1e-9

// L2 is the Martello-Toth bound for one-dimensional bin packing: items w
// into bins of capacity c (Knapsack Problems, 1990, ch. 8). For each α in
// {0} ∪ {w_i <= c/2}:
//
//	L(α) = |J1| + |J2| + max(0, ⌈(Σ_{J3} w − (|J2|·c − Σ_{J2} w)) / c⌉)
//
// with J1 = {w > c−α}, J2 = {c/2 < w <= c−α}, J3 = {α <= w <= c/2}. An item
// larger than c counts as one bin of its own (it cannot be placed at all;
// the planner leaves such a VM where it is). It sorts w in place.
func L2(w []float64, c float64) int {
	if len(w) == 0 || c <= 0 {
		return 0
	}
	sort.Sort(sort.Reverse(sort.Float64Slice(w)))
	n := len(w)
	prefix := make([]float64, n+1)
	for i, x := range w {
		prefix[i+1] = prefix[i] + x
	}
	// idx(v): number of items > v (w is descending).
	gt := func(v float64) int {
		return sort.Search(n, func(i int) bool { return w[i] <= v+eps })
	}
	ge := func(v float64) int { // number of items >= v
		return sort.Search(n, func(i int) bool { return w[i] < v-eps })
	}
	half := gt(c / 2) // items > c/2
	best := 0
	eval := func(alpha float64) {
		j1 := gt(c - alpha)
		j2 := half - j1
		if j2 < 0 {
			j2 = 0
			j1 = half
		}
		j3end := ge(alpha)
		sumJ2 := prefix[half] - prefix[j1]
		sumJ3 := prefix[j3end] - prefix[half]
		free := float64(j2)*c - sumJ2
		extra := 0
		if r := sumJ3 - free; r > eps {
			extra = int(math.Ceil(r/c - eps))
		}
		if l := j1 + j2 + extra; l > best {
			best = l
		}
	}
	eval(0)
	last := -1.0
	for i := half; i < n; i++ {
		if w[i] != last && w[i] > 0 {
			last = w[i]
			eval(w[i])
		}
	}
	return best
}

// coverCount is the fewest of the largest capacities whose sum reaches
// total (the heterogeneous-host bound of research §5); len(caps)+1 when
// even all of them fall short.
func coverCount(caps []float64, total float64) int {
	if total <= eps {
		return 0
	}
	s := append([]float64(nil), caps...)
	sort.Sort(sort.Reverse(sort.Float64Slice(s)))
	sum := 0.0
	for i, c := range s {
		sum += c
		if sum+eps >= total {
			return i + 1
		}
	}
	return len(s) + 1
}

// dimBound is the bound in one dimension for demands w on hosts of the
// given capacities: L2 with the largest capacity (a valid relaxation when
// hosts differ, exact L2 when they are alike) and the cover count; the
// larger.
func dimBound(w []float64, caps []float64) int {
	if len(caps) == 0 {
		return 0
	}
	maxC, total := 0.0, 0.0
	for _, c := range caps {
		maxC = math.Max(maxC, c)
	}
	for _, x := range w {
		total += x
	}
	b := L2(w, maxC)
	if k := mediumBound(w, maxC); k > b {
		b = k
	}
	if k := coverCount(caps, total); k > b {
		b = k
	}
	return b
}

// lowerBound computes the plan's LowerBound over the hosts that may be on
// after the plan (not maintenance-only ones counted twice: forced hosts are
// those that must stay on whatever the plan does).
func (s *state) lowerBound() LowerBound {
	var cpuCeil, memCeil, cpuFull, memFull []float64
	for _, h := range s.hosts {
		if h.off {
			continue
		}
		cpuCeil = append(cpuCeil, h.cpuCap)
		memCeil = append(memCeil, h.memCap)
		cpuFull = append(cpuFull, h.h.CPU)
		memFull = append(memFull, h.h.MemoryGB)
	}
	cpu := make([]float64, 0, len(s.vms))
	mem := make([]float64, 0, len(s.vms))
	groups := map[string]int{}
	for _, v := range s.vms {
		if s.hosts[v.host].off {
			continue
		}
		cpu = append(cpu, v.v.CPU)
		mem = append(mem, v.v.MemoryGB)
		if v.v.AntiAffinity != "" {
			groups[v.v.AntiAffinity]++
		}
	}
	lb := LowerBound{Reserve: s.pol.Reserve}
	lb.CPUHosts = dimBound(append([]float64(nil), cpu...), cpuCeil)
	lb.MemoryHosts = dimBound(append([]float64(nil), mem...), memCeil)
	// N+k: the hosts other than the k failed ones carry everything at
	// full capacity.
	reserveCPU, reserveMem := 0, 0
	if len(cpu) > 0 {
		reserveCPU = dimBound(cpu, cpuFull) + s.pol.Reserve
		reserveMem = dimBound(mem, memFull) + s.pol.Reserve
	}
	for _, h := range s.hosts {
		if !h.off && h.forced != "" {
			lb.PinnedHosts++
		}
	}
	for _, n := range groups {
		lb.AntiAffinityHosts = max(lb.AntiAffinityHosts, n)
	}
	lb.Hosts = max(lb.CPUHosts, lb.MemoryHosts, reserveCPU, reserveMem, lb.PinnedHosts, lb.AntiAffinityHosts)
	return lb
}

// mediumBound sharpens L2 where it is blind: items in (c/3, c/2] (medium)
// lie in L2's J3 and count only by their size, yet at most two share a
// bin and the gap two of them leave may be too small for anything else.
// Bins are counted by what they hold: NL large items (> c/2), each alone
// in its bin with at most one medium; x2 bins with two mediums; x1 with
// one; x0 with none. The small items (<= c/3) must fit in the space left,
// counted generously (the gap of a two-medium bin only if the smallest
// small item fits in it), so the minimum over x2 of
//
//	NL + x2 + x1 + x0,  x1 = M − y − 2·x2,  y = min(NL, M − 2·x2)
//
// is a lower bound. It sorts w in place.
func mediumBound(w []float64, c float64) int {
	if len(w) == 0 || c <= 0 {
		return 0
	}
	var nl, m int
	lMin, mMin, sMin := math.Inf(1), math.Inf(1), math.Inf(1)
	var small float64
	var smalls []float64
	for _, x := range w {
		switch {
		case x > c/2+eps:
			nl++
			lMin = math.Min(lMin, x)
		case x > c/3+eps:
			m++
			mMin = math.Min(mMin, x)
		default:
			small += x
			smalls = append(smalls, x)
			if x > eps {
				sMin = math.Min(sMin, x)
			}
		}
	}
	if m == 0 {
		return 0
	}
	fL := 0.0
	if nl > 0 {
		fL = usable(smalls, math.Max(0, c-lMin-mMin))
	}
	fL0 := 0.0
	if nl > 0 {
		fL0 = usable(smalls, math.Max(0, c-lMin))
	}
	f1 := usable(smalls, c-mMin)
	f2 := usable(smalls, math.Max(0, c-2*mMin))
	if f2+eps < sMin {
		f2 = 0
	}
	// For a given x2 the total is convex in y (space falls or rises
	// linearly with y and x0 is the positive part of what is left), so its
	// minimum over real y lies at an end or where the smalls just fit;
	// minimising the real-valued total and rounding up once is a bound.
	best := math.Inf(1)
	total := func(x2 int, y float64) float64 {
		x1 := float64(m-2*x2) - y
		space := y*fL + (float64(nl)-y)*fL0 + float64(x2)*f2 + x1*f1
		return float64(nl+x2) + x1 + math.Max(0, (small-space)/c)
	}
	for x2 := 0; 2*x2 <= m; x2++ {
		ymax := float64(min(nl, m-2*x2))
		ys := []float64{0, ymax}
		if k := fL - fL0 - f1; math.Abs(k) > eps {
			// small = space(y): y* = (small − space(0)) / k
			y0 := float64(nl)*fL0 + float64(x2)*f2 + float64(m-2*x2)*f1
			if ys0 := (small - y0) / k; ys0 > 0 && ys0 < ymax {
				ys = append(ys, ys0)
			}
		}
		for _, y := range ys {
			best = math.Min(best, total(x2, y))
		}
	}
	return int(math.Ceil(best - 1e-6))
}

// usable bounds from above how much of a gap f a set of the small items
// can fill: the largest sum of small items (any number of each size) that
// fits in f, computed on sizes rounded down to a grid of f/1024 and then
// raised by the rounding the most items that fit could have lost. It is
// at most f.
func usable(smalls []float64, f float64) float64 {
	if f <= eps || len(smalls) == 0 {
		return 0
	}
	const grid = 1024
	d := f / grid
	seen := make([]bool, grid+1)
	var sizes []int
	sMin := math.Inf(1)
	for _, x := range smalls {
		if x <= eps {
			continue
		}
		sMin = math.Min(sMin, x)
		if k := max(int(x/d), 1); k <= grid && !seen[k] {
			seen[k] = true
			sizes = append(sizes, k)
		}
	}
	if len(sizes) == 0 {
		return 0
	}
	reach := make([]bool, grid+1)
	reach[0] = true
	best := 0
	for s := 1; s <= grid; s++ {
		for _, k := range sizes {
			if k <= s && reach[s-k] {
				reach[s] = true
				best = s
				break
			}
		}
	}
	items := math.Floor(f / sMin)
	return math.Min(f, float64(best)*d+items*d)
}

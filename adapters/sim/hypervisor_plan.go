package sim

import (
	"fmt"
	"sort"
)

// vmRole is a kind of VM and its usual sizes.
type vmRole struct {
	name      string
	vcpus     []int   // sizes to pick from
	memoryGiB []int64 // sizes to pick from
}

// vmRoleDeck is the mix of roles one host draws from (shuffled per host,
// repeated if a host has more VMs): web-heavy, a database, batch work.
func vmRoleDeck() []vmRole {
	web := vmRole{"web", []int{2, 2, 4}, []int64{4, 4, 8}}
	app := vmRole{"app", []int{4, 4, 8}, []int64{8, 16}}
	db := vmRole{"db", []int{8, 8, 16}, []int64{32, 32, 64}}
	cache := vmRole{"cache", []int{2, 4}, []int64{16, 32}}
	batch := vmRole{"batch", []int{8, 16}, []int64{16, 32}}
	ci := vmRole{"ci", []int{4, 8}, []int64{8, 16}}
	return []vmRole{web, db, batch, app, web, cache, app, ci}
}

// hvRand is SplitMix64: small, and the same sequence on every Go release,
// so a seed always writes the same files.
type hvRand struct{ s uint64 }

func (r *hvRand) next() uint64 {
	r.s += 0x9E3779B97F4A7C15
	z := r.s
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func (r *hvRand) intn(n int) int      { return int(r.next() % uint64(n)) }
func (r *hvRand) float64() float64    { return float64(r.next()>>11) / (1 << 53) }
func pick[T any](r *hvRand, xs []T) T { return xs[r.intn(len(xs))] }

// PlanInventory decides a fleet from spec without touching the disk: host
// sizes, and per host a shuffled mix of role-sized VMs (web, app, db,
// cache, batch, ci) that fits the host (vCPUs at most its CPUs, maximum
// memory at most 85 % of its memory), about 70 % running, 10 % paused and
// 20 % shut off. Each host's first VM runs; with three or more VMs in all,
// at least one is paused and one shut off.
func PlanInventory(spec InventorySpec) (Inventory, error) {
	if err := spec.validate(); err != nil {
		return Inventory{}, err
	}
	cpus, memGiB := spec.CPUs, spec.MemoryGiB
	if cpus == 0 {
		cpus = DefaultHostCPUs
	}
	if memGiB == 0 {
		memGiB = DefaultHostMemoryGiB
	}
	r := &hvRand{s: uint64(spec.Seed)}
	used := map[string]int{} // VMs per role so far, for names
	var inv Inventory
	vmIndex := 0 // across the inventory, for MACs
	for i := 0; i < spec.Hosts; i++ {
		hv := HypervisorSpec{
			Name:      fmt.Sprintf("host-%02d", i+1),
			CPUs:      cpus,
			MHz:       pick(r, []int{2100, 2400, 2600, 2900}),
			MemoryKiB: int64(memGiB) << 20,
		}
		deck := vmRoleDeck()
		for j := len(deck) - 1; j > 0; j-- { // Fisher–Yates
			k := r.intn(j + 1)
			deck[j], deck[k] = deck[k], deck[j]
		}
		for j := 0; j < spec.VMsPerHost; j++ {
			role := deck[j%len(deck)]
			used[role.name]++
			v := VMSpec{
				Name:      fmt.Sprintf("%s-%02d", role.name, used[role.name]),
				Role:      role.name,
				UUID:      uuidFrom(r),
				MAC:       fmt.Sprintf("52:54:00:%02x:%02x:%02x", byte((vmIndex+1)>>16), byte((vmIndex+1)>>8), byte(vmIndex+1)),
				VCPUs:     pick(r, role.vcpus),
				MemoryKiB: pick(r, role.memoryGiB) << 20,
				State:     VMRunning,
			}
			vmIndex++
			if j > 0 { // each host's first VM runs
				switch p := r.float64(); {
				case p < 0.10:
					v.State = VMPaused
				case p < 0.30:
					v.State = VMShutoff
				}
			}
			hv.VMs = append(hv.VMs, v)
		}
		fitHost(&hv)
		for j := range hv.VMs {
			v := &hv.VMs[j]
			v.CurrentMemoryKiB = v.MemoryKiB
			if v.Active() { // ballooned to 75..100 %, in 256 MiB steps
				const step = 256 << 10
				cur := int64(float64(v.MemoryKiB)*(0.75+0.25*r.float64())) / step * step
				v.CurrentMemoryKiB = max(step, min(v.MemoryKiB, cur))
			}
		}
		inv.Hypervisors = append(inv.Hypervisors, hv)
	}
	ensureState(&inv, VMPaused, false)
	ensureState(&inv, VMShutoff, true)
	return inv, nil
}

func (s InventorySpec) validate() error {
	switch {
	case s.Hosts < 1 || s.Hosts > MaxInventoryHosts:
		return fmt.Errorf("sim inventory: hosts = %d, want 1..%d", s.Hosts, MaxInventoryHosts)
	case s.VMsPerHost < 0 || s.VMsPerHost > MaxVMsPerHost:
		return fmt.Errorf("sim inventory: vms per host = %d, want 0..%d", s.VMsPerHost, MaxVMsPerHost)
	case s.CPUs < 0 || s.CPUs == 1 || s.CPUs > 1024:
		return fmt.Errorf("sim inventory: cpus = %d, want 2..1024 (0 for %d)", s.CPUs, DefaultHostCPUs)
	case s.MemoryGiB < 0 || (s.MemoryGiB > 0 && s.MemoryGiB < 4) || s.MemoryGiB > 16384:
		return fmt.Errorf("sim inventory: memory = %d GiB, want 4..16384 (0 for %d)", s.MemoryGiB, DefaultHostMemoryGiB)
	}
	cpus, memGiB := s.CPUs, s.MemoryGiB
	if cpus == 0 {
		cpus = DefaultHostCPUs
	}
	if memGiB == 0 {
		memGiB = DefaultHostMemoryGiB
	}
	if s.VMsPerHost > cpus {
		return fmt.Errorf("sim inventory: %d VMs per host do not fit %d CPUs (1 vCPU each at least, no overcommit)", s.VMsPerHost, cpus)
	}
	if float64(s.VMsPerHost) > float64(memGiB)*vmMemoryShare {
		return fmt.Errorf("sim inventory: %d VMs per host do not fit %.0f GiB (%.0f %% of %d GiB; 1 GiB each at least)", s.VMsPerHost, float64(memGiB)*vmMemoryShare, vmMemoryShare*100, memGiB)
	}
	return nil
}

// fitHost halves the largest VMs until the host's VMs fit it: their vCPUs
// at most its CPUs, their maximum memory at most vmMemoryShare of its
// memory. validate has made sure 1 vCPU and 1 GiB each fit.
func fitHost(hv *HypervisorSpec) {
	const gib = int64(1) << 20
	largest := func(less func(a, b VMSpec) bool) *VMSpec {
		idx := make([]int, len(hv.VMs))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return less(hv.VMs[idx[b]], hv.VMs[idx[a]]) })
		return &hv.VMs[idx[0]]
	}
	for {
		vcpus := 0
		for _, v := range hv.VMs {
			vcpus += v.VCPUs
		}
		if vcpus <= hv.CPUs {
			break
		}
		v := largest(func(a, b VMSpec) bool { return a.VCPUs < b.VCPUs })
		v.VCPUs = max(1, v.VCPUs/2)
	}
	limit := int64(float64(hv.MemoryKiB) * vmMemoryShare)
	for {
		var kib int64
		for _, v := range hv.VMs {
			kib += v.MemoryKiB
		}
		if kib <= limit {
			break
		}
		v := largest(func(a, b VMSpec) bool { return a.MemoryKiB < b.MemoryKiB })
		v.MemoryKiB = max(gib, v.MemoryKiB/2/gib*gib)
	}
}

// ensureState turns one running VM into state if no VM of the inventory has
// it (given three or more VMs): never a host's first VM, searching from the
// last host when fromEnd, else from the first.
func ensureState(inv *Inventory, state string, fromEnd bool) {
	total := 0
	for _, hv := range inv.Hypervisors {
		if hv.Count(state) > 0 {
			return
		}
		total += len(hv.VMs)
	}
	if total < 3 {
		return
	}
	n := len(inv.Hypervisors)
	for i := 0; i < n; i++ {
		hv := &inv.Hypervisors[i]
		if fromEnd {
			hv = &inv.Hypervisors[n-1-i]
		}
		for j := len(hv.VMs) - 1; j >= 1; j-- {
			if v := &hv.VMs[j]; v.State == VMRunning {
				v.State = state
				if !v.Active() { // a shut-off domain shows its full memory
					v.CurrentMemoryKiB = v.MemoryKiB
				}
				return
			}
		}
	}
}

// uuidFrom draws a random (version 4) UUID from r.
func uuidFrom(r *hvRand) string {
	hi, lo := r.next(), r.next()
	hi = hi&^0xF000 | 0x4000           // version 4
	lo = lo&^(0xC000<<48) | 0x8000<<48 // variant 10
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xFFFF, hi&0xFFFF, lo>>48, lo&0xFFFFFFFFFFFF)
}

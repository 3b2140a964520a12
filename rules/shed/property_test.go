package shed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

var t0 = time.Date(2026, 7, 15, 14, 0, 0, 0, time.UTC)

// randomInventory builds a site of 2..60 hosts in racks and rooms, mixed
// capacities, VMs placed first fit in random order under each host's
// capacity, with some pinned, frozen, affinity and anti-affinity VMs.
func randomInventory(r *rand.Rand) Inventory {
	nh := 2 + r.IntN(59)
	inv := Inventory{Site: "s", PUE: 1 + r.Float64()*0.6}
	kinds := []struct{ cpu, mem, idle, slope float64 }{{32, 256, 180, 170}, {64, 512, 250, 250}, {16, 128, 110, 90}}
	mixed := r.IntN(2) == 0
	for i := range nh {
		k := kinds[0]
		if mixed {
			k = kinds[r.IntN(len(kinds))]
		}
		h := Host{Name: fmt.Sprintf("h%02d", i), Site: "s", Room: fmt.Sprintf("r%d", i/20), Rack: fmt.Sprintf("k%d", i/5),
			CPU: k.cpu, MemoryGB: k.mem, IdleW: k.idle, SlopeW: k.slope, BMC: "ipmi"}
		switch r.IntN(30) {
		case 0:
			h.Maintenance = true
		case 1:
			h.BMC = "none"
		case 2:
			h.PowerCyclesToday = 1
		}
		inv.Hosts = append(inv.Hosts, h)
	}
	cpuUsed := make([]float64, nh)
	memUsed := make([]float64, nh)
	anti := map[[2]any]bool{}
	nv := r.IntN(nh * 8)
	fill := 0.2 + r.Float64()*0.6
	for i := range nv {
		v := VM{Name: fmt.Sprintf("v%03d", i), VCPUs: 1 + r.IntN(8), CPU: 0.2 + r.Float64()*8*fill, MemoryGB: 1 + r.Float64()*48*fill,
			Service: fmt.Sprintf("svc%d", r.IntN(6))}
		switch r.IntN(40) {
		case 0:
			v.Pinned = true
		case 1:
			v.SLAClass = "frozen"
		case 2:
			v.LocalDisk = true
		case 3:
			v.LastMigrated = t0.Add(-10 * time.Minute)
		}
		if r.IntN(8) == 0 {
			v.AntiAffinity = fmt.Sprintf("aa%d", r.IntN(4))
		}
		if r.IntN(12) == 0 {
			v.Affinity = fmt.Sprintf("af%d", r.IntN(3))
		}
		start := r.IntN(nh)
		for j := range nh {
			h := (start + j) % nh
			if v.AntiAffinity != "" && anti[[2]any{h, v.AntiAffinity}] {
				continue
			}
			if cpuUsed[h]+v.CPU <= inv.Hosts[h].CPU*0.8 && memUsed[h]+v.MemoryGB <= inv.Hosts[h].MemoryGB*0.85 {
				anti[[2]any{h, v.AntiAffinity}] = true
				v.Host = inv.Hosts[h].Name
				cpuUsed[h] += v.CPU
				memUsed[h] += v.MemoryGB
				break
			}
		}
		if v.Host != "" {
			inv.VMs = append(inv.VMs, v)
		}
	}
	spent := 0.05
	inv.Services = []Service{{Name: "svc0", ErrorBudgetRemaining: &spent}}
	return inv
}

// checkPlan verifies a plan against its inventory from scratch.
func checkPlan(t *testing.T, inv Inventory, pol Policy, plan Plan) {
	t.Helper()
	pol = pol.WithDefaults()
	hosts := map[string]Host{}
	for _, h := range inv.Hosts {
		hosts[h.Name] = h
	}
	where := map[string]string{}
	vms := map[string]VM{}
	for _, v := range inv.VMs {
		where[v.Name] = v.Host
		vms[v.Name] = v
	}
	before := map[string]string{}
	for k, v := range where {
		before[k] = v
	}
	off := map[string]bool{}
	done := map[string]bool{}
	moved := map[string]bool{}
	receivers := map[string]bool{}
	migFrom := map[string][]string{}
	for _, st := range plan.Steps {
		for _, d := range st.DependsOn {
			if !done[d] {
				t.Fatalf("step %s depends on %s, which does not come before it", st.ID, d)
			}
		}
		done[st.ID] = true
		switch st.Kind {
		case StepMigrate:
			v, ok := vms[st.VM]
			if !ok {
				t.Fatalf("step %s migrates unknown vm %s", st.ID, st.VM)
			}
			if moved[st.VM] {
				t.Fatalf("vm %s moves twice", st.VM)
			}
			moved[st.VM] = true
			if where[st.VM] != st.From {
				t.Fatalf("vm %s migrates from %s but is on %s", st.VM, st.From, where[st.VM])
			}
			if v.Pinned || v.LocalDisk || v.NotLiveMigratable || v.SLAClass == "frozen" || v.Service == "svc0" ||
				(!v.LastMigrated.IsZero() && t0.Sub(v.LastMigrated) < time.Hour) {
				t.Fatalf("vm %s may not move but does", st.VM)
			}
			if off[st.To] {
				t.Fatalf("vm %s planned onto %s, which is powered off", st.VM, st.To)
			}
			if hosts[st.To].Maintenance {
				t.Fatalf("vm %s planned onto %s in maintenance", st.VM, st.To)
			}
			where[st.VM] = st.To
			receivers[st.To] = true
			migFrom[st.From] = append(migFrom[st.From], st.ID)
		case StepPowerOff:
			h := hosts[st.Host]
			if h.Maintenance || h.BMC == "none" || h.PowerCyclesToday >= 1 {
				t.Fatalf("host %s may not be powered off", st.Host)
			}
			for vm, at := range where {
				if at == st.Host {
					t.Fatalf("host %s powered off with vm %s on it", st.Host, vm)
				}
			}
			deps := map[string]bool{}
			for _, d := range st.DependsOn {
				deps[d] = true
			}
			for _, m := range migFrom[st.Host] {
				if !deps[m] {
					t.Fatalf("power_off %s does not depend on migration %s off it", st.Host, m)
				}
			}
			off[st.Host] = true
		}
	}
	for _, st := range plan.Steps {
		if st.Kind == StepMigrate && !off[st.From] {
			t.Fatalf("migration of %s from %s does not empty a host the plan powers off", st.VM, st.From)
		}
		if st.Kind == StepMigrate && off[st.To] {
			t.Fatalf("vm %s planned onto released host %s", st.VM, st.To)
		}
	}
	cpu := map[string]float64{}
	mem := map[string]float64{}
	for vm, h := range where {
		cpu[h] += vms[vm].CPU
		mem[h] += vms[vm].MemoryGB
		if off[h] {
			t.Fatalf("vm %s left on released host %s", vm, h)
		}
	}
	for h := range receivers {
		if cpu[h] > hosts[h].CPU*pol.CPUCeiling+1e-6 || mem[h] > hosts[h].MemoryGB*pol.MemCeiling+1e-6 {
			t.Fatalf("host %s over its ceiling after the plan: cpu %.2f/%.2f mem %.2f/%.2f", h, cpu[h], hosts[h].CPU, mem[h], hosts[h].MemoryGB)
		}
	}
	// Affinity: a group on one host before is on one host after;
	// anti-affinity: no receiver holds two of a group.
	affHosts := map[string]map[string]bool{}
	affBefore := map[string]map[string]bool{}
	anti := map[[2]string]int{}
	for vm, h := range where {
		v := vms[vm]
		if v.Affinity != "" {
			if affHosts[v.Affinity] == nil {
				affHosts[v.Affinity] = map[string]bool{}
				affBefore[v.Affinity] = map[string]bool{}
			}
			affHosts[v.Affinity][h] = true
			affBefore[v.Affinity][before[vm]] = true
		}
		if v.AntiAffinity != "" {
			anti[[2]string{h, v.AntiAffinity}]++
		}
	}
	for g, hs := range affHosts {
		if len(hs) > len(affBefore[g]) {
			t.Fatalf("affinity group %s spread over %d hosts, was %d", g, len(hs), len(affBefore[g]))
		}
	}
	for k, n := range anti {
		if n > 1 && receivers[k[0]] {
			t.Fatalf("anti-affinity group %s has %d VMs on receiver %s", k[1], n, k[0])
		}
	}
	// N+k by packing, re-checked independently: the k most loaded
	// survivors' VMs fit first-fit decreasing on the others.
	var surv []string
	for _, h := range inv.Hosts {
		if !h.Off && !off[h.Name] {
			surv = append(surv, h.Name)
		}
	}
	if plan.Expected.HostsAfter != len(surv) {
		t.Fatalf("hosts_after %d, but %d hosts stay on", plan.Expected.HostsAfter, len(surv))
	}
	if len(plan.Expected.HostsReleased) > 0 && pol.Reserve > 0 && len(surv) > pol.Reserve {
		ref := refSizes(inv)
		sort.SliceStable(surv, func(i, j int) bool {
			return math.Max(cpu[surv[i]]/ref[0], mem[surv[i]]/ref[1]) > math.Max(cpu[surv[j]]/ref[0], mem[surv[j]]/ref[1])
		})
		failed := map[string]bool{}
		for _, h := range surv[:pol.Reserve] {
			failed[h] = true
		}
		var items [][2]float64
		for vm, h := range where {
			if failed[h] {
				items = append(items, [2]float64{vms[vm].CPU, vms[vm].MemoryGB})
			}
		}
		sort.Slice(items, func(i, j int) bool {
			return math.Max(items[i][0]/ref[0], items[i][1]/ref[1]) > math.Max(items[j][0]/ref[0], items[j][1]/ref[1])
		})
		rest := surv[pol.Reserve:]
		fc := map[string]float64{}
		fm := map[string]float64{}
		for _, h := range rest {
			fc[h] = hosts[h].CPU - cpu[h]
			fm[h] = hosts[h].MemoryGB - mem[h]
		}
		for _, it := range items {
			placed := false
			for _, h := range rest {
				if fc[h]+1e-9 >= it[0] && fm[h]+1e-9 >= it[1] {
					fc[h] -= it[0]
					fm[h] -= it[1]
					placed = true
					break
				}
			}
			if !placed {
				t.Fatalf("N+%d broken: the VMs of %v do not fit on the other hosts", pol.Reserve, surv[:pol.Reserve])
			}
		}
	}
	if plan.Expected.HostsAfter < plan.LowerBound.Hosts && len(plan.Expected.HostsReleased) > 0 {
		t.Fatalf("hosts after %d below the lower bound %d", plan.Expected.HostsAfter, plan.LowerBound.Hosts)
	}
	checkConcurrency(t, pol, plan)
	if plan.Expected.Migrations != len(moved) {
		t.Fatalf("expected.migrations %d, %d steps", plan.Expected.Migrations, len(moved))
	}
}

func refSizes(inv Inventory) [2]float64 {
	var c, m float64
	for _, h := range inv.Hosts {
		c += h.CPU
		m += h.MemoryGB
	}
	n := float64(len(inv.Hosts))
	return [2]float64{c / n, m / n}
}

func TestPropertyRandomInventories(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 500
	}
	r := rand.New(rand.NewPCG(11, 2026))
	for i := range n {
		inv := randomInventory(r)
		pol := Policy{}
		if i%3 == 1 {
			pol.Reserve = 2
		}
		if i%5 == 2 {
			pol.Reserve = -1
		}
		req := Request{Kind: KindConsolidate}
		if i%2 == 1 {
			req = Request{Kind: KindShed, KW: r.Float64() * 3, By: t0.Add(30 * time.Minute)}
		}
		plan, err := NewPlan(Input{Inventory: inv, Policy: pol, Request: req, Now: t0})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("case %d: %d hosts, %d vms, request %+v", i, len(inv.Hosts), len(inv.VMs), req)
				}
			}()
			checkPlan(t, inv, pol, plan)
		})
		if t.Failed() {
			return
		}
	}
}

// checkConcurrency: at no instant of the plan's schedule are more
// migrations in flight than the limits allow, per host (sent + received)
// and per site, and no step starts before the steps it depends on end.
func checkConcurrency(t *testing.T, pol Policy, plan Plan) {
	t.Helper()
	end := map[string]time.Duration{}
	type iv struct {
		a, b     time.Duration
		from, to string
	}
	var ivs []iv
	for _, s := range plan.Steps {
		a := s.ExpectedStart.D()
		for _, d := range s.DependsOn {
			if a < end[d] {
				t.Fatalf("step %s starts at %s, before its dependency %s ends at %s", s.ID, a, d, end[d])
			}
		}
		end[s.ID] = a + s.ExpectedDuration.D()
		if s.Kind == StepMigrate {
			ivs = append(ivs, iv{a, a + s.ExpectedDuration.D(), s.From, s.To})
		}
	}
	for _, x := range ivs {
		site, host := 0, map[string]int{}
		for _, y := range ivs {
			if y.a <= x.a && x.a < y.b {
				site++
				host[y.from]++
				host[y.to]++
			}
		}
		if site > pol.MigrationsPerSite {
			t.Fatalf("%d migrations in flight at %s, limit %d", site, x.a, pol.MigrationsPerSite)
		}
		for h, n := range host {
			if n > pol.MigrationsPerHost {
				t.Fatalf("host %s has %d migrations in flight at %s, limit %d", h, n, x.a, pol.MigrationsPerHost)
			}
		}
	}
}

// TestPropertyRestore: restores over random inventories with some hosts
// off: only off hosts are powered on, never within the protection window,
// every rebalancing migration waits for its destination's power-on and
// leaves a host that was above a ceiling, and no VM moves twice.
func TestPropertyRestore(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 11))
	migrations, powerOns := 0, 0
	for i := range 500 {
		inv := randomInventory(r)
		if i%2 == 0 {
			// Load grew since the shed: some hosts are above a ceiling.
			for j := range inv.VMs {
				inv.VMs[j].CPU *= 1.25
			}
		}
		used := map[string]bool{}
		for _, v := range inv.VMs {
			used[v.Host] = true
		}
		for j := range inv.Hosts {
			if !used[inv.Hosts[j].Name] && r.IntN(2) == 0 {
				inv.Hosts[j].Off = true
				inv.Hosts[j].LastPowerOff = t0.Add(-time.Duration(r.IntN(90)) * time.Minute)
			}
		}
		plan, err := NewPlan(Input{Inventory: inv, Request: Request{Kind: KindRestore}, Now: t0})
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		hosts := map[string]Host{}
		for _, h := range inv.Hosts {
			hosts[h.Name] = h
		}
		onStep := map[string]string{}
		moved := map[string]bool{}
		cpu, mem := map[string]float64{}, map[string]float64{}
		for _, v := range inv.VMs {
			cpu[v.Host] += v.CPU
			mem[v.Host] += v.MemoryGB
		}
		pol := Policy{}.WithDefaults()
		for _, s := range plan.Steps {
			switch s.Kind {
			case StepPowerOn:
				h := hosts[s.Host]
				if !h.Off || h.Maintenance || h.BMC == "none" {
					t.Fatalf("case %d: power_on of %s (%+v)", i, s.Host, h)
				}
				if at := t0.Add(s.ExpectedStart.D()); at.Before(h.LastPowerOff.Add(40 * time.Minute)) {
					t.Fatalf("case %d: %s powered on at %s, within 40 min of its power-off at %s", i, s.Host, at, h.LastPowerOff)
				}
				onStep[s.Host] = s.ID
				powerOns++
			case StepMigrate:
				migrations++
				if moved[s.VM] {
					t.Fatalf("case %d: %s moves twice", i, s.VM)
				}
				moved[s.VM] = true
				if id, ok := onStep[s.To]; !ok || len(s.DependsOn) != 1 || s.DependsOn[0] != id {
					t.Fatalf("case %d: migration %s to %s does not wait for its power_on", i, s.VM, s.To)
				}
				h := hosts[s.From]
				if cpu[s.From] <= h.CPU*pol.CPUCeiling+1e-9 && mem[s.From] <= h.MemoryGB*pol.MemCeiling+1e-9 {
					t.Fatalf("case %d: migration of %s off %s, which is not above a ceiling", i, s.VM, s.From)
				}
				for _, v := range inv.VMs {
					if v.Name == s.VM {
						cpu[s.From] -= v.CPU
						mem[s.From] -= v.MemoryGB
					}
				}
			}
		}
		checkConcurrency(t, Policy{}.WithDefaults(), plan)
	}
	if migrations == 0 || powerOns == 0 {
		t.Fatalf("the cases exercised nothing: %d power-ons, %d migrations", powerOns, migrations)
	}
	t.Logf("%d power-ons, %d rebalancing migrations", powerOns, migrations)
}

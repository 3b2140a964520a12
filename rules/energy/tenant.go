package energy

import "sort"

// Unlabelled is the group of VMs without a tenant (or service) label.
const Unlabelled = "(unlabelled)"

// VMLabels are the labels of one VM that energy is totalled by. An empty
// label counts as missing.
type VMLabels struct {
	Tenant  string
	Service string
}

// GroupKWh is the attributed energy of one tenant or service.
type GroupKWh struct {
	Name      string
	KWh       float64
	IdleKWh   float64
	ActiveKWh float64
	// VMs is the number of VM entries added (a VM attributed on two hosts
	// or in two periods counts twice).
	VMs int
}

// LabelTotals is attributed VM energy totalled per tenant and per
// service, each sorted by name with Unlabelled last.
type LabelTotals struct {
	Tenants  []GroupKWh
	Services []GroupKWh
	// KWh is the energy of all the VMs: the sum over Tenants, and over
	// Services.
	KWh float64
}

// TotalsByLabel totals per-VM attributed energy (the VMs of one or more
// AttributeVMs results, concatenated) by the VMs' tenant and service
// labels. A VM missing from labels, or with an empty label, is totalled
// under Unlabelled for that label. Energy left with the host
// (Attribution.HostKWh) belongs to no VM and is not counted here.
func TotalsByLabel(vms []VMEnergy, labels map[string]VMLabels) LabelTotals {
	tenants := map[string]*GroupKWh{}
	services := map[string]*GroupKWh{}
	add := func(m map[string]*GroupKWh, name string, v VMEnergy) {
		if name == "" {
			name = Unlabelled
		}
		g := m[name]
		if g == nil {
			g = &GroupKWh{Name: name}
			m[name] = g
		}
		g.KWh += v.KWh
		g.IdleKWh += v.IdleKWh
		g.ActiveKWh += v.ActiveKWh
		g.VMs++
	}
	var t LabelTotals
	for _, v := range vms {
		l := labels[v.VM]
		add(tenants, l.Tenant, v)
		add(services, l.Service, v)
		t.KWh += v.KWh
	}
	t.Tenants = sortedGroups(tenants)
	t.Services = sortedGroups(services)
	return t
}

func sortedGroups(m map[string]*GroupKWh) []GroupKWh {
	out := make([]GroupKWh, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Name, out[j].Name
		if (a == Unlabelled) != (b == Unlabelled) {
			return b == Unlabelled
		}
		return a < b
	})
	return out
}

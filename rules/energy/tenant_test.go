package energy

import (
	"testing"
	"time"
)

func TestTenantAndServiceTotals(t *testing.T) {
	// One host, 2 h, 1.0 kWh metered, idle 200 W by its model: idle
	// 0.4 kWh shared by vCPUs (2+2+4 = 8), active 0.6 kWh by CPU time
	// (node 1000 s: web 300 s, db 500 s, batch 100 s, the host 100 s).
	a, err := AttributeVMs(HostPeriod{KWh: 1.0, Duration: 2 * time.Hour, NodeCPUSeconds: 1000, Model: HostModel{IdleW: 200, SlopeW: 300}},
		[]VMUsage{{VM: "web", CPUSeconds: 300, VCPUs: 2}, {VM: "db", CPUSeconds: 500, VCPUs: 2}, {VM: "batch", CPUSeconds: 100, VCPUs: 4}})
	if err != nil {
		t.Fatal(err)
	}
	// web   0.1 + 0.18 = 0.28   db 0.1 + 0.30 = 0.40   batch 0.2 + 0.06 = 0.26
	// A second host's VM (given directly): "cache", 0.5 kWh, no labels.
	vms := append(a.VMs, VMEnergy{VM: "cache", IdleKWh: 0.2, ActiveKWh: 0.3, KWh: 0.5})
	// batch has a tenant but no service: unlabelled service.
	labels := map[string]VMLabels{
		"web":   {Tenant: "acme", Service: "shop"},
		"db":    {Tenant: "acme", Service: "shop"},
		"batch": {Tenant: "beta"},
	}
	type row struct {
		name             string
		kwh, idle, activ float64
		vms              int
	}
	cases := []struct {
		name string
		got  func(LabelTotals) []GroupKWh
		want []row
	}{
		{"tenants", func(l LabelTotals) []GroupKWh { return l.Tenants }, []row{
			{"acme", 0.68, 0.2, 0.48, 2},
			{"beta", 0.26, 0.2, 0.06, 1},
			{Unlabelled, 0.5, 0.2, 0.3, 1},
		}},
		{"services", func(l LabelTotals) []GroupKWh { return l.Services }, []row{
			{"shop", 0.68, 0.2, 0.48, 2},
			{Unlabelled, 0.76, 0.4, 0.36, 2},
		}},
		{"no labels", func(LabelTotals) []GroupKWh { return TotalsByLabel(vms, nil).Tenants }, []row{
			{Unlabelled, 1.44, 0.6, 0.84, 4},
		}},
		{"no VMs", func(LabelTotals) []GroupKWh { return TotalsByLabel(nil, labels).Services }, []row{}},
	}
	tot := TotalsByLabel(vms, labels)
	near(t, "total", tot.KWh, 0.28+0.40+0.26+0.5)
	near(t, "host keeps", a.HostKWh, 0.06)
	for _, c := range cases {
		got := c.got(tot)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d groups %+v, want %d", c.name, len(got), got, len(c.want))
			continue
		}
		for i, w := range c.want {
			g := got[i]
			if g.Name != w.name || g.VMs != w.vms {
				t.Errorf("%s[%d] = %s with %d VMs, want %s with %d", c.name, i, g.Name, g.VMs, w.name, w.vms)
			}
			near(t, c.name+" "+w.name+" kWh", g.KWh, w.kwh)
			near(t, c.name+" "+w.name+" idle", g.IdleKWh, w.idle)
			near(t, c.name+" "+w.name+" active", g.ActiveKWh, w.activ)
		}
	}
}

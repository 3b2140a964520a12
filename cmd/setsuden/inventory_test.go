package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/shed/inventory"
)

// TestInventoryExportOnInfluxd stores a day of libvirt host and vm points
// and a for_host meter in a real influxd, exports the inventory through the
// binary, checks it against the numbers written, and plans with it.
//
//	hv-1: 16 CPUs, 64 GiB, room r1 rack a, metered: 100 W + 200 W x util
//	hv-2: 16 CPUs, 64 GiB, room r1 rack b, unmetered (nameplate 150/400 W)
//	hv-3: 16 CPUs, 64 GiB, room r1 rack b
//	vm-a (hv-1, 4 vCPUs, 8 GiB): cpu_util i/100 for sample i = 0..99 repeated
//	  (p95 = 0.9405 → 3.762 cores)
//	vm-b (hv-2, 2 vCPUs, 4 GiB): 0.5 → 1 core; migrated to hv-3 at 12:00
//	vm-c (hv-2, 2 vCPUs): shut off → left out
func TestInventoryExportOnInfluxd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd")
	}
	db := testinflux.Start(t)
	start := time.Date(2024, 7, 3, 0, 0, 0, 0, time.UTC)
	var pts []point.Point
	for i := range 24 * 60 {
		tt := start.Add(time.Duration(i) * time.Minute)
		ua := float64(i%100) / 100
		u1 := ua * 4 / 16
		host := func(name, rack string, util float64) point.Point {
			return point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": name, "room": "r1", "rack": rack},
				Fields: map[string]any{"cpus": int64(16), "memory_kib": int64(64 << 20), "cpu_util": util}, Time: tt}
		}
		vm := func(h, name string, util float64, vcpus, memKiB int64, state string) point.Point {
			f := map[string]any{"vcpus": vcpus, "memory_kib": memKiB, "state": state}
			if state == "running" {
				f["cpu_util"] = util
			}
			return point.Point{Measurement: "vm", Tags: map[string]string{"site": "dc1", "host": h, "vm": name, "uuid": name}, Fields: f, Time: tt}
		}
		bHost := "hv-2"
		if i >= 12*60 {
			bHost = "hv-3"
		}
		pts = append(pts, host("hv-1", "a", u1), host("hv-2", "b", 0.06), host("hv-3", "b", 0.06),
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-h1", "for_host": "hv-1", "category": "it"},
				Fields: map[string]any{"kw": (100 + 200*u1) / 1000}, Time: tt},
			vm("hv-1", "vm-a", ua, 4, 8<<20, "running"),
			vm(bHost, "vm-b", 0.5, 2, 4<<20, "running"),
			vm("hv-2", "vm-c", 0, 2, 4<<20, "shutoff"))
	}
	testinflux.Write(t, db, pts)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), "")
	out := filepath.Join(t.TempDir(), "inventory.yaml")
	_, stderr, code := runBin(t, "inventory", "export", "--config", conf, "--at", "2024-07-04T00:00:00Z", "--days", "1", "--out", out)
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	f, err := inventory.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	inv := f.Inventory
	if len(inv.Hosts) != 3 || len(inv.VMs) != 2 {
		t.Fatalf("hosts %d, vms %d: %+v", len(inv.Hosts), len(inv.VMs), inv)
	}
	h1 := inv.Hosts[0]
	if h1.Name != "hv-1" || h1.CPU != 16 || h1.MemoryGB != 64 || h1.Rack != "a" || h1.Room != "r1" {
		t.Errorf("hv-1 = %+v", h1)
	}
	if math.Abs(h1.IdleW-100) > 0.5 || math.Abs(h1.SlopeW-200) > 0.5 {
		t.Errorf("hv-1 model idle %.2f slope %.2f, want the fitted 100 + 200 x u", h1.IdleW, h1.SlopeW)
	}
	if h2 := inv.Hosts[1]; h2.IdleW != 150 || h2.SlopeW != 250 {
		t.Errorf("hv-2 model %+v, want nameplate 150/400", h2)
	}
	byName := map[string]int{}
	for i, v := range inv.VMs {
		byName[v.Name] = i
	}
	a := inv.VMs[byName["vm-a"]]
	if math.Abs(a.CPU-0.9405*4) > 0.01 || a.MemoryGB != 8 || a.VCPUs != 4 {
		t.Errorf("vm-a = %+v, want cpu p95 3.762 cores, 8 GB", a)
	}
	if b := inv.VMs[byName["vm-b"]]; b.Host != "hv-3" || math.Abs(b.CPU-1) > 1e-9 {
		t.Errorf("vm-b = %+v, want on hv-3 (after its migration) with 1 core", b)
	}
	rawB, _ := os.ReadFile(out)
	raw := string(rawB)
	if !strings.Contains(raw, "# left out: vm vm-c (shutoff)") {
		t.Errorf("vm-c not reported as left out:\n%s", raw)
	}
	// Plan with it: the load fits one host, N+1 keeps a second, so one of
	// the three is released.
	stdout, stderr, code := runBin(t, "plan", "--inventory", out, "--at", "2024-07-04T00:00:00Z")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, stderr)
	}
	sum := lastJSONLine(t, stdout)
	if sum["hosts_before"].(float64) != 3 || sum["hosts_after"].(float64) >= 3 {
		t.Errorf("plan on the export: %v", sum)
	}
}

// TestInventoryExportSLA exports with the SLA catalog and this month's
// figures from a real influxd (writeSLAMonth: web down 50 unplanned
// minutes in April 2025 against a 99.9% objective, db up throughout) and
// VM labels: web's VM gets the spent budget and the plan leaves it alone.
func TestInventoryExportSLA(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd")
	}
	db := testinflux.Start(t)
	stateDir := t.TempDir()
	writeSLAMonth(t, db, stateDir)
	var pts []point.Point
	for at := slaJST(4, 29, 0, 0); at.Before(slaJST(4, 30, 12, 0)); at = at.Add(5 * time.Minute) {
		for _, h := range []string{"hv1", "hv2", "hv3"} {
			pts = append(pts, point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": h, "rack": "a"},
				Fields: map[string]any{"cpus": int64(16), "memory_kib": int64(64 << 20), "cpu_util": 0.1}, Time: at})
		}
		for i, name := range []string{"vm-a", "vm-b", "vm-c"} {
			pts = append(pts, point.Point{Measurement: "vm", Tags: map[string]string{"site": "dc1", "host": []string{"hv1", "hv2", "hv3"}[i], "vm": name, "uuid": name},
				Fields: map[string]any{"vcpus": int64(2), "memory_kib": int64(4 << 20), "state": "running", "cpu_util": 0.25}, Time: at})
		}
	}
	testinflux.Write(t, db, pts)
	conf := writeSLAConfig(t, db.URL, db.Bucket(), slaSection(stateDir))
	labels := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(labels, []byte("vm,tenant,service\nvm-a,acme,web\nvm-b,globex,db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "inventory.yaml")
	_, stderr, code := runBin(t, "inventory", "export", "--config", conf, "--at", "2025-04-30T12:00:00+09:00", "--days", "1",
		"--labels", labels, "--sla", "--out", out)
	if code != 0 {
		t.Fatalf("export: exit %d\n%s", code, stderr)
	}
	f, err := inventory.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	budget := map[string]float64{}
	for _, s := range f.Inventory.Services {
		if s.ErrorBudgetRemaining == nil {
			t.Fatalf("service %s has no budget", s.Name)
		}
		budget[s.Name] = *s.ErrorBudgetRemaining
	}
	if len(budget) != 2 || budget["web"] != 0 || budget["db"] != 1 {
		t.Errorf("budgets %v, want web 0 (50 min down > 43 min of budget), db 1", budget)
	}
	for _, v := range f.Inventory.VMs {
		want := map[string]string{"vm-a": "web", "vm-b": "db", "vm-c": ""}[v.Name]
		if v.Service != want || (want != "" && v.SLAClass != "core") {
			t.Errorf("%s: service %q class %q, want %q / core", v.Name, v.Service, v.SLAClass, want)
		}
	}
	stdout, stderr, code := runBin(t, "plan", "--inventory", out, "--at", "2025-04-30T12:00:00+09:00")
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "vm-a on hv1: error_budget_nearly_spent") {
		t.Errorf("vm-a not left alone for its spent budget:\n%s", stdout)
	}
}

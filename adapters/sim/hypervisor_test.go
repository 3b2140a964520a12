package sim

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var updateInventory = flag.Bool("update-inventory", false, "rewrite testdata/inventory golden files")

// demoSpec is the fleet of the demo: 4 hosts × 5 VMs.
func demoSpec() InventorySpec { return InventorySpec{Hosts: 4, VMsPerHost: 5, Seed: 1} }

func TestPlanInventoryIsDeterministic(t *testing.T) {
	a, err := PlanInventory(demoSpec())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := PlanInventory(demoSpec())
	if !reflect.DeepEqual(a, b) {
		t.Error("same spec, different inventories")
	}
	other := demoSpec()
	other.Seed = 2
	c, _ := PlanInventory(other)
	if reflect.DeepEqual(a, c) {
		t.Error("seeds 1 and 2 give the same inventory")
	}
}

func TestPlanInventoryIsRealistic(t *testing.T) {
	specs := []InventorySpec{
		demoSpec(),
		{Hosts: 1, VMsPerHost: 1, Seed: 3},
		{Hosts: 3, VMsPerHost: 8, Seed: 4, CPUs: 16, MemoryGiB: 64},
		{Hosts: 2, VMsPerHost: 12, Seed: 5, CPUs: 12, MemoryGiB: 16}, // tight: sizes get halved
		{Hosts: 12, VMsPerHost: 10, Seed: -9, CPUs: 96, MemoryGiB: 768},
		{Hosts: 2, VMsPerHost: 0, Seed: 6},
	}
	knownRoles := map[string]bool{"web": true, "app": true, "db": true, "cache": true, "batch": true, "ci": true}
	for _, spec := range specs {
		inv, err := PlanInventory(spec)
		if err != nil {
			t.Fatalf("%+v: %v", spec, err)
		}
		if len(inv.Hypervisors) != spec.Hosts {
			t.Fatalf("%+v: %d hosts", spec, len(inv.Hypervisors))
		}
		names, uuids, macs := map[string]bool{}, map[string]bool{}, map[string]bool{}
		states := map[string]int{}
		for i, hv := range inv.Hypervisors {
			if want := fmt.Sprintf("host-%02d", i+1); hv.Name != want {
				t.Errorf("host %d named %q, want %q", i, hv.Name, want)
			}
			if len(hv.VMs) != spec.VMsPerHost {
				t.Errorf("%s: %d VMs, want %d", hv.Name, len(hv.VMs), spec.VMsPerHost)
			}
			vcpus, mem := 0, int64(0)
			for j, v := range hv.VMs {
				role, _, ok := strings.Cut(v.Name, "-")
				if !ok || role != v.Role || !knownRoles[role] {
					t.Errorf("%s: VM %q is not role-prefixed (role %q)", hv.Name, v.Name, v.Role)
				}
				if names[v.Name] || uuids[v.UUID] || macs[v.MAC] {
					t.Errorf("%s: %s repeats a name, UUID or MAC", hv.Name, v.Name)
				}
				names[v.Name], uuids[v.UUID], macs[v.MAC] = true, true, true
				if len(v.UUID) != 36 || v.UUID[14] != '4' {
					t.Errorf("%s: UUID %q is not a version-4 UUID", v.Name, v.UUID)
				}
				if v.VCPUs < 1 || v.MemoryKiB < 1<<20 || v.CurrentMemoryKiB < 256<<10 || v.CurrentMemoryKiB > v.MemoryKiB {
					t.Errorf("%s: %d vCPUs, %d/%d KiB", v.Name, v.VCPUs, v.CurrentMemoryKiB, v.MemoryKiB)
				}
				if v.State == VMShutoff && v.CurrentMemoryKiB != v.MemoryKiB {
					t.Errorf("%s: shut off with current memory %d below maximum %d", v.Name, v.CurrentMemoryKiB, v.MemoryKiB)
				}
				if j == 0 && v.State != VMRunning {
					t.Errorf("%s: first VM %s is %s, want running", hv.Name, v.Name, v.State)
				}
				states[v.State]++
				vcpus += v.VCPUs
				mem += v.MemoryKiB
			}
			if vcpus > hv.CPUs {
				t.Errorf("%s: %d vCPUs on %d CPUs", hv.Name, vcpus, hv.CPUs)
			}
			if float64(mem) > 0.85*float64(hv.MemoryKiB) {
				t.Errorf("%s: %d KiB of VMs on %d KiB", hv.Name, mem, hv.MemoryKiB)
			}
		}
		if spec.Hosts*spec.VMsPerHost >= 3 && (states[VMPaused] == 0 || states[VMShutoff] == 0 || states[VMRunning] == 0) {
			t.Errorf("%+v: states %v, want a mix of running, paused and shutoff", spec, states)
		}
	}
}

func TestPlanInventoryRejectsImpossibleSpecs(t *testing.T) {
	cases := map[string]struct {
		spec InventorySpec
		want string
	}{
		"no hosts":           {InventorySpec{VMsPerHost: 5}, "hosts = 0, want 1..999"},
		"too many hosts":     {InventorySpec{Hosts: 1000}, "hosts = 1000"},
		"negative VMs":       {InventorySpec{Hosts: 1, VMsPerHost: -1}, "vms per host = -1"},
		"one CPU":            {InventorySpec{Hosts: 1, CPUs: 1}, "cpus = 1, want 2..1024"},
		"tiny memory":        {InventorySpec{Hosts: 1, MemoryGiB: 2}, "memory = 2 GiB"},
		"more VMs than CPUs": {InventorySpec{Hosts: 1, VMsPerHost: 9, CPUs: 8}, "9 VMs per host do not fit 8 CPUs"},
		"no room in memory":  {InventorySpec{Hosts: 1, VMsPerHost: 4, CPUs: 8, MemoryGiB: 4}, "4 VMs per host do not fit 3 GiB"},
	}
	for name, c := range cases {
		_, err := PlanInventory(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "sim inventory: ") {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
		if _, err := WriteInventory(t.TempDir(), c.spec); err == nil {
			t.Errorf("%s: WriteInventory succeeded", name)
		}
	}
}

// The files of a small inventory are pinned, so a change to the format or
// to the planning shows up in review. -update-inventory rewrites them.
func TestWriteInventoryMatchesGoldenFiles(t *testing.T) {
	hosts, err := WriteInventory(t.TempDir(), InventorySpec{Hosts: 2, VMsPerHost: 4, Seed: 7, CPUs: 16, MemoryGiB: 64})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "inventory", "seed-7-2x4")
	for _, h := range hosts {
		got, err := os.ReadFile(h.File)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(golden, h.Name+".xml")
		if *updateInventory {
			if err := os.MkdirAll(golden, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(want, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		exp, err := os.ReadFile(want)
		if err != nil {
			t.Fatalf("%v (run go test -run Golden -update-inventory)", err)
		}
		if !bytes.Equal(got, exp) {
			t.Errorf("%s differs from %s", h.File, want)
		}
	}
}

func TestWriteInventoryPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "with space", "fleet")
	hosts, err := WriteInventory(dir, InventorySpec{Hosts: 2, VMsPerHost: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if !filepath.IsAbs(h.File) || filepath.Dir(h.File) != dir || filepath.Base(h.File) != h.Name+".xml" {
			t.Errorf("%s: file %q, want %s/%s.xml", h.Name, h.File, dir, h.Name)
		}
		if !strings.HasPrefix(h.URI, "test:///") || !strings.Contains(h.URI, "with%20space") {
			t.Errorf("%s: URI %q, want test:///ABS/PATH with the space escaped", h.Name, h.URI)
		}
	}
}

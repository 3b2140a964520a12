//go:build cgo

package sim

// Tests of the simulated fleet against libvirt's real test driver, in
// process (no daemon), through adapters/libvirt. They need cgo and
// libvirt0; the rest of the package does not.

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/adapters/libvirt"
	"github.com/setsuden/setsuden/collector/point"
)

// startLibvirtEvents starts the process-wide libvirt event loop; it must
// run before the first libvirt connection of the test binary, so every test
// that connects calls it first.
func startLibvirtEvents(t *testing.T) {
	t.Helper()
	if err := libvirt.StartEventLoop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// libvirt opens the URI of a path that needs escaping.
func TestFleetURIWithASpace(t *testing.T) {
	startLibvirtEvents(t)
	hosts, err := WriteInventory(filepath.Join(t.TempDir(), "with space"), InventorySpec{Hosts: 1, VMsPerHost: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	host := libvirt.NewHost(libvirt.HostConfig{Name: hosts[0].Name, URI: hosts[0].URI})
	defer host.Close()
	pts, err := host.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := pts[0].Fields["vms_total"]; got != int64(2) {
		t.Errorf("vms_total = %v, want 2", got)
	}
}

// simFleet writes the demo fleet and returns its hosts and one libvirt
// Host per simulated host.
func simFleet(t *testing.T, onEvent func(point.Point)) ([]SimHost, []*libvirt.Host) {
	t.Helper()
	startLibvirtEvents(t)
	sims, err := WriteInventory(t.TempDir(), demoSpec())
	if err != nil {
		t.Fatal(err)
	}
	hosts := make([]*libvirt.Host, len(sims))
	for i, s := range sims {
		hosts[i] = libvirt.NewHost(libvirt.HostConfig{Name: s.Name, URI: s.URI, Tags: map[string]string{"site": "sim"}, OnEvent: onEvent})
		t.Cleanup(func() { hosts[i].Close() })
	}
	return sims, hosts
}

func vmPoints(pts []point.Point) map[string]point.Point {
	m := map[string]point.Point{}
	for _, p := range pts {
		if p.Measurement == libvirt.MeasurementVM {
			m[p.Tags["vm"]] = p
		}
	}
	return m
}

func TestFleetCollectsWhatWasWritten(t *testing.T) {
	sims, hosts := simFleet(t, nil)
	if len(sims) != 4 {
		t.Fatalf("%d hosts, want 4", len(sims))
	}
	running, paused, shutoff := 0, 0, 0
	for i, s := range sims {
		hv := s.Hypervisor
		pts, err := hosts[i].Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 1+len(hv.VMs) {
			t.Fatalf("%s: %d points, want %d", s.Name, len(pts), 1+len(hv.VMs))
		}
		host := pts[0]
		want := map[string]any{
			"cpus":            int64(hv.CPUs),
			"cpu_mhz":         int64(hv.MHz),
			"memory_kib":      hv.MemoryKiB,
			"memory_used_kib": hv.ActiveMemoryKiB(),
			"vcpus_used":      int64(hv.ActiveVCPUs()),
			"vms_running":     int64(hv.Count(VMRunning)),
			"vms_total":       int64(len(hv.VMs)),
		}
		for k, w := range want {
			if got := host.Fields[k]; got != w {
				t.Errorf("%s: host %s = %#v, want %#v", s.Name, k, got, w)
			}
		}
		if u, ok := host.Fields["cpu_util"].(float64); !ok || u <= 0 || u > 1 {
			t.Errorf("%s: host cpu_util = %v, want in (0, 1]", s.Name, host.Fields["cpu_util"])
		}
		if host.Tags["host"] != s.Name || host.Tags["site"] != "sim" {
			t.Errorf("%s: host tags %v", s.Name, host.Tags)
		}
		vms := vmPoints(pts)
		for _, v := range hv.VMs {
			p, ok := vms[v.Name]
			if !ok {
				t.Errorf("%s: no point for %s", s.Name, v.Name)
				continue
			}
			got := [5]any{p.Tags["uuid"], p.Fields["state"], p.Fields["vcpus"], p.Fields["memory_kib"], p.Fields["max_memory_kib"]}
			exp := [5]any{v.UUID, v.State, int64(v.VCPUs), v.CurrentMemoryKiB, v.MemoryKiB}
			if got != exp {
				t.Errorf("%s/%s: uuid,state,vcpus,memory,max = %v, want %v", s.Name, v.Name, got, exp)
			}
			if v.State == VMRunning {
				if u := p.Fields["cpu_util"].(float64); u != libvirt.SyntheticCPUUtil(v.Name, p.Time) {
					t.Errorf("%s: cpu_util %v is not the synthetic utilisation", v.Name, u)
				}
			} else if p.Fields["cpu_util"] != 0.0 {
				t.Errorf("%s (%s): cpu_util %v, want 0", v.Name, v.State, p.Fields["cpu_util"])
			}
		}
		running += hv.Count(VMRunning)
		paused += hv.Count(VMPaused)
		shutoff += hv.Count(VMShutoff)
	}
	if running+paused+shutoff != 20 || paused == 0 || shutoff == 0 {
		t.Errorf("demo fleet: %d running, %d paused, %d shutoff", running, paused, shutoff)
	}
	t.Logf("demo fleet: %d running, %d paused, %d shut off", running, paused, shutoff)

	// The memballoon makes MemoryStats work on the test driver.
	v := sims[0].Hypervisor.VMs[0]
	err := hosts[0].WithConn(func(c *lv.Connect) error {
		d, err := c.LookupDomainByName(v.Name)
		if err != nil {
			return err
		}
		defer d.Free()
		stats, err := d.MemoryStats(13, 0)
		if err == nil && len(stats) == 0 {
			t.Errorf("%s: no memory stats despite <memballoon model=\"virtio\"/>", v.Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestFleetHostsAreIndependent(t *testing.T) {
	sims, hosts := simFleet(t, nil)
	victim := sims[0].Hypervisor.VMs[0] // running by construction
	if err := hosts[0].WithConn(func(c *lv.Connect) error {
		d, err := c.LookupDomainByName(victim.Name)
		if err != nil {
			return err
		}
		defer d.Free()
		return d.Destroy()
	}); err != nil {
		t.Fatal(err)
	}
	pts, err := hosts[0].Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := vmPoints(pts)[victim.Name].Fields["state"]; got != "shutoff" {
		t.Errorf("%s after Destroy: %v", victim.Name, got)
	}
	if got, want := pts[0].Fields["vms_running"], int64(sims[0].Hypervisor.Count(VMRunning)-1); got != want {
		t.Errorf("host-01 vms_running = %v, want %v", got, want)
	}
	for i := 1; i < len(hosts); i++ {
		pts, err := hosts[i].Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := vmPoints(pts)[victim.Name]; ok {
			t.Errorf("%s shows %s of host-01", sims[i].Name, victim.Name)
		}
		if got, want := pts[0].Fields["vms_running"], int64(sims[i].Hypervisor.Count(VMRunning)); got != want {
			t.Errorf("%s vms_running = %v, want %v", sims[i].Name, got, want)
		}
	}
	// A second Host on host-01's file has its own copy: the VM still runs.
	again := libvirt.NewHost(libvirt.HostConfig{Name: "host-01-again", URI: sims[0].URI})
	defer again.Close()
	pts, err = again.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := vmPoints(pts)[victim.Name].Fields["state"]; got != "running" {
		t.Errorf("second connection sees %s %v, want running", victim.Name, got)
	}
}

func TestFleetLifecycleEvents(t *testing.T) {
	events := make(chan point.Point, 64)
	sims, hosts := simFleet(t, func(p point.Point) { events <- p })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, h := range hosts {
		if err := h.WatchEvents(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Start a shut-off VM and destroy a running one on the host that has
	// a shut-off VM.
	hostIdx, off := -1, VMSpec{}
	for i, s := range sims {
		for _, v := range s.Hypervisor.VMs {
			if v.State == VMShutoff && hostIdx < 0 {
				hostIdx, off = i, v
			}
		}
	}
	if hostIdx < 0 {
		t.Fatal("no shut-off VM in the demo fleet")
	}
	on := sims[hostIdx].Hypervisor.VMs[0]
	op := func(name string, f func(*lv.Domain) error) {
		t.Helper()
		if err := hosts[hostIdx].WithConn(func(c *lv.Connect) error {
			d, err := c.LookupDomainByName(name)
			if err != nil {
				return err
			}
			defer d.Free()
			return f(d)
		}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(vm, event, detail, state string) {
		t.Helper()
		deadline := time.After(2 * time.Second)
		for {
			select {
			case p := <-events:
				if p.Tags["vm"] != vm {
					t.Fatalf("unexpected event for %s: %v", p.Tags["vm"], p.Fields)
				}
				if p.Tags["host"] != sims[hostIdx].Name || p.Fields["event"] != event || p.Fields["detail"] != detail || p.Fields["state"] != state {
					t.Fatalf("event %v %v, want %s %s/%s %s", p.Tags, p.Fields, vm, event, detail, state)
				}
				return
			case <-deadline:
				t.Fatalf("no %s/%s event for %s within 2 s", event, detail, vm)
			}
		}
	}
	op(off.Name, (*lv.Domain).Create)
	expect(off.Name, "started", "booted", "running")
	op(on.Name, (*lv.Domain).Destroy)
	expect(on.Name, "stopped", "destroyed", "shutoff")

	pts, err := hosts[hostIdx].Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	vms := vmPoints(pts)
	if vms[off.Name].Fields["state"] != "running" || vms[on.Name].Fields["state"] != "shutoff" {
		t.Errorf("after the events: %s %v, %s %v", off.Name, vms[off.Name].Fields["state"], on.Name, vms[on.Name].Fields["state"])
	}
}

func TestFleetHostReconnectsWhenItsFileAppears(t *testing.T) {
	startLibvirtEvents(t)
	dir := t.TempDir()
	inv, err := PlanInventory(demoSpec())
	if err != nil {
		t.Fatal(err)
	}
	uri := LibvirtTestURI(filepath.Join(dir, "host-03.xml"))
	h := libvirt.NewHost(libvirt.HostConfig{Name: "host-03", URI: uri})
	defer h.Close()

	_, err = h.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), `libvirt host "host-03" (`+uri+`): connect:`) {
		t.Fatalf("before the file exists: %v", err)
	}
	if _, err := inv.Write(dir); err != nil {
		t.Fatal(err)
	}
	pts, err := h.Collect(context.Background())
	if err != nil {
		t.Fatalf("after the file appeared: %v", err)
	}
	if got, want := pts[0].Fields["vms_total"], int64(len(inv.Hypervisors[2].VMs)); got != want {
		t.Errorf("vms_total = %v, want %v", got, want)
	}
}

func TestFleetBadURIFailsClearly(t *testing.T) {
	startLibvirtEvents(t)
	sims, err := WriteInventory(t.TempDir(), InventorySpec{Hosts: 1, VMsPerHost: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{
		strings.TrimSuffix(sims[0].URI, ".xml") + ".xnl", // typo
		"test:/" + sims[0].File,                          // relative-looking
		"tset:///" + sims[0].File,                        // unknown driver
	} {
		h := libvirt.NewHost(libvirt.HostConfig{Name: "host-01", URI: uri})
		_, err := h.Collect(context.Background())
		h.Close()
		if err == nil {
			t.Errorf("%s: Collect succeeded", uri)
			continue
		}
		if !strings.HasPrefix(err.Error(), `libvirt host "host-01" (`+uri+`): `) {
			t.Errorf("%s: error %q does not name the host and URI", uri, err)
		}
	}
}

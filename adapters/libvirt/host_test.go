package libvirt

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lv "libvirt.org/go/libvirt"

	"github.com/setsuden/setsuden/collector/point"
)

// The event loop must be registered before the first connection of the
// process, so it starts before any test runs (cmd does the same at start).
func TestMain(m *testing.M) {
	if os.Getenv(eventLoopChildEnv) != "" {
		os.Exit(m.Run()) // TestEventLoopStopsWithItsContext starts its own
	}
	if err := StartEventLoop(context.Background()); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// testURI is test:///ABS/PATH of a file in testdata.
func testURI(t *testing.T, name string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return "test://" + abs
}

func newTestHost(t *testing.T, cfg HostConfig) *Host {
	t.Helper()
	h := NewHost(cfg)
	t.Cleanup(func() { h.Close() })
	return h
}

func collect(t *testing.T, h *Host) []point.Point {
	t.Helper()
	pts, err := h.Collect(context.Background())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	for _, p := range pts {
		if err := p.Validate(); err != nil {
			t.Errorf("invalid point: %v", err)
		}
	}
	return pts
}

func byVM(pts []point.Point) map[string]point.Point {
	m := map[string]point.Point{}
	for _, p := range pts {
		if p.Measurement == MeasurementVM {
			m[p.Tags["vm"]] = p
		}
	}
	return m
}

func TestCollectReadsNodeAndDomains(t *testing.T) {
	h := newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml"), Tags: map[string]string{"site": "tokyo-1"}})
	before := time.Now()
	pts := collect(t, h)

	if len(pts) != 4 {
		t.Fatalf("got %d points, want 1 host + 3 vm", len(pts))
	}
	host := pts[0]
	if host.Measurement != MeasurementHost || host.Tags["host"] != "host-01" || host.Tags["site"] != "tokyo-1" {
		t.Fatalf("first point = %s %v, want the host point with host and site tags", host.Measurement, host.Tags)
	}
	if host.Time.Before(before) || host.Time.After(time.Now()) {
		t.Errorf("host point time %v is not the time of the read", host.Time)
	}
	wantHost := map[string]any{
		"cpus":            int64(16),
		"cpu_mhz":         int64(2600),
		"memory_kib":      int64(64 << 20),
		"memory_used_kib": int64(3<<20 + 2<<20), // web-01 current 3 GiB + paused idle-01 2 GiB
		"vcpus_used":      int64(2 + 1),
		"vms_running":     int64(1),
		"vms_total":       int64(3),
	}
	for k, want := range wantHost {
		if got := host.Fields[k]; got != want {
			t.Errorf("host %s = %#v, want %#v", k, got, want)
		}
	}

	var names []string
	for _, p := range pts[1:] {
		names = append(names, p.Tags["vm"])
		if p.Time != host.Time {
			t.Errorf("vm %s time %v differs from the host point's %v", p.Tags["vm"], p.Time, host.Time)
		}
		if p.Tags["host"] != "host-01" || p.Tags["site"] != "tokyo-1" {
			t.Errorf("vm %s tags %v lack host or site", p.Tags["vm"], p.Tags)
		}
	}
	if got := strings.Join(names, ","); got != "batch-01,idle-01,web-01" {
		t.Errorf("vm order = %s, want sorted by name", got)
	}

	type vmWant struct {
		uuid          string
		state         string
		code, vcpus   int64
		memKiB, maxKB int64
	}
	wants := map[string]vmWant{
		"web-01":   {"00000000-0000-4000-8000-000000000001", "running", 1, 2, 3 << 20, 4 << 20},
		"idle-01":  {"00000000-0000-4000-8000-000000000004", "paused", 3, 1, 2 << 20, 2 << 20},
		"batch-01": {"00000000-0000-4000-8000-000000000003", "shutoff", 5, 4, 8 << 20, 8 << 20},
	}
	vms := byVM(pts)
	for name, w := range wants {
		p := vms[name]
		if p.Tags["uuid"] != w.uuid {
			t.Errorf("%s uuid = %q, want %q", name, p.Tags["uuid"], w.uuid)
		}
		got := vmWant{p.Tags["uuid"], p.Fields["state"].(string), p.Fields["state_code"].(int64), p.Fields["vcpus"].(int64),
			p.Fields["memory_kib"].(int64), p.Fields["max_memory_kib"].(int64)}
		if got != w {
			t.Errorf("%s = %+v, want %+v", name, got, w)
		}
	}

	// The test driver's CPU time is fake: utilisation is synthetic for
	// running VMs and 0 for the others, from the first Collect on.
	web := vms["web-01"]
	if got, want := web.Fields["cpu_util"], SyntheticCPUUtil("web-01", web.Time); got != want {
		t.Errorf("web-01 cpu_util = %v, want SyntheticCPUUtil = %v", got, want)
	}
	for _, n := range []string{"idle-01", "batch-01"} {
		if got := vms[n].Fields["cpu_util"]; got != 0.0 {
			t.Errorf("%s cpu_util = %v, want 0 (not running)", n, got)
		}
	}
	wantHostUtil := SyntheticCPUUtil("web-01", web.Time) * 2 / 16
	if got := host.Fields["cpu_util"].(float64); math.Abs(got-wantHostUtil) > 1e-12 {
		t.Errorf("host cpu_util = %v, want %v (web-01 util × 2 vCPUs / 16 CPUs)", got, wantHostUtil)
	}
}

func TestCollectSeesChangesMadeThroughWithConn(t *testing.T) {
	h := newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml")})
	err := h.WithConn(func(c *lv.Connect) error {
		d, err := c.LookupDomainByName("batch-01")
		if err != nil {
			return err
		}
		defer d.Free()
		return d.Create()
	})
	if err != nil {
		t.Fatal(err)
	}
	pts := collect(t, h)
	if got := byVM(pts)["batch-01"].Fields["state"]; got != "running" {
		t.Errorf("batch-01 state = %v after Create, want running", got)
	}
	if got := pts[0].Fields["vms_running"]; got != int64(2) {
		t.Errorf("vms_running = %v, want 2", got)
	}
	if got := pts[0].Fields["vcpus_used"]; got != int64(2+1+4) {
		t.Errorf("vcpus_used = %v, want 7", got)
	}
}

// Two hosts opened on the same file are independent: the test driver
// keeps one in-memory copy per connection.
func TestHostsOnOneFileAreIndependent(t *testing.T) {
	a := newTestHost(t, HostConfig{Name: "a", URI: testURI(t, "node.xml")})
	b := newTestHost(t, HostConfig{Name: "b", URI: testURI(t, "node.xml")})
	if err := a.WithConn(func(c *lv.Connect) error {
		d, err := c.LookupDomainByName("web-01")
		if err != nil {
			return err
		}
		defer d.Free()
		return d.Destroy()
	}); err != nil {
		t.Fatal(err)
	}
	if got := byVM(collect(t, a))["web-01"].Fields["state"]; got != "shutoff" {
		t.Errorf("a: web-01 = %v, want shutoff", got)
	}
	if got := byVM(collect(t, b))["web-01"].Fields["state"]; got != "running" {
		t.Errorf("b: web-01 = %v, want running (untouched)", got)
	}
}

func TestReconnectsWhenTheFileAppears(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "late.xml")
	h := newTestHost(t, HostConfig{Name: "host-07", URI: "test://" + file})

	_, err := h.Collect(context.Background())
	if err == nil {
		t.Fatal("Collect on a missing file succeeded")
	}
	for _, want := range []string{`libvirt host "host-07"`, "(test://" + file + ")", ": connect: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	var he *HostError
	if !errors.As(err, &he) || he.Op != "connect" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v is not a HostError{Op: connect} wrapping fs.ErrNotExist", err)
	}

	data, err := os.ReadFile(filepath.Join("testdata", "node.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if pts := collect(t, h); len(pts) != 4 {
		t.Errorf("after the file appeared: %d points, want 4", len(pts))
	}
}

// killConn closes the host's connection behind its back and leaves a
// dead handle in its place, as a daemon restart would.
func killConn(t *testing.T, h *Host) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn == nil {
		t.Fatal("no connection to kill")
	}
	if h.callbackID >= 0 {
		h.conn.DomainEventDeregister(h.callbackID)
	}
	h.conn.Close()
	h.conn = &lv.Connect{} // every call on it fails: "invalid connection pointer"
}

func TestReconnectsAfterTheConnectionDies(t *testing.T) {
	h := newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml")})
	collect(t, h)
	killConn(t, h)

	// A dead handle fails directly, as a call on a dropped connection does.
	_, _, err := readDomains(context.Background(), &lv.Connect{})
	if err == nil {
		t.Fatal("readDomains on a dead connection succeeded")
	}
	if pts := collect(t, h); len(pts) != 4 {
		t.Fatalf("after reconnect: %d points, want 4", len(pts))
	}
	h.mu.Lock()
	alive, _ := h.conn.IsAlive()
	h.mu.Unlock()
	if !alive {
		t.Error("connection after reconnect is not alive")
	}
}

func TestBadConfigurationsAndURIsFailClearly(t *testing.T) {
	cases := []struct {
		name string
		cfg  HostConfig
		want []string
	}{
		{"unknown driver", HostConfig{Name: "h1", URI: "nosuchdriver:///system"},
			[]string{`libvirt host "h1" (nosuchdriver:///system): connect: `}},
		{"missing test file", HostConfig{Name: "h2", URI: "test:///nonexistent/dir/node.xml"},
			[]string{`libvirt host "h2" (test:///nonexistent/dir/node.xml): connect: `, "no such file"}},
		{"no daemon socket", HostConfig{Name: "h3", URI: "qemu+unix:///system?socket=/nonexistent/libvirt-sock"},
			[]string{`libvirt host "h3"`, "connect: ", "/nonexistent/libvirt-sock"}},
		{"malformed test file", HostConfig{Name: "h4", URI: testURI(t, "broken.xml")},
			[]string{`libvirt host "h4"`, "connect: ", "libvirt error code"}},
		{"empty uri", HostConfig{Name: "h5"}, []string{`libvirt host "h5": uri is empty`}},
		{"no scheme", HostConfig{Name: "h6", URI: "/etc/node.xml"}, []string{`uri "/etc/node.xml" has no scheme`}},
		{"empty name", HostConfig{URI: "test:///default"}, []string{"name is empty"}},
		{"reserved tag", HostConfig{Name: "h7", URI: "test:///default", Tags: map[string]string{"vm": "x"}},
			[]string{`tag "vm" is set by the collector`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHost(t, c.cfg)
			for i := 0; i < 2; i++ { // the second try reconnects and fails the same way
				pts, err := h.Collect(context.Background())
				if err == nil {
					t.Fatalf("Collect succeeded with %d points", len(pts))
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
			}
			if err := h.WithConn(func(*lv.Connect) error { return nil }); err == nil {
				t.Error("WithConn succeeded")
			}
		})
	}
}

func TestClosedHostStaysClosed(t *testing.T) {
	h := NewHost(HostConfig{Name: "host-01", URI: testURI(t, "node.xml")})
	collect(t, h)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err := h.Collect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "host is closed") {
		t.Errorf("Collect after Close: %v, want host is closed", err)
	}
}

func TestCollectHonoursACancelledContext(t *testing.T) {
	h := newTestHost(t, HostConfig{Name: "host-01", URI: testURI(t, "node.xml")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Collect(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Collect(cancelled) = %v, want context.Canceled", err)
	}
	collect(t, h) // the connection was kept
}

func TestTestDriverFile(t *testing.T) {
	for uri, want := range map[string]string{
		"test:///abs/node.xml":    "/abs/node.xml",
		"test:///default":         "",
		"test+unix:///x/node.xml": "",
		"qemu:///system":          "",
	} {
		got, ok := testDriverFile(uri)
		if got != want || ok != (want != "") {
			t.Errorf("testDriverFile(%q) = %q, %v; want %q", uri, got, ok, want)
		}
	}
}

func TestIsTestURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"test:///default":             true,
		"test:///abs/node.xml":        true,
		"test+unix:///default":        true,
		"TEST:///default":             true,
		"qemu:///system":              false,
		"qemu+ssh://root@n1/system":   false,
		"testing:///x":                false,
		"/path/without/scheme/test:x": false,
	} {
		if got := IsTestURI(uri); got != want {
			t.Errorf("IsTestURI(%q) = %v, want %v", uri, got, want)
		}
	}
}

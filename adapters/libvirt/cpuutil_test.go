package libvirt

import (
	"math"
	"testing"
	"time"

	lv "libvirt.org/go/libvirt"
)

func TestUtilFromDelta(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		prev, cur  cpuSample
		vcpus      int64
		want       float64
		wantUsable bool
	}{
		{"half of 2 vCPUs", cpuSample{1e9, t0}, cpuSample{11e9, t0.Add(10 * time.Second)}, 2, 0.5, true},
		{"idle", cpuSample{5e9, t0}, cpuSample{5e9, t0.Add(time.Second)}, 4, 0, true},
		{"over 100 % is clamped", cpuSample{0, t0}, cpuSample{3e9, t0.Add(time.Second)}, 2, 1, true},
		{"restart: CPU time went back", cpuSample{9e9, t0}, cpuSample{1e9, t0.Add(time.Second)}, 1, 0, false},
		{"no wall time", cpuSample{0, t0}, cpuSample{1e9, t0}, 1, 0, false},
		{"no vCPUs", cpuSample{0, t0}, cpuSample{1e9, t0.Add(time.Second)}, 0, 0, false},
	}
	for _, c := range cases {
		got, ok := utilFromDelta(c.prev, c.cur, c.vcpus)
		if ok != c.wantUsable || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: utilFromDelta = %v, %v; want %v, %v", c.name, got, ok, c.want, c.wantUsable)
		}
	}
}

// A real driver's utilisation comes from CPU-time deltas: none on the first
// Collect (so the host has no cpu_util either), then delta / wall / vCPUs.
func TestPointsFromCPUTimeDeltas(t *testing.T) {
	h := NewHost(HostConfig{Name: "kvm-01", URI: "qemu:///system"})
	if h.synthetic {
		t.Fatal("qemu:///system treated as the test driver")
	}
	node := nodeSample{CPUs: 8, MHz: 2000, MemoryKiB: 32 << 20}
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	doms := func(webNs, dbNs uint64) []domainSample {
		return []domainSample{
			{Name: "db-01", UUID: "u-db", State: lv.DOMAIN_RUNNING, VCPUs: 4, MemoryKiB: 8 << 20, MaxMemoryKiB: 8 << 20, CPUTimeNs: dbNs},
			{Name: "old-01", UUID: "u-old", State: lv.DOMAIN_SHUTOFF, VCPUs: 2, MemoryKiB: 2 << 20, MaxMemoryKiB: 2 << 20},
			{Name: "web-01", UUID: "u-web", State: lv.DOMAIN_RUNNING, VCPUs: 2, MemoryKiB: 3 << 20, MaxMemoryKiB: 4 << 20, CPUTimeNs: webNs},
		}
	}
	first := h.points(node, doms(100e9, 500e9), t0)
	if _, ok := first[0].Fields["cpu_util"]; ok {
		t.Error("host cpu_util on the first sample, before any delta")
	}
	if _, ok := byVM(first)["web-01"].Fields["cpu_util"]; ok {
		t.Error("web-01 cpu_util on the first sample")
	}
	if got := byVM(first)["old-01"].Fields["cpu_util"]; got != 0.0 {
		t.Errorf("shut-off VM cpu_util = %v, want 0", got)
	}

	// 10 s later: web used 5 s of CPU on 2 vCPUs (25 %), db 30 s on 4 (75 %).
	second := h.points(node, doms(105e9, 530e9), t0.Add(10*time.Second))
	vms := byVM(second)
	if got := vms["web-01"].Fields["cpu_util"].(float64); math.Abs(got-0.25) > 1e-12 {
		t.Errorf("web-01 cpu_util = %v, want 0.25", got)
	}
	if got := vms["db-01"].Fields["cpu_util"].(float64); math.Abs(got-0.75) > 1e-12 {
		t.Errorf("db-01 cpu_util = %v, want 0.75", got)
	}
	// (0.25×2 + 0.75×4) / 8 CPUs
	if got := second[0].Fields["cpu_util"].(float64); math.Abs(got-3.5/8) > 1e-12 {
		t.Errorf("host cpu_util = %v, want %v", got, 3.5/8)
	}
	if got := second[0].Fields["memory_used_kib"]; got != int64(11<<20) {
		t.Errorf("memory_used_kib = %v, want 11 GiB (shut-off VM excluded)", got)
	}
}

func TestSyntheticCPUUtil(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	day := time.Date(2026, 7, 1, 0, 0, 0, 0, jst)
	names := []string{"web-01", "web-02", "db-01", "batch-01", "cache-03", "app-07"}

	for _, n := range names {
		prev := SyntheticCPUUtil(n, day)
		for m := 1; m <= 24*60; m++ {
			at := day.Add(time.Duration(m) * time.Minute)
			u := SyntheticCPUUtil(n, at)
			if u < 0.01 || u > 0.98 {
				t.Fatalf("%s at %s: %v out of [0.01, 0.98]", n, at.Format("15:04"), u)
			}
			if d := math.Abs(u - prev); d > 0.03 {
				t.Errorf("%s jumps by %.3f between %s and the minute before", n, d, at.Format("15:04"))
			}
			if again := SyntheticCPUUtil(n, at); again != u {
				t.Fatalf("%s at %s not deterministic: %v then %v", n, at, u, again)
			}
			prev = u
		}
	}

	// Only the time of day matters, not the date.
	noon := day.Add(12 * time.Hour)
	if a, b := SyntheticCPUUtil("web-01", noon), SyntheticCPUUtil("web-01", noon.AddDate(0, 2, 3)); a != b {
		t.Errorf("same time of day on another date: %v vs %v", a, b)
	}
	// Names give different loads.
	if a, b := SyntheticCPUUtil("web-01", noon), SyntheticCPUUtil("web-02", noon); a == b {
		t.Errorf("web-01 and web-02 have the same load %v", a)
	}
	// Batch VMs are busier at night than in the afternoon.
	if night, afternoon := SyntheticCPUUtil("batch-01", day.Add(3*time.Hour)), SyntheticCPUUtil("batch-01", day.Add(15*time.Hour)); night <= afternoon {
		t.Errorf("batch-01: 03:00 %v <= 15:00 %v, want a night peak", night, afternoon)
	}
}

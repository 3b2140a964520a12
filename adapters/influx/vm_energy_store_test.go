package influx_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// TestHostEnergySeries: 10 minutes of site dc1 (and a distractor in dc2)
// sampled every minute, read for [t0, t0+10m): the sample at t0+10m is
// beyond the range (1.8's range stop is inclusive and must be dropped).
//
//	hv-1  cpu_util 0.1·i, meter pdu-7 tagged for_host=hv-1 (kw 0.1+0.01·i),
//	      VM vm-a (cpu_util 0.5, vcpus 4, running)
//	hv-2  cpu_util 0.2, no meter; VM vm-b shut off (vcpus 2, no cpu_util)
//	crac  a meter of no host
func TestHostEnergySeries(t *testing.T) {
	d := testinflux.Start(t)
	ctx := context.Background()
	t0 := time.Date(2024, 7, 1, 1, 0, 0, 0, time.UTC)
	var pts []point.Point
	for i := 0; i <= 10; i++ {
		tt := t0.Add(time.Duration(i) * time.Minute)
		pts = append(pts,
			point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": "hv-1"}, Fields: map[string]any{"cpu_util": 0.1 * float64(i%10), "cpus": int64(8)}, Time: tt},
			point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": "hv-2"}, Fields: map[string]any{"cpu_util": 0.2}, Time: tt},
			point.Point{Measurement: "host", Tags: map[string]string{"site": "dc2", "host": "hv-1"}, Fields: map[string]any{"cpu_util": 0.9}, Time: tt},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-7", "for_host": "hv-1", "rack": "R1"}, Fields: map[string]any{"kw": 0.1 + 0.01*float64(i), "kwh_total": 1.0}, Time: tt},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "crac"}, Fields: map[string]any{"kw": 5.0}, Time: tt},
			point.Point{Measurement: "vm", Tags: map[string]string{"site": "dc1", "host": "hv-1", "vm": "vm-a", "uuid": "u1"}, Fields: map[string]any{"cpu_util": 0.5, "vcpus": int64(4), "state": "running", "memory_kib": int64(1024)}, Time: tt},
			point.Point{Measurement: "vm", Tags: map[string]string{"site": "dc1", "host": "hv-2", "vm": "vm-b", "uuid": "u2"}, Fields: map[string]any{"vcpus": int64(2), "state": "shutoff"}, Time: tt},
		)
	}
	testinflux.Write(t, d, pts)
	r := influx.NewReader(d.URL, "", "", d.Bucket())
	defer r.Close()
	hs, err := r.HostEnergySeries(ctx, "dc1", t0, t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0].Host != "hv-1" || hs[1].Host != "hv-2" {
		t.Fatalf("hosts = %+v, want hv-1 and hv-2", hs)
	}
	h1, h2 := hs[0], hs[1]
	if len(h1.Util) != 10 || math.Abs(h1.Util[3].Util-0.3) > 1e-12 || !h1.Util[9].Time.Equal(t0.Add(9*time.Minute)) {
		t.Errorf("hv-1 util = %v, want 10 samples 0, 0.1, … from t0", h1.Util)
	}
	if len(h1.Meters) != 1 || h1.Meters[0].Meter != "pdu-7" || len(h1.Meters[0].Power) != 10 || h1.Meters[0].Power[0].KW != 0.1 || h1.Meters[0].Counter != nil {
		t.Errorf("hv-1 meters = %+v, want pdu-7 with 10 kw samples", h1.Meters)
	}
	if len(h1.VMs) != 1 || h1.VMs[0].VM != "vm-a" || len(h1.VMs[0].Samples) != 10 {
		t.Fatalf("hv-1 VMs = %+v", h1.VMs)
	}
	if s := h1.VMs[0].Samples[0]; !s.HasUtil || !s.HasVCPUs || s.CPUUtil != 0.5 || s.VCPUs != 4 || s.State != "running" || !s.Time.Equal(t0) {
		t.Errorf("vm-a sample = %+v", s)
	}
	if len(h2.Meters) != 0 || len(h2.Util) != 10 || len(h2.VMs) != 1 {
		t.Fatalf("hv-2 = %+v", h2)
	}
	if s := h2.VMs[0].Samples[0]; s.HasUtil || s.VCPUs != 2 || s.State != "shutoff" {
		t.Errorf("vm-b sample = %+v", s)
	}
	if _, err := r.HostEnergySeries(ctx, "", t0, t0.Add(time.Minute)); err == nil {
		t.Error("no site accepted")
	}
	if _, err := r.HostEnergySeries(ctx, "dc1", t0, t0); err == nil {
		t.Error("empty range accepted")
	}
}

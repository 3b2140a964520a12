package influx

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/energy"
)

// ForHostTag is the tag that says which host a meter measures: a meter
// (PDU outlet, BMC reading written as measurement power) that measures
// exactly one hypervisor carries for_host=<host name>, the name in the
// host tag of measurement host. A Modbus device gets it from its
// configured tags (`tags: {for_host: hv-01}`); `host` itself is a reserved
// tag key in the configuration. Several meters tagged for the same host
// (dual power supplies on two outlets) are added up.
const ForHostTag = "for_host"

// HostEnergySeries is what per-VM energy attribution reads for one host
// over a range: the host's CPU utilisation, the meters tagged for it, and
// its VMs.
type HostEnergySeries struct {
	Host string
	// Util is the host's cpu_util (measurement host), sorted by time.
	Util []energy.UtilSample
	// Meters are the meters tagged for_host=Host, each with its kw
	// samples (Power) sorted by time; empty when the host has no meter
	// of its own.
	Meters []energy.MeterSeries
	// VMs are the host's VMs (measurement vm, tag host=Host), sorted by
	// name. A VM that migrated appears under each host it ran on.
	VMs []VMEnergySeries
}

// VMEnergySeries is one VM's samples on one host.
type VMEnergySeries struct {
	VM      string
	Samples []VMSample // sorted by time
}

// VMSample is one poll of a VM: the fields of measurement vm written at
// the same moment. HasUtil and HasVCPUs say which numbers were present.
type VMSample struct {
	Time     time.Time
	CPUUtil  float64 // 0..1 of its vCPUs
	VCPUs    int
	State    string
	HasUtil  bool
	HasVCPUs bool
}

// HostEnergySeries reads, for site and samples in [from, to), each host's
// cpu_util, the kw of meters tagged for_host, and each VM's cpu_util,
// vcpus and state (docs/schema.md, measurements host, vm and power).
// Hosts are sorted by name; a host known only from a meter's for_host tag
// is included with no Util and no VMs.
//
// InfluxDB 1.8's Flux range includes its stop, so samples at to are
// dropped here. The samples are raw: read a margin either side of the
// period to be integrated.
func (r *Reader) HostEnergySeries(ctx context.Context, site string, from, to time.Time) ([]HostEnergySeries, error) {
	if site == "" {
		return nil, fmt.Errorf("host energy series: no site given")
	}
	if !to.After(from) {
		return nil, fmt.Errorf("host energy series of %q: end %s is not after start %s", site, fluxTime(to), fluxTime(from))
	}
	hosts := map[string]*HostEnergySeries{}
	host := func(name string) *HostEnergySeries {
		h := hosts[name]
		if h == nil {
			h = &HostEnergySeries{Host: name}
			hosts[name] = h
		}
		return h
	}
	rng := fmt.Sprintf(`from(bucket: %q)
  |> %s`, r.bucket, fluxRange(from, to))
	query := func(what, filter string, each func(rec recordView)) error {
		q := rng + "\n  |> filter(fn: (r) => " + filter + ")"
		res, err := r.client.QueryAPI(r.org).Query(ctx, q)
		if err != nil {
			return fmt.Errorf("%s of %q %s..%s: flux query on %s: %w", what, site, fluxTime(from), fluxTime(to), r.bucket, err)
		}
		defer res.Close()
		for res.Next() {
			rec := res.Record()
			t := rec.Time().UTC()
			str := func(k string) string { s, _ := rec.ValueByKey(k).(string); return s }
			each(recordView{time: t, field: rec.Field(), value: rec.Value(), tag: str})
		}
		if err := res.Err(); err != nil {
			return fmt.Errorf("%s of %q %s..%s: flux query on %s: %w", what, site, fluxTime(from), fluxTime(to), r.bucket, err)
		}
		return nil
	}

	// Host utilisation.
	err := query("host utilisation", fmt.Sprintf(`r._measurement == "host" and r.site == %q and r._field == "cpu_util"`, site), func(rec recordView) {
		name := rec.tag("host")
		if x, ok := point.Number(rec.value); ok && name != "" {
			h := host(name)
			h.Util = append(h.Util, energy.UtilSample{Time: rec.time, Util: x})
		}
	})
	if err != nil {
		return nil, err
	}

	// Meters of one host.
	type meterKey struct{ host, meter string }
	meters := map[meterKey]*energy.MeterSeries{}
	err = query("host meters", fmt.Sprintf(`r._measurement == "power" and r.site == %q and r._field == "kw" and exists r.%s`, site, ForHostTag), func(rec recordView) {
		name, meter := rec.tag(ForHostTag), rec.tag("meter")
		x, ok := point.Number(rec.value)
		if name == "" || meter == "" || !ok {
			return
		}
		k := meterKey{name, meter}
		m := meters[k]
		if m == nil {
			m = &energy.MeterSeries{Meter: meter, Tags: map[string]string{ForHostTag: name}}
			meters[k] = m
		}
		m.Power = append(m.Power, energy.PowerSample{Time: rec.time, KW: x})
	})
	if err != nil {
		return nil, err
	}
	for k, m := range meters {
		sort.Slice(m.Power, func(i, j int) bool { return m.Power[i].Time.Before(m.Power[j].Time) })
		h := host(k.host)
		h.Meters = append(h.Meters, *m)
	}

	// VMs.
	type vmKey struct{ host, vm string }
	vms := map[vmKey]map[int64]*VMSample{}
	err = query("VM usage", fmt.Sprintf(`r._measurement == "vm" and r.site == %q and (r._field == "cpu_util" or r._field == "vcpus" or r._field == "state")`, site), func(rec recordView) {
		name, vm := rec.tag("host"), rec.tag("vm")
		if name == "" || vm == "" {
			return
		}
		k := vmKey{name, vm}
		byTime := vms[k]
		if byTime == nil {
			byTime = map[int64]*VMSample{}
			vms[k] = byTime
		}
		s := byTime[rec.time.UnixNano()]
		if s == nil {
			s = &VMSample{Time: rec.time}
			byTime[rec.time.UnixNano()] = s
		}
		switch rec.field {
		case "cpu_util":
			if x, ok := point.Number(rec.value); ok {
				s.CPUUtil, s.HasUtil = x, true
			}
		case "vcpus":
			if x, ok := point.Number(rec.value); ok {
				s.VCPUs, s.HasVCPUs = int(x), true
			}
		case "state":
			s.State, _ = rec.value.(string)
		}
	})
	if err != nil {
		return nil, err
	}
	for k, byTime := range vms {
		v := VMEnergySeries{VM: k.vm, Samples: make([]VMSample, 0, len(byTime))}
		for _, s := range byTime {
			v.Samples = append(v.Samples, *s)
		}
		sort.Slice(v.Samples, func(i, j int) bool { return v.Samples[i].Time.Before(v.Samples[j].Time) })
		h := host(k.host)
		h.VMs = append(h.VMs, v)
	}

	out := make([]HostEnergySeries, 0, len(hosts))
	for _, h := range hosts {
		sort.Slice(h.Util, func(i, j int) bool { return h.Util[i].Time.Before(h.Util[j].Time) })
		sort.Slice(h.Meters, func(i, j int) bool { return h.Meters[i].Meter < h.Meters[j].Meter })
		sort.Slice(h.VMs, func(i, j int) bool { return h.VMs[i].VM < h.VMs[j].VM })
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

// recordView is the part of a Flux record that HostEnergySeries reads.
type recordView struct {
	time  time.Time
	field string
	value any
	tag   func(string) string
}

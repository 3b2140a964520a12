package influx

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// InventoryHost is what the collectors stored about one hypervisor in a
// range: its latest capacity and its tags (room, rack, ...).
type InventoryHost struct {
	Host      string
	CPUs      int
	CPUMHz    int
	MemoryKiB int64
	Tags      map[string]string
	Last      time.Time
}

// InventoryVM is one domain: where it was last seen, its latest size and
// state, and every cpu_util sample (0..1 of its vCPUs) in the range,
// whichever host it ran on.
type InventoryVM struct {
	VM        string
	Host      string
	VCPUs     int
	MemoryKiB int64
	State     string
	Last      time.Time
	CPUUtil   []float64
}

// InventorySeries reads, for site and [from, to), measurements host
// (cpus, cpu_mhz, memory_kib) and vm (vcpus, memory_kib, state, cpu_util)
// (docs/schema.md), for `setsuden inventory export`. Hosts and VMs are
// sorted by name.
func (r *Reader) InventorySeries(ctx context.Context, site string, from, to time.Time) ([]InventoryHost, []InventoryVM, error) {
	if site == "" {
		return nil, nil, fmt.Errorf("inventory series: no site given")
	}
	if !to.After(from) {
		return nil, nil, fmt.Errorf("inventory series of %q: end %s is not after start %s", site, fluxTime(to), fluxTime(from))
	}
	q := fmt.Sprintf(`from(bucket: %q)
  |> %s
  |> filter(fn: (r) => r.site == %q and ((r._measurement == "host" and (r._field == "cpus" or r._field == "cpu_mhz" or r._field == "memory_kib")) or (r._measurement == "vm" and (r._field == "vcpus" or r._field == "memory_kib" or r._field == "state" or r._field == "cpu_util"))))`,
		r.bucket, fluxRange(from, to), site)
	res, err := r.client.QueryAPI(r.org).Query(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("inventory of %q %s..%s: flux query on %s: %w", site, fluxTime(from), fluxTime(to), r.bucket, err)
	}
	defer res.Close()
	hosts := map[string]*InventoryHost{}
	vms := map[string]*InventoryVM{}
	for res.Next() {
		rec := res.Record()
		t := rec.Time().UTC()
		tags := map[string]string{}
		for k, v := range rec.Values() {
			if s, ok := v.(string); ok && len(k) > 0 && k[0] != '_' && k != "result" && k != "table" {
				tags[k] = s
			}
		}
		host := tags["host"]
		if host == "" {
			continue
		}
		x, isNum := point.Number(rec.Value())
		switch rec.Measurement() {
		case "host":
			h := hosts[host]
			if h == nil {
				h = &InventoryHost{Host: host, Tags: map[string]string{}}
				hosts[host] = h
			}
			if t.Before(h.Last) || !isNum {
				continue
			}
			h.Last = t
			for k, v := range tags {
				if k != "site" && k != "host" {
					h.Tags[k] = v
				}
			}
			switch rec.Field() {
			case "cpus":
				h.CPUs = int(x)
			case "cpu_mhz":
				h.CPUMHz = int(x)
			case "memory_kib":
				h.MemoryKiB = int64(x)
			}
		case "vm":
			name := tags["vm"]
			if name == "" {
				continue
			}
			v := vms[name]
			if v == nil {
				v = &InventoryVM{VM: name}
				vms[name] = v
			}
			if rec.Field() == "cpu_util" {
				if isNum {
					v.CPUUtil = append(v.CPUUtil, x)
				}
				continue
			}
			if t.Before(v.Last) {
				continue
			}
			if t.After(v.Last) {
				v.Host = host
			}
			v.Last = t
			switch rec.Field() {
			case "vcpus":
				v.VCPUs = int(x)
			case "memory_kib":
				v.MemoryKiB = int64(x)
			case "state":
				v.State, _ = rec.Value().(string)
			}
		}
	}
	if err := res.Err(); err != nil {
		return nil, nil, fmt.Errorf("inventory of %q %s..%s: flux query on %s: %w", site, fluxTime(from), fluxTime(to), r.bucket, err)
	}
	hs := make([]InventoryHost, 0, len(hosts))
	for _, h := range hosts {
		hs = append(hs, *h)
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Host < hs[j].Host })
	vs := make([]InventoryVM, 0, len(vms))
	for _, v := range vms {
		vs = append(vs, *v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].VM < vs[j].VM })
	return hs, vs, nil
}

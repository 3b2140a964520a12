package influx

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/sla"
)

// observedFields are the stored fields the SLA engine reads from the data
// path (rules/slactl Controller.Observe): probe results, a host's poll
// (one field stands for the point), what a host says about a VM, and the
// failed libvirt polls.
const observedFields = `(r._measurement == "probe" and (r._field == "up" or r._field == "response_ms" or r._field == "error")) or
    (r._measurement == "host" and r._field == "vms_total") or
    (r._measurement == "vm" and r._field == "state") or
    (r._measurement == "vm_event" and (r._field == "event" or r._field == "detail" or r._field == "state")) or
    (r._measurement == "collector_errors" and r._field == "error")`

// Observations streams the points the SLA engine reads that are stored in
// [from, to) for site (probe, host, vm, vm_event and libvirt
// collector_errors; docs/schema.md), rebuilt from their fields, to fn in
// time order: one call per timestamp, so that a host's poll (its host
// point and its VMs', stamped alike) arrives as one batch, as it did
// through the collector. It reads chunk of time at a time (default one
// day) and calls progress, if set, after each.
func (s *SLAStore) Observations(ctx context.Context, site string, from, to time.Time, chunk time.Duration,
	fn func(pts []point.Point) error, progress func(done, total int)) error {
	if chunk <= 0 {
		chunk = 24 * time.Hour
	}
	total := int((to.Sub(from) + chunk - 1) / chunk)
	done := 0
	for a := from; a.Before(to); a = a.Add(chunk) {
		b := minTimeOf(a.Add(chunk), to)
		pts, err := s.observationChunk(ctx, site, a, b)
		if err != nil {
			return fmt.Errorf("sla observations of %q %s..%s: %w", site, fluxTime(a), fluxTime(b), err)
		}
		for i := 0; i < len(pts); {
			j := i + 1
			for j < len(pts) && pts[j].Time.Equal(pts[i].Time) {
				j++
			}
			if err := fn(pts[i:j]); err != nil {
				return err
			}
			i = j
		}
		done++
		if progress != nil {
			progress(done, total)
		}
	}
	return nil
}

func minTimeOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// observationChunk reads one slice of time and joins the fields of each
// point (measurement, tags, time) here rather than with pivot.
func (s *SLAStore) observationChunk(ctx context.Context, site string, from, to time.Time) ([]point.Point, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> %s
  |> filter(fn: (r) => r.site == %s)
  |> filter(fn: (r) => %s)`, slaFluxString(s.cfg.Bucket), fluxRange(from, to), slaFluxString(site), observedFields)
	byKey := map[string]*point.Point{}
	var pts []*point.Point
	err := s.query(ctx, q, func(row slaRow) error {
		at, err := row.time()
		if err != nil {
			return err
		}
		meas := row.get("_measurement")
		tags := map[string]string{}
		for name := range row.cols {
			if v := row.get(name); v != "" && !strings.HasPrefix(name, "_") && name != "result" && name != "table" && name != "" {
				tags[name] = v
			}
		}
		if meas == "collector_errors" && tags["kind"] != "libvirt" {
			return nil
		}
		field, raw := row.get("_field"), row.get("_value")
		var v any = raw
		switch field {
		case "up":
			v = raw == "true"
		case "response_ms":
			f, err := strconv.ParseFloat(raw, 64)
			if err != nil {
				return fmt.Errorf("probe response_ms %q: %w", raw, err)
			}
			v = f
		case "vms_total":
			n, _ := strconv.ParseInt(raw, 10, 64)
			v = n
		}
		k := meas + "\x00" + tagKey(tags) + "\x00" + strconv.FormatInt(at.UnixNano(), 10)
		p := byKey[k]
		if p == nil {
			p = &point.Point{Measurement: meas, Tags: tags, Fields: map[string]any{}, Time: at}
			byKey[k] = p
			pts = append(pts, p)
		}
		p.Fields[field] = v
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]point.Point, 0, len(pts))
	for _, p := range pts {
		if p.Measurement == sla.MeasurementProbe {
			if _, ok := p.Fields["up"]; !ok {
				continue // a probe point without its result is no check
			}
		}
		out = append(out, *p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

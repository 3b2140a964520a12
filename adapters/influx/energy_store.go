package influx

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/energy"
)

// MeterSeries returns the power meters of site with their samples in
// [from, to) (docs/schema.md, measurement power): per meter (tag meter),
// its tags (site, room, rack, category, model, …; the first seen when a
// meter's tags changed within the range) and, sorted by time, its kw
// samples as Power and its kwh_total samples as Counter, with Reset set
// where the same moment carries kwh_reset = true. A kwh_reset without a
// kwh_total at its moment is ignored. The input is what
// energy.MeterKWh, Rollup and ComputePUE need.
//
// The samples are raw (no windowing): callers wanting energy over
// [start, end) should read from start-maxGap to end+maxGap so that
// intervals crossing the boundaries can be split, and read a long range
// in pieces (a day of 10-s samples is 8640 per field per meter).
func (r *Reader) MeterSeries(ctx context.Context, site string, from, to time.Time) ([]energy.MeterSeries, error) {
	if site == "" {
		return nil, fmt.Errorf("meter series: no site given")
	}
	if !to.After(from) {
		return nil, fmt.Errorf("meter series of %q: end %s is not after start %s", site, fluxTime(to), fluxTime(from))
	}
	q := fmt.Sprintf(`from(bucket: %q)
  |> %s
  |> filter(fn: (r) => r._measurement == "power" and r.site == %q and (r._field == "kw" or r._field == "kwh_total" or r._field == "kwh_reset"))`,
		r.bucket, fluxRange(from, to), site)
	res, err := r.client.QueryAPI(r.org).Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("meter series of %q %s..%s: flux query on %s: %w", site, fluxTime(from), fluxTime(to), r.bucket, err)
	}
	defer res.Close()
	type acc struct {
		s       energy.MeterSeries
		counter map[int64]*energy.CounterSample
		resets  map[int64]bool
	}
	by := map[string]*acc{}
	for res.Next() {
		rec := res.Record()
		meter, _ := rec.ValueByKey("meter").(string)
		if meter == "" {
			continue
		}
		t := rec.Time().UTC()
		a := by[meter]
		if a == nil {
			tags := map[string]string{}
			for k, v := range rec.Values() {
				if strings.HasPrefix(k, "_") || k == "result" || k == "table" {
					continue
				}
				if s, ok := v.(string); ok {
					tags[k] = s
				}
			}
			a = &acc{s: energy.MeterSeries{Meter: meter, Tags: tags}, counter: map[int64]*energy.CounterSample{}, resets: map[int64]bool{}}
			by[meter] = a
		}
		switch rec.Field() {
		case "kw":
			if x, ok := point.Number(rec.Value()); ok {
				a.s.Power = append(a.s.Power, energy.PowerSample{Time: t, KW: x})
			}
		case "kwh_total":
			if x, ok := point.Number(rec.Value()); ok {
				a.counter[t.UnixNano()] = &energy.CounterSample{Time: t, KWhTotal: x}
			}
		case "kwh_reset":
			if b, _ := rec.Value().(bool); b {
				a.resets[t.UnixNano()] = true
			}
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("meter series of %q %s..%s: flux query on %s: %w", site, fluxTime(from), fluxTime(to), r.bucket, err)
	}
	out := make([]energy.MeterSeries, 0, len(by))
	for _, a := range by {
		for ns := range a.resets {
			if c := a.counter[ns]; c != nil {
				c.Reset = true
			}
		}
		a.s.Counter = make([]energy.CounterSample, 0, len(a.counter))
		for _, c := range a.counter {
			a.s.Counter = append(a.s.Counter, *c)
		}
		sort.Slice(a.s.Power, func(i, j int) bool { return a.s.Power[i].Time.Before(a.s.Power[j].Time) })
		sort.Slice(a.s.Counter, func(i, j int) bool { return a.s.Counter[i].Time.Before(a.s.Counter[j].Time) })
		out = append(out, a.s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Meter < out[j].Meter })
	return out, nil
}

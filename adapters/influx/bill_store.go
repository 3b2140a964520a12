package influx

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/setsuden/setsuden/rules/tariff"
)

// BillBlocks returns the site's demand blocks in [from, to) for the bill
// (rules/tariff): per block of length block (aligned to the Unix epoch,
// which in Japan is also aligned to local half hours), the site's kWh, the
// lagging kvarh implied by each meter's mean power factor, and coverage.
// The meters are those of the Demand input rule (docs/schema.md): the
// category=facility meters when there are any, else all.
//
// A meter's block energy is the difference of its first kwh_total in the
// next block and in this one (exact when a reading falls on each boundary,
// else shifted by the meter's sampling offset); where either is missing or
// the register was reset in the block, its mean kW x the block length x
// its coverage. A meter's coverage
// in a block is its number of kw samples over the most it had in any block
// of the range; the site's block coverage is the least of its meters' (a
// block where one meter lost half its data is half covered). Everything is
// aggregated by InfluxDB per block: a month of a 10 s meter returns 1,440
// rows a field, not 270,000 (InfluxQL, as SiteHistory: demand_history.go).
func (r *Reader) BillBlocks(ctx context.Context, site string, from, to time.Time, block time.Duration) ([]tariff.Block, error) {
	start, stop, err := demandRange(site, from, to, block)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf(`"site" = %s AND time >= %d AND time < %d`, influxQLString(site), start.UnixNano(), stop.Add(block).UnixNano())
	group := fmt.Sprintf(`GROUP BY time(%ds), "meter", "category" fill(none)`, int64(block/time.Second))
	// The register at each block's start (first): a block's energy is the
	// next block's first reading less its own, hence one block past stop.
	means, err := r.influxQLWindows(ctx, `SELECT mean("kw") AS "kw", mean("pf") AS "pf", count("kw") AS "kw_count", first("kwh_total") AS "kwh_total" FROM "power" WHERE `+where+" "+group)
	if err != nil {
		return nil, fmt.Errorf("bill blocks of %q %s..%s: %w", site, fluxTime(start), fluxTime(stop), err)
	}
	resets, err := r.influxQLWindows(ctx, `SELECT count("kwh_reset") AS "kwh_reset" FROM "power" WHERE "kwh_reset" = true AND `+where+" "+group)
	if err != nil {
		return nil, fmt.Errorf("bill blocks of %q %s..%s (resets): %w", site, fluxTime(start), fluxTime(stop), err)
	}
	byMeter := func(series []*meterWindows, field string) map[string]*meterWindows {
		out := map[string]*meterWindows{}
		for _, s := range series {
			if s.field == field {
				out[s.meter] = s
			}
		}
		return out
	}
	sel := siteMeters(means, "kw")
	pf, cnt, tot, rst := byMeter(means, "pf"), byMeter(means, "kw_count"), byMeter(means, "kwh_total"), byMeter(resets, "kwh_reset")
	n := int(stop.Sub(start) / block)
	out := make([]tariff.Block, n)
	for i := range out {
		out[i] = tariff.Block{Start: start.Add(time.Duration(i) * block), Coverage: 1}
	}
	hours := block.Hours()
	allReactive := true
	for _, m := range sel {
		maxCount := 0.0
		if c := cnt[m.meter]; c != nil {
			for _, v := range c.values {
				maxCount = math.Max(maxCount, windowNumber(v))
			}
		}
		if pf[m.meter] == nil {
			allReactive = false
		}
		for i := range out {
			w := out[i].Start.UnixNano()
			var cov float64
			if c := cnt[m.meter]; c != nil && maxCount > 0 {
				cov = math.Min(windowNumber(c.values[w])/maxCount, 1)
			}
			out[i].Coverage = math.Min(out[i].Coverage, cov)
			var kwh float64
			ok := false
			if t := tot[m.meter]; t != nil {
				at, okAt := t.values[w]
				next, okNext := t.values[w+int64(block)]
				reset := false
				if rs := rst[m.meter]; rs != nil {
					reset = windowNumber(rs.values[w]) > 0
				}
				if okAt && okNext && !reset && windowNumber(next) >= windowNumber(at) {
					kwh, ok = windowNumber(next)-windowNumber(at), true
				}
			}
			if !ok {
				if v, has := m.values[w]; has {
					kwh = windowNumber(v) * hours * cov
				}
			}
			out[i].KWh += kwh
			if p := pf[m.meter]; p != nil {
				if v, has := p.values[w]; has {
					if f := math.Abs(windowNumber(v)); f > 0 && f <= 1 {
						out[i].KVarh += kwh * math.Sqrt(1-f*f) / f
					}
				}
			}
		}
	}
	for i := range out {
		out[i].HasReactive = allReactive && len(sel) > 0
		if len(sel) == 0 {
			out[i].Coverage = 0
		}
	}
	return out, nil
}

func windowNumber(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return 0
}

package influx

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/setsuden/setsuden/rules/tariff"
)

// ShedBlocks are the site's blocks in [from, to) in which demand control
// asked for a shed: the stored `demand` points with request_kw > 0 (stage
// shed or limit; docs/schema.md), per block of length block aligned to the
// Unix epoch (as BillBlocks), with the predicted demand and the limit at
// the first such tick and the largest request. One InfluxQL query,
// aggregated by InfluxDB.
func (r *Reader) ShedBlocks(ctx context.Context, site string, from, to time.Time, block time.Duration) ([]tariff.ShedBlock, error) {
	start, stop, err := demandRange(site, from, to, block)
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf(`SELECT first("predicted_kw") AS "predicted_kw", max("request_kw") AS "request_kw", first("limit_kw") AS "limit_kw", `+
		`first("annual_max_kw") AS "annual_max_kw" FROM "demand" WHERE "site" = %s AND "request_kw" > 0 AND time >= %d AND time < %d `+
		`GROUP BY time(%ds) fill(none)`, influxQLString(site), start.UnixNano(), stop.UnixNano(), int64(block/time.Second))
	series, err := r.influxQLWindows(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("shed blocks of %q %s..%s: %w", site, fluxTime(start), fluxTime(stop), err)
	}
	by := map[int64]*tariff.ShedBlock{}
	for _, s := range series {
		for w, v := range s.values {
			b := by[w]
			if b == nil {
				b = &tariff.ShedBlock{Start: time.Unix(0, w).UTC()}
				by[w] = b
			}
			x := windowNumber(v)
			switch s.field {
			case "predicted_kw":
				b.FirstPredictedKW = x
			case "request_kw":
				b.RequestKW = x
			case "limit_kw":
				b.LimitKW = x
			case "annual_max_kw":
				b.AnnualMaxKW = x
			}
		}
	}
	out := make([]tariff.ShedBlock, 0, len(by))
	for _, b := range by {
		if b.RequestKW > 0 {
			out = append(out, *b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

package influx

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// RollupSuffix names the hourly rollup of a measurement: power -> power_1h.
const RollupSuffix = "_1h"

// RollupHours writes the hourly sums, counts and means of
// measurement.field at site for the whole hours in [from, to) as
// measurement_1h points (same tags, stamped at the hour's start; fields
// FIELD_sum, FIELD_count and FIELD, the mean) to write, and returns the end
// of the last hour rolled up. Long series ranges read these instead of
// every sample (SeriesTiered): a window's mean is the sum of its hours'
// sums over the sum of their counts, the mean of its samples.
func (r *Reader) RollupHours(ctx context.Context, write func(context.Context, []point.Point) error, site, measurement, field string, from, to time.Time) (time.Time, int, error) {
	from, to = from.Truncate(time.Hour), to.Truncate(time.Hour)
	if !to.After(from) {
		return from, 0, nil
	}
	got, err := r.meanSums(ctx, SeriesQuery{Measurement: measurement, Field: field, Site: site, From: from, To: to, Every: time.Hour}, rawSumCount(field))
	if err != nil {
		return from, 0, fmt.Errorf("rollup %s.%s: %w", measurement, field, err)
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pts []point.Point
	for _, k := range keys {
		w := got[k]
		tags := map[string]string{"site": site}
		for k, v := range w.tags {
			tags[k] = v
		}
		for i, start := range w.starts {
			pts = append(pts, point.Point{Measurement: measurement + RollupSuffix, Tags: tags,
				Fields: map[string]any{field: w.sums[i] / w.counts[i], field + "_sum": w.sums[i], field + "_count": int64(w.counts[i])},
				Time:   time.Unix(0, start)})
		}
	}
	if len(pts) > 0 {
		if err := write(ctx, pts); err != nil {
			return from, 0, fmt.Errorf("rollup %s.%s: %w", measurement, field, err)
		}
	}
	return to, len(pts), nil
}

// SeriesTiered answers q from the hourly rollup up to rolled (the end of
// the last hour rolled up) and from the samples after it, when the windows
// are an hour or longer and the function is mean; otherwise from the
// samples (Series). The split is at a window boundary, so no window mixes
// the two. Both parts are read with InfluxQL as sums and counts
// (series_influxql.go), so every window is the mean of its samples.
func (r *Reader) SeriesTiered(ctx context.Context, q SeriesQuery, rolled time.Time) ([]Series, error) {
	if q.Every < time.Hour || q.Every%time.Hour != 0 || q.Fn != "mean" || !rolled.After(q.From) {
		return r.Series(ctx, q)
	}
	// Windows are aligned to the Unix epoch (time.Truncate aligns to year
	// 1, which differs for weeks).
	ns, every := rolled.UnixNano(), int64(q.Every)
	split := time.Unix(0, ns-((ns%every)+every)%every)
	if !split.After(q.From) {
		return r.Series(ctx, q)
	}
	if split.After(q.To) {
		split = q.To
	}
	old := q
	old.Measurement, old.To = q.Measurement+RollupSuffix, split
	head, err := r.meanSums(ctx, old, rollupSumCount(q.Field))
	if err != nil {
		return nil, err
	}
	if !q.To.After(split) {
		return seriesOfSums(q, head), nil
	}
	recent := q
	recent.From = split
	tail, err := r.meanSums(ctx, recent, rawSumCount(q.Field))
	if err != nil {
		return nil, err
	}
	return seriesOfSums(q, head, tail), nil
}

package influx

import (
	"context"
	"fmt"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// RollupSuffix names the hourly rollup of a measurement: power -> power_1h.
const RollupSuffix = "_1h"

// RollupHours writes the hourly means of measurement.field at site for the
// whole hours in [from, to) as measurement_1h points (same tags, stamped at
// the hour's start) to write, and returns the end of the last hour rolled
// up. Long series ranges read these instead of every sample (SeriesTiered).
func (r *Reader) RollupHours(ctx context.Context, write func(context.Context, []point.Point) error, site, measurement, field string, from, to time.Time) (time.Time, int, error) {
	from, to = from.Truncate(time.Hour), to.Truncate(time.Hour)
	if !to.After(from) {
		return from, 0, nil
	}
	got, err := r.Series(ctx, SeriesQuery{Measurement: measurement, Field: field, Site: site, From: from, To: to, Every: time.Hour, Fn: "mean"})
	if err != nil {
		return from, 0, fmt.Errorf("rollup %s.%s: %w", measurement, field, err)
	}
	var pts []point.Point
	for _, s := range got {
		tags := map[string]string{"site": site}
		for k, v := range s.Tags {
			tags[k] = v
		}
		for i, t := range s.Times {
			pts = append(pts, point.Point{Measurement: measurement + RollupSuffix, Tags: tags,
				Fields: map[string]any{field: s.Values[i]}, Time: t.Add(-time.Hour)})
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
// samples. The split is at a window boundary, so no window mixes the two.
func (r *Reader) SeriesTiered(ctx context.Context, q SeriesQuery, rolled time.Time) ([]Series, error) {
	if q.Every < time.Hour || q.Fn != "mean" || !rolled.After(q.From) {
		return r.Series(ctx, q)
	}
	split := rolled.Truncate(q.Every)
	if !split.After(q.From) {
		return r.Series(ctx, q)
	}
	if split.After(q.To) {
		split = q.To
	}
	old := q
	old.Measurement, old.To = q.Measurement+RollupSuffix, split
	head, err := r.Series(ctx, old)
	if err != nil {
		return nil, err
	}
	if !q.To.After(split) {
		return head, nil
	}
	recent := q
	recent.From = split
	tail, err := r.Series(ctx, recent)
	if err != nil {
		return nil, err
	}
	byKey := map[string]int{}
	for i, s := range head {
		byKey[tagKey(s.Tags)] = i
	}
	for _, s := range tail {
		if i, ok := byKey[tagKey(s.Tags)]; ok {
			head[i].Times = append(head[i].Times, s.Times...)
			head[i].Values = append(head[i].Values, s.Values...)
			continue
		}
		head = append(head, s)
	}
	return head, nil
}

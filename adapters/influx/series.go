package influx

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// SeriesQuery asks for one field of a measurement over a range,
// downsampled in InfluxDB with aggregateWindow (Flux v0.65 has it).
type SeriesQuery struct {
	Measurement, Field, Site string
	Tags                     map[string]string
	From, To                 time.Time
	Every                    time.Duration
	// Fn is mean, max or spread (a counter's increase: energy from kwh_total).
	Fn string
}

// Series is one series' windows; Times are the windows' ends.
type Series struct {
	Tags   map[string]string
	Times  []time.Time
	Values []float64
}

// SeriesFlux is the Flux of a SeriesQuery.
func SeriesFlux(bucket string, q SeriesQuery) string {
	var filter strings.Builder
	fmt.Fprintf(&filter, "r._measurement == %s and r._field == %s", slaFluxString(q.Measurement), slaFluxString(q.Field))
	if q.Site != "" {
		fmt.Fprintf(&filter, " and r.site == %s", slaFluxString(q.Site))
	}
	keys := make([]string, 0, len(q.Tags))
	for k := range q.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&filter, " and r[%s] == %s", slaFluxString(k), slaFluxString(q.Tags[k]))
	}
	fn := "mean"
	if q.Fn == "max" || q.Fn == "spread" {
		fn = q.Fn
	}
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => %s)
  |> aggregateWindow(every: %s, fn: %s, createEmpty: false)`,
		slaFluxString(bucket), fluxTime(q.From), fluxTime(q.To), filter.String(), fluxDuration(q.Every), fn)
}

// Series runs q: one Series per tag set.
func (r *Reader) Series(ctx context.Context, q SeriesQuery) ([]Series, error) {
	if q.Every < time.Second {
		return nil, fmt.Errorf("series: window %s (expected at least 1s)", q.Every)
	}
	res, err := r.client.QueryAPI(r.org).Query(ctx, SeriesFlux(r.bucket, q))
	if err != nil {
		return nil, fmt.Errorf("flux series query on %s: %w", r.bucket, err)
	}
	defer res.Close()
	byKey := map[string]*Series{}
	var order []string
	for res.Next() {
		rec := res.Record()
		v, ok := point.Number(rec.Value())
		// A window's time is its end, after From; Flux v0.65 emits an
		// extra window ending at the range's start for some selectors
		// on integer fields (tested in series_test.go).
		if !ok || !rec.Time().After(q.From) {
			continue
		}
		tags := map[string]string{}
		for k, val := range rec.Values() {
			if strings.HasPrefix(k, "_") || k == "result" || k == "table" || k == "site" {
				continue
			}
			if s, ok := val.(string); ok {
				tags[k] = s
			}
		}
		key := tagKey(tags)
		s := byKey[key]
		if s == nil {
			s = &Series{Tags: tags}
			byKey[key] = s
			order = append(order, key)
		}
		s.Times = append(s.Times, rec.Time())
		s.Values = append(s.Values, v)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("flux series query on %s: %w", r.bucket, err)
	}
	sort.Strings(order)
	out := make([]Series, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out, nil
}

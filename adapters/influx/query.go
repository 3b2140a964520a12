package influx

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
)

// Reader runs Flux queries. InfluxDB 1.8 ships an old Flux engine (v0.65),
// so queries here stick to range/filter/last/aggregateWindow/pivot, which it
// has (shared/deps.md section 5); every query is tested against it.
type Reader struct {
	client influxdb2.Client
	org    string
	bucket string
}

// NewReader returns a query client for bucket.
func NewReader(url, token, org, bucket string) *Reader {
	return &Reader{client: influxdb2.NewClient(url, token), org: org, bucket: bucket}
}

// Close releases the client.
func (r *Reader) Close() { r.client.Close() }

// LastValue is the newest value of one field of one series.
type LastValue struct {
	Measurement string
	Field       string
	Tags        map[string]string
	Time        time.Time
	Value       any
}

// Last returns the newest value of each series of measurement (all fields)
// within lookback, optionally restricted to one site.
func (r *Reader) Last(ctx context.Context, measurement, site string, lookback time.Duration) ([]LastValue, error) {
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: -%ds)
  |> filter(fn: (r) => r._measurement == %q%s)
  |> last()`, r.bucket, int(lookback.Seconds()), measurement, siteFilter(site))
	return r.lastValues(ctx, q)
}

func siteFilter(site string) string {
	if site == "" {
		return ""
	}
	return fmt.Sprintf(" and r.site == %q", site)
}

func (r *Reader) lastValues(ctx context.Context, q string) ([]LastValue, error) {
	res, err := r.client.QueryAPI(r.org).Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("flux query on %s: %w", r.bucket, err)
	}
	defer res.Close()
	var out []LastValue
	for res.Next() {
		rec := res.Record()
		tags := map[string]string{}
		for k, v := range rec.Values() {
			if strings.HasPrefix(k, "_") || k == "result" || k == "table" {
				continue
			}
			if s, ok := v.(string); ok {
				tags[k] = s
			}
		}
		out = append(out, LastValue{
			Measurement: rec.Measurement(), Field: rec.Field(), Tags: tags,
			Time: rec.Time(), Value: rec.Value(),
		})
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("flux query on %s: %w", r.bucket, err)
	}
	keys := make([]string, len(out))
	for i := range out {
		keys[i] = tagKey(out[i].Tags) + "\x00" + out[i].Field
	}
	sort.Sort(byKey{out, keys})
	return out, nil
}

func tagKey(t map[string]string) string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + t[k] + ",")
	}
	return b.String()
}

// CountBy returns the number of points of measurement/field since start,
// keyed by the value of tag (e.g. "meter").
func (r *Reader) CountBy(ctx context.Context, measurement, field, tag string, start time.Time) (map[string]int64, error) {
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s)
  |> filter(fn: (r) => r._measurement == %q and r._field == %q)
  |> group(columns: [%q])
  |> count()`, r.bucket, start.UTC().Format(time.RFC3339Nano), measurement, field, tag)
	vals, err := r.lastValues(ctx, q)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, v := range vals {
		n, _ := v.Value.(int64)
		out[v.Tags[tag]] += n
	}
	return out, nil
}

// CounterSeries is the newest raw and total value of one counter series.
type CounterSeries struct {
	Tags       map[string]string
	Raw, Total float64
	Time       time.Time // when Raw was read
}

// LastCounters returns the newest raw and total values of every series of a
// counter (for collector.CounterStore) in one query, looking back 400 days.
// Series without both values are left out.
func (r *Reader) LastCounters(ctx context.Context, measurement, field string) ([]CounterSeries, error) {
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: -400d)
  |> filter(fn: (r) => r._measurement == %q and (r._field == %q or r._field == %q))
  |> last()`, r.bucket, measurement, field, field+"_total")
	vals, err := r.lastValues(ctx, q)
	if err != nil {
		return nil, err
	}
	type pair struct {
		raw, total       float64
		at               time.Time
		hasRaw, hasTotal bool
		tags             map[string]string
	}
	series := map[string]*pair{}
	var order []string
	for _, v := range vals {
		x, ok := v.Value.(float64)
		if !ok {
			continue
		}
		k := tagKey(v.Tags)
		p := series[k]
		if p == nil {
			p = &pair{tags: v.Tags}
			series[k] = p
			order = append(order, k)
		}
		switch v.Field {
		case field:
			p.raw, p.hasRaw, p.at = x, true, v.Time
		case field + "_total":
			p.total, p.hasTotal = x, true
		}
	}
	out := make([]CounterSeries, 0, len(order))
	for _, k := range order {
		if p := series[k]; p.hasRaw && p.hasTotal {
			out = append(out, CounterSeries{Tags: p.tags, Raw: p.raw, Total: p.total, Time: p.at})
		}
	}
	return out, nil
}

// fluxRange is a Flux range over [start, stop). InfluxDB 1.8's Flux
// includes range's stop, so it stops a nanosecond early.
func fluxRange(start, stop time.Time) string {
	return fmt.Sprintf("range(start: %s, stop: %s)", fluxTime(start), fluxTime(stop.Add(-time.Nanosecond)))
}

// CountRange returns the number of values of measurement/field in [start,
// stop).
func (r *Reader) CountRange(ctx context.Context, measurement, field string, start, stop time.Time) (int64, error) {
	q := fmt.Sprintf(`from(bucket: %q)
  |> %s
  |> filter(fn: (r) => r._measurement == %q and r._field == %q)
  |> group()
  |> count()`, r.bucket, fluxRange(start, stop), measurement, field)
	vals, err := r.lastValues(ctx, q)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, v := range vals {
		c, _ := v.Value.(int64)
		n += c
	}
	return n, nil
}

type byKey struct {
	v    []LastValue
	keys []string
}

func (b byKey) Len() int           { return len(b.v) }
func (b byKey) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKey) Swap(i, j int) {
	b.v[i], b.v[j] = b.v[j], b.v[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}

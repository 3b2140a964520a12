package influx

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/setsuden/setsuden/collector/point"
)

// PointsSince reads back whole points (all fields of a series at one time,
// pivoted) of the given measurements of site written at or after since, in
// time order. It is how the process that runs a sharded site's controllers
// sees what the other collector processes wrote (cmd/setsuden's peer feed).
// Tags are the series' tag columns; fields keep their stored types (float64,
// int64, string, bool).
func (r *Reader) PointsSince(ctx context.Context, site string, measurements []string, since time.Time) ([]point.Point, error) {
	if len(measurements) == 0 {
		return nil, nil
	}
	conds := make([]string, len(measurements))
	for i, m := range measurements {
		conds[i] = fmt.Sprintf("r._measurement == %q", m)
	}
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s)
  |> filter(fn: (r) => (%s)%s)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
		r.bucket, since.UTC().Format(time.RFC3339Nano), strings.Join(conds, " or "), siteFilter(site))
	res, err := r.client.QueryAPI(r.org).Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("flux query on %s: %w", r.bucket, err)
	}
	defer res.Close()
	var out []point.Point
	for res.Next() {
		rec := res.Record()
		group := map[string]bool{}
		for _, c := range res.TableMetadata().Columns() {
			if c.IsGroup() {
				group[c.Name()] = true
			}
		}
		p := point.Point{Measurement: rec.Measurement(), Time: rec.Time(), Tags: map[string]string{}, Fields: map[string]any{}}
		for k, v := range rec.Values() {
			if v == nil || strings.HasPrefix(k, "_") || k == "result" || k == "table" {
				continue
			}
			if s, ok := v.(string); ok && group[k] {
				p.Tags[k] = s
				continue
			}
			p.Fields[k] = v
		}
		out = append(out, p)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("flux query on %s: %w", r.bucket, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// NewReaderTimeout is NewReader with an HTTP timeout other than the
// client's 20 s default, for reads that are known to be long (benchmarks
// of large sites).
func NewReaderTimeout(url, token, org, bucket string, timeout time.Duration) *Reader {
	opts := influxdb2.DefaultOptions().SetHTTPRequestTimeout(uint(timeout / time.Second))
	return &Reader{client: influxdb2.NewClientWithOptions(url, token, opts), org: org, bucket: bucket}
}

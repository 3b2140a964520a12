package influx

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Means over long ranges are read with InfluxQL as a sum and a count per
// window, never as a mean of means:
//
//	SELECT sum("kw") AS "s", count("kw") AS "n" FROM "power"  (the samples)
//	SELECT sum("kw_sum") AS "s", sum("kw_count") AS "n" FROM "power_1h"  (the rollup)
//	WHERE "site" = '…' [AND "rack" = '…'] AND time >= … AND time < …
//	GROUP BY time(every), * fill(none)
//
// so a day whose hours hold different numbers of samples (a meter that was
// down for part of an hour) has the mean of its samples, as a read of the
// samples gives. On influxd 1.8 InfluxQL runs in the storage engine; Flux's
// aggregateWindow (v0.65) builds a table per window (demand_history.go has
// the figures for the demand path). The windows are aligned to the Unix
// epoch like aggregateWindow's, and stamped at their end, clipped to the
// range's end, as aggregateWindow stamps them.

// sumCount is what a window's mean is made of.
type sumCount struct {
	sum, count string // InfluxQL expressions
}

func rawSumCount(field string) sumCount {
	return sumCount{"sum(" + influxQLIdent(field) + ")", "count(" + influxQLIdent(field) + ")"}
}

func rollupSumCount(field string) sumCount {
	return sumCount{"sum(" + influxQLIdent(field+"_sum") + ")", "sum(" + influxQLIdent(field+"_count") + ")"}
}

// meanStatement is the InfluxQL of q's windowed sums and counts.
func meanStatement(q SeriesQuery, sc sumCount) string {
	var where strings.Builder
	fmt.Fprintf(&where, "time >= %d AND time < %d", q.From.UnixNano(), q.To.UnixNano())
	if q.Site != "" {
		fmt.Fprintf(&where, ` AND "site" = %s`, influxQLString(q.Site))
	}
	keys := make([]string, 0, len(q.Tags))
	for k := range q.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&where, " AND %s = %s", influxQLIdent(k), influxQLString(q.Tags[k]))
	}
	return fmt.Sprintf(`SELECT %s AS "s", %s AS "n" FROM %s WHERE %s GROUP BY time(%ds), * fill(none)`,
		sc.sum, sc.count, influxQLIdent(q.Measurement), where.String(), int64(q.Every/time.Second))
}

// influxQLIdent quotes s as an InfluxQL identifier.
func influxQLIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// windowSums is one series' windows: start (Unix ns), sum and count.
type windowSums struct {
	tags   map[string]string
	starts []int64
	sums   []float64
	counts []float64
}

// meanSums runs q's statement and returns each series' windowed sums and
// counts, by tag key.
func (r *Reader) meanSums(ctx context.Context, q SeriesQuery, sc sumCount) (map[string]*windowSums, error) {
	if q.Every < time.Second {
		return nil, fmt.Errorf("series: window %s (expected at least 1s)", q.Every)
	}
	// Chunked: influxd streams the rows (10,000 a chunk) rather than
	// building the whole response, and each chunk is decoded on its own,
	// so a month of hours of 10,000 meters (the rollup's query) never sits
	// in memory as one document.
	body, err := r.influxQLOpen(ctx, meanStatement(q, sc), url.Values{"chunked": {"true"}, "chunk_size": {"10000"}})
	if err != nil {
		return nil, fmt.Errorf("series of %s.%s: %w", q.Measurement, q.Field, err)
	}
	defer body.Close()
	out, err := decodeSums(body)
	if err != nil {
		return nil, fmt.Errorf("series of %s.%s: %w", q.Measurement, q.Field, err)
	}
	return out, nil
}

// decodeSums reads the response of a meanStatement: one JSON document, or
// a chunk after another (a series may go on in the next chunk).
func decodeSums(body io.Reader) (map[string]*windowSums, error) {
	dec := json.NewDecoder(body)
	dec.UseNumber() // nanosecond times do not fit a float64
	out := map[string]*windowSums{}
	for {
		var res influxQLResponse
		if err := dec.Decode(&res); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("influxql response: %w", err)
		}
		if err := addSums(out, &res); err != nil {
			return nil, err
		}
	}
}

// addSums adds one response (or chunk) to out.
func addSums(out map[string]*windowSums, res *influxQLResponse) error {
	if res.Error != "" {
		return fmt.Errorf("influxql: %s", res.Error)
	}
	for _, rs := range res.Results {
		if rs.Error != "" {
			return fmt.Errorf("influxql: %s", rs.Error)
		}
		for _, s := range rs.Series {
			if len(s.Columns) != 3 || s.Columns[0] != "time" || s.Columns[1] != "s" || s.Columns[2] != "n" {
				return fmt.Errorf("influxql: columns %v (expected time, s, n)", s.Columns)
			}
			// GROUP BY * names every tag key of the measurement; a series
			// without one has it empty. The site is the query's.
			tags := map[string]string{}
			for k, v := range s.Tags {
				if v != "" && k != "site" {
					tags[k] = v
				}
			}
			key := tagKey(tags)
			w := out[key]
			if w == nil {
				w = &windowSums{tags: tags}
				out[key] = w
			}
			for _, row := range s.Values {
				if len(row) != 3 {
					return fmt.Errorf("influxql: row of %d values (expected 3)", len(row))
				}
				tn, ok := row[0].(json.Number)
				if !ok {
					return fmt.Errorf("influxql: time %v is not a number", row[0])
				}
				start, err := tn.Int64()
				if err != nil {
					return fmt.Errorf("influxql: time %v: %w", row[0], err)
				}
				sn, ok1 := row[1].(json.Number)
				nn, ok2 := row[2].(json.Number)
				if !ok1 || !ok2 {
					continue // no numeric value in the window
				}
				sum, err1 := sn.Float64()
				count, err2 := nn.Float64()
				if err1 != nil || err2 != nil {
					return fmt.Errorf("influxql: window %d of %v: sum %q count %q", start, tags, sn, nn)
				}
				if count <= 0 {
					continue
				}
				w.starts = append(w.starts, start)
				w.sums = append(w.sums, sum)
				w.counts = append(w.counts, count)
			}
		}
	}
	return nil
}

// seriesOfSums turns windowed sums into means stamped at the windows' ends
// (clipped to q.To), one Series per tag set in tag-key order, as Series
// returns them.
func seriesOfSums(q SeriesQuery, parts ...map[string]*windowSums) []Series {
	byKey := map[string]*Series{}
	for _, part := range parts {
		for key, w := range part {
			s := byKey[key]
			if s == nil {
				s = &Series{Tags: w.tags}
				byKey[key] = s
			}
			for i, start := range w.starts {
				end := time.Unix(0, start).Add(q.Every)
				if end.After(q.To) {
					end = q.To
				}
				if !end.After(q.From) {
					continue
				}
				s.Times = append(s.Times, end)
				s.Values = append(s.Values, w.sums[i]/w.counts[i])
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for k, s := range byKey {
		if len(s.Times) > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]Series, 0, len(keys))
	for _, k := range keys {
		out = append(out, *byKey[k])
	}
	return out
}

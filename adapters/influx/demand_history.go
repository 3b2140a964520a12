package influx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// Demand input is read with one InfluxQL statement per range:
//
//	SELECT mean("kw"), last("kwh_total"), last("kwh_reset") FROM "power"
//	WHERE "site" = '…' AND time >= … AND time < …
//	GROUP BY time(every), "meter", "category" fill(none)
//
// On InfluxDB 1.8 this runs in the storage engine, where Flux's
// aggregateWindow (v0.65) builds a table per window: measured against the
// real influxd on 5 days of 3 meters at 10 s, 1-minute windows took 0.18 s
// with InfluxQL and 7.5 s with aggregateWindow (1 day: 0.38 s, so Flux
// grows faster than the range), 10-s windows 19 s per day with Flux. The
// windows are those of Flux's aggregateWindow (aligned to the Unix epoch,
// stamped at their start), and the site rules (facility meters or all,
// complete windows only) are applied to them as before.

// SiteHistory returns SitePower and SiteEnergy of [from, to) from one
// query: what a replay reads, chunk by chunk.
func (r *Reader) SiteHistory(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, []demand.EnergySample, error) {
	start, stop, err := demandRange(site, from, to, every)
	if err != nil {
		return nil, nil, err
	}
	series, err := r.siteWindows(ctx, site, start, stop, every)
	if err != nil {
		return nil, nil, fmt.Errorf("site history of %q %s..%s: %w", site, fluxTime(start), fluxTime(stop), err)
	}
	return sitePowerOf(series, every), siteEnergyOf(series, every), nil
}

// siteWindows runs the statement above and returns one meterWindows per
// (meter, category, field) with field kw (mean), kwh_total and kwh_reset
// (last).
func (r *Reader) siteWindows(ctx context.Context, site string, start, stop time.Time, every time.Duration) ([]*meterWindows, error) {
	return r.influxQLWindows(ctx, siteStatement(site, start, stop, every))
}

// influxQLWindows runs an InfluxQL statement grouped by time, "meter" and
// "category" and returns one meterWindows per (meter, category, column).
func (r *Reader) influxQLWindows(ctx context.Context, stmt string) ([]*meterWindows, error) {
	var buf bytes.Buffer
	body, err := r.influxQLBody(ctx, stmt, &buf)
	if err != nil {
		return nil, err
	}
	if out, err := decodeWindowsFast(body); err == nil {
		return out, nil
	}
	return decodeWindows(bytes.NewReader(body))
}

// influxQLBody runs an InfluxQL statement and returns the response's body,
// read into buf (reset first; the caller may keep it for the next call).
func (r *Reader) influxQLBody(ctx context.Context, stmt string, buf *bytes.Buffer) ([]byte, error) {
	body, err := r.influxQLOpen(ctx, stmt, nil)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("influxql on %s: %w", r.bucket, err)
	}
	return buf.Bytes(), nil
}

// influxQLOpen runs an InfluxQL statement (with extra parameters, e.g.
// chunked) and returns the response's body, for the caller to close.
func (r *Reader) influxQLOpen(ctx context.Context, stmt string, extra url.Values) (io.ReadCloser, error) {
	db, rp, _ := strings.Cut(r.bucket, "/")
	form := url.Values{"db": {db}, "q": {stmt}, "epoch": {"ns"}}
	if rp != "" {
		form.Set("rp", rp)
	}
	for k, v := range extra {
		form[k] = v
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(r.client.ServerURL(), "/")+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("influxql on %s: %w", r.bucket, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := r.client.HTTPService().DoHTTPRequestWithResponse(req, v1Auth)
	if err != nil {
		return nil, fmt.Errorf("influxql on %s: %w", r.bucket, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("influxql on %s: HTTP %s: %s", r.bucket, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp.Body, nil
}

// siteStatement is siteWindows' statement.
func siteStatement(site string, start, stop time.Time, every time.Duration) string {
	return fmt.Sprintf(`SELECT mean("kw") AS "kw", last("kwh_total") AS "kwh_total", last("kwh_reset") AS "kwh_reset" FROM "power" WHERE "site" = %s AND time >= %d AND time < %d GROUP BY time(%ds), "meter", "category" fill(none)`,
		influxQLString(site), start.UnixNano(), stop.UnixNano(), int64(every/time.Second))
}

// v1Auth turns the client's "Token user:password" (InfluxDB 1.8's form of
// a token) into basic authentication, which 1.x's /query takes.
func v1Auth(req *http.Request) {
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Token ")
	if !ok {
		return
	}
	if user, pass, found := strings.Cut(tok, ":"); found {
		req.Header.Del("Authorization")
		req.SetBasicAuth(user, pass)
	}
}

// influxQLString quotes s as an InfluxQL string literal.
func influxQLString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

type influxQLResponse struct {
	Results []struct {
		Error  string `json:"error"`
		Series []struct {
			Tags    map[string]string `json:"tags"`
			Columns []string          `json:"columns"`
			Values  [][]any           `json:"values"`
		} `json:"series"`
	} `json:"results"`
	Error string `json:"error"`
}

// decodeWindows turns the response into meterWindows. Numbers are decoded
// as json.Number: nanosecond times do not fit a float64.
func decodeWindows(body io.Reader) ([]*meterWindows, error) {
	dec := json.NewDecoder(body)
	dec.UseNumber()
	var res influxQLResponse
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("influxql response: %w", err)
	}
	if res.Error != "" {
		return nil, fmt.Errorf("influxql: %s", res.Error)
	}
	by := map[string]*meterWindows{}
	var order []string
	for _, r := range res.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influxql: %s", r.Error)
		}
		for _, s := range r.Series {
			meter, category := s.Tags["meter"], s.Tags["category"]
			for _, row := range s.Values {
				if len(row) != len(s.Columns) || len(row) == 0 {
					return nil, fmt.Errorf("influxql: row of %d values for %d columns", len(row), len(s.Columns))
				}
				n, ok := row[0].(json.Number)
				if !ok {
					return nil, fmt.Errorf("influxql: time %v is not a number", row[0])
				}
				w, err := n.Int64()
				if err != nil {
					return nil, fmt.Errorf("influxql: time %v: %w", row[0], err)
				}
				for i := 1; i < len(row); i++ {
					field := s.Columns[i]
					var v any
					switch x := row[i].(type) {
					case nil:
						continue
					case json.Number:
						f, err := x.Float64()
						if err != nil {
							return nil, fmt.Errorf("influxql: meter %q %s: %w", meter, field, err)
						}
						v = f
					case bool:
						v = x
					default:
						continue // a string in a numeric field: not a reading
					}
					key := meter + "\x00" + category + "\x00" + field
					m := by[key]
					if m == nil {
						m = &meterWindows{meter: meter, category: category, field: field, values: map[int64]any{}}
						by[key] = m
						order = append(order, key)
					}
					if len(m.values) == 0 || w < m.first {
						m.first = w
					}
					if len(m.values) == 0 || w > m.last {
						m.last = w
					}
					m.values[w] = v
				}
			}
		}
	}
	out := make([]*meterWindows, 0, len(order))
	for _, k := range order {
		out = append(out, by[k])
	}
	sortWindows(out)
	return out, nil
}

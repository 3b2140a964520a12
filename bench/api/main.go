// Command api measures setsuden's HTTP API under load with wrk (Debian's
// wrk), against `setsuden run` on a real influxd holding a year of 1-minute
// power data of three meters (1.6 M points). It prints, per endpoint, wrk's
// requests/s with p50 and p99, and for the series the cold (uncached) time
// of an hour, a day and a year side by side, then one JSON line.
//
// Run with `make bench-api`; it is not part of `make test`.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/server"
)

func main() {
	bin := flag.String("setsuden", "bin/setsuden", "the setsuden binary")
	dur := flag.Duration("duration", 10*time.Second, "wrk run per endpoint")
	conns := flag.Int("connections", 50, "wrk connections")
	days := flag.Int("days", 365, "days of 1-minute history")
	flag.Parse()
	if err := run(*bin, *dur, *conns, *days); err != nil {
		log.Fatal(err)
	}
}

func run(bin string, dur time.Duration, conns, days int) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk not found (scripts/install-deps.sh test installs it): %w", err)
	}
	work, err := os.MkdirTemp("", "setsuden-bench-api-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ibin, err := influx.FindInfluxd()
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := influx.StartInfluxd(ctx, influx.InfluxdConfig{Binary: ibin, Dir: filepath.Join(work, "influxdb")})
	if err != nil {
		return err
	}
	defer db.Stop()

	now := time.Now().Truncate(time.Minute)
	start := time.Now()
	n, err := writeHistory(ctx, db, now, days)
	if err != nil {
		return err
	}
	log.Printf("wrote %d points (%d days of 1-minute data, 3 meters) in %s", n, days, time.Since(start).Round(time.Second))

	token, sum := server.NewToken()
	hash, _ := bcrypt.GenerateFromPassword([]byte("bench-password-1"), 12)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	conf := filepath.Join(work, "setsuden.yaml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`site: {name: dc1, timezone: Asia/Tokyo}
influx: {url: %q, bucket: %q}
server:
  listen: %q
  users: [{name: admin, role: admin, password_hash: %q}]
  tokens: [{name: bench, role: viewer, sha256: %s}]
log: {level: warn}
`, db.URL, db.Bucket(), addr, hash, sum)), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "run", "--config", conf)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	base := "http://" + addr
	if err := waitReady(base); err != nil {
		return err
	}
	auth := "Authorization: Bearer " + token
	// The daemon first rolls the history up into hourly means (power_1h).
	rolled := time.Now()
	if err := waitRollup(base, token, now); err != nil {
		return err
	}
	log.Printf("hourly rollup of the history done in %s", time.Since(rolled).Round(time.Second))
	iso := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	seriesURL := func(span time.Duration) string {
		return fmt.Sprintf("%s/api/v1/series?measurement=power&field=kw&sum=true&from=%s&to=%s", base, iso(now.Add(-span)), iso(now))
	}
	// A cold ask: the range shifted back by k windows, so that neither the
	// server's memo nor its previous answer serves it.
	coldURL := func(span time.Duration, k int) string {
		shift := time.Duration(k) * 2 * server.SeriesWindow(span, 600)
		return fmt.Sprintf("%s/api/v1/series?measurement=power&field=kw&sum=true&from=%s&to=%s", base, iso(now.Add(-span-shift)), iso(now.Add(-shift)))
	}

	// Cold series: each a range not asked before.
	type cold struct {
		Name   string  `json:"name"`
		MS     float64 `json:"ms"`
		Points int     `json:"points"`
	}
	var colds []cold
	for _, c := range []struct {
		name string
		span time.Duration
	}{{"hour", time.Hour}, {"day", 24 * time.Hour}, {"year", time.Duration(days) * 24 * time.Hour}} {
		var ms []float64
		points := 0
		for i := 0; i < 3; i++ {
			d, p, err := timedGet(coldURL(c.span, i+1), token)
			if err != nil {
				return err
			}
			ms = append(ms, float64(d.Microseconds())/1000)
			points = p
		}
		sort.Float64s(ms)
		colds = append(colds, cold{c.name, ms[1], points})
	}
	fmt.Println("series, cold (median of 3 ranges not asked before): range, time, points returned")
	for _, c := range colds {
		fmt.Printf("  %-5s %8.1f ms  %4d points  (%.2fx the hour)\n", c.Name, c.MS, c.Points, c.MS/colds[0].MS)
	}

	type result struct {
		Name   string  `json:"name"`
		RPS    float64 `json:"rps"`
		P50MS  float64 `json:"p50_ms"`
		P99MS  float64 `json:"p99_ms"`
		Errors int     `json:"non_2xx"`
	}
	var results []result
	for _, e := range []struct{ name, url string }{
		{"live", base + "/api/v1/live"},
		{"overview", base + "/api/v1/sites"},
		{"series-day", seriesURL(24 * time.Hour)},
		{"series-year", seriesURL(time.Duration(days) * 24 * time.Hour)},
	} {
		out, err := exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(dur.Seconds())), "--latency", "-H", auth, e.url).CombinedOutput()
		if err != nil {
			return fmt.Errorf("wrk %s: %v\n%s", e.name, err, out)
		}
		r := result{Name: e.name, RPS: grab(out, `Requests/sec:\s+([\d.]+)`), P50MS: latency(out, "50%"), P99MS: latency(out, "99%"),
			Errors: int(grab(out, `Non-2xx or 3xx responses:\s+(\d+)`))}
		results = append(results, r)
	}
	fmt.Printf("wrk -t2 -c%d -d%s (bearer token; a 2-core machine shared with other work):\n", conns, dur)
	for _, r := range results {
		fmt.Printf("  %-12s %8.0f req/s  p50 %6.1f ms  p99 %6.1f ms  non-2xx %d\n", r.Name, r.RPS, r.P50MS, r.P99MS, r.Errors)
	}
	js, _ := json.Marshal(map[string]any{"cold_series": colds, "wrk": results, "history_points": n})
	fmt.Println(string(js))
	return nil
}

// writeHistory writes days of 1-minute power for three meters up to now.
func writeHistory(ctx context.Context, db *influx.Influxd, now time.Time, days int) (int, error) {
	w, err := influx.NewWriter(influx.WriterConfig{URL: db.URL, Bucket: db.Bucket(), BatchSize: 50000, Timeout: 2 * time.Minute})
	if err != nil {
		return 0, err
	}
	defer w.Close()
	meters := []struct {
		name, rack, category string
		base                 float64
	}{{"pdu-a1", "A01", "it", 18}, {"pdu-a2", "A02", "it", 11}, {"crac-1", "", "cooling", 9}}
	total := 0
	var batch []point.Point
	for t := now.Add(-time.Duration(days) * 24 * time.Hour); !t.After(now); t = t.Add(time.Minute) {
		h := float64(t.Hour()) + float64(t.Minute())/60
		for _, m := range meters {
			tags := map[string]string{"site": "dc1", "meter": m.name, "category": m.category, "room": "A"}
			if m.rack != "" {
				tags["rack"] = m.rack
			}
			kw := m.base * (1 + 0.3*dayShape(h))
			batch = append(batch, point.Point{Measurement: "power", Tags: tags, Fields: map[string]any{"kw": kw}, Time: t})
		}
		if len(batch) >= 150000 {
			if err := flush(ctx, w, batch); err != nil {
				return total, err
			}
			total += len(batch)
			batch = batch[:0]
		}
	}
	if err := flush(ctx, w, batch); err != nil {
		return total, err
	}
	return total + len(batch), nil
}

func dayShape(h float64) float64 {
	if h < 8 || h > 20 {
		return 0
	}
	return 1 - ((h-14)/6)*((h-14)/6)
}

func flush(ctx context.Context, w *influx.Writer, pts []point.Point) error {
	if err := w.Write(ctx, pts); err != nil {
		return err
	}
	return w.Flush(ctx)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitReady(base string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("setsuden did not answer /healthz within 60 s")
}

// waitRollup waits until the power rollup reaches the last hours.
func waitRollup(base, token string, now time.Time) error {
	re := regexp.MustCompile(`setsuden_series_rollup_until_timestamp_seconds\{field="kw",measurement="power"\} ([0-9.e+]+)`)
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := re.FindSubmatch(b); m != nil {
				if v, _ := strconv.ParseFloat(string(m[1]), 64); v > 0 && now.Sub(time.Unix(int64(v), 0)) < 2*time.Hour {
					return nil
				}
			}
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("the hourly rollup did not reach %s within 5 minutes", now.Add(-2*time.Hour))
}

func timedGet(url, token string) (time.Duration, int, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Series []struct {
			T []int64 `json:"t"`
		} `json:"series"`
	}
	err = json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&v)
	d := time.Since(t0)
	if resp.StatusCode != 200 || err != nil {
		return d, 0, fmt.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	points := 0
	for _, s := range v.Series {
		points += len(s.T)
	}
	return d, points, nil
}

func grab(out []byte, re string) float64 {
	m := regexp.MustCompile(re).FindSubmatch(out)
	if m == nil {
		return 0
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return f
}

// latency reads a percentile line of wrk --latency ("99%   12.34ms").
func latency(out []byte, pct string) float64 {
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(pct) + `\s+([\d.]+)(us|ms|s)\s*$`).FindSubmatch(out)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	switch string(m[2]) {
	case "us":
		return v / 1000
	case "s":
		return v * 1000
	}
	return v
}

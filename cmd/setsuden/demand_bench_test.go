package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// summerMeters are the benchmark site's meters: two IT and one cooling.
var summerMeters = []struct {
	name, category string
	base, peak     float64
}{{"pdu-a", "it", 120, 190}, {"pdu-b", "it", 110, 175}, {"crac-1", "cooling", 60, 140}}

// writeSummer stores 1 Jul – 30 Sep 2024 of the three meters, kw and
// kwh_total every 10 s (2.38 M points), a day at a time through the
// product's writer. The load is an office-hours curve with noise and a
// cooling bump in the afternoon; weekends stay near the floor.
func writeSummer(b *testing.B, db *influx.Influxd, tokyo *time.Location) int {
	from := time.Date(2024, 7, 1, 0, 0, 0, 0, tokyo)
	to := time.Date(2024, 10, 1, 0, 0, 0, 0, tokyo)
	totals := make([]float64, len(summerMeters))
	n := 0
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		pts := make([]point.Point, 0, 8640*len(summerMeters))
		weekend := day.Weekday() == time.Saturday || day.Weekday() == time.Sunday
		for t := day; t.Before(day.AddDate(0, 0, 1)); t = t.Add(10 * time.Second) {
			h := t.Sub(day).Hours()
			shape := 0.0
			if !weekend {
				shape = math.Max(0, math.Sin(math.Pi*(h-7)/13))
			}
			for i, m := range summerMeters {
				noise := math.Sin(float64(t.Unix())*0.37+float64(i)) * 0.02 * m.peak
				kw := m.base + shape*(m.peak-m.base) + noise
				if m.category == "cooling" && h > 13 && h < 16 {
					kw += 20
				}
				totals[i] += kw * 10 / 3600
				pts = append(pts, point.Point{Measurement: "power",
					Tags:   map[string]string{"site": "dc1", "meter": m.name, "category": m.category},
					Fields: map[string]any{"kw": kw, "kwh_total": totals[i]}, Time: t})
			}
		}
		testinflux.Write(b, db, pts)
		n += len(pts)
	}
	return n
}

var replayTimes = regexp.MustCompile(`read (\S+), replayed (\S+)\n`)

// BenchmarkDemandReplaySummer replays a whole summer (92 days, 3 meters
// at 10 s in a real influxd) end to end through the command, with a
// contract and an hourly cap, at the default 1-minute tick. It reports
// the command's wall time (total_s), the part spent reading history
// (read_s: the InfluxQL queries and their decoding) and computing
// (replay_s), and influxd's own time for the same statement over the whole
// summer with the body discarded (influxd_s), the lower bound of any read.
// Goal: total_s <= 30. The set-up (writing 2.38 M points) is not timed.
// tick10s_total_s is the same replay at --tick 10s, for context.
//
//	go test -run '^$' -bench BenchmarkDemandReplaySummer -benchtime 1x ./cmd/setsuden/
func BenchmarkDemandReplaySummer(b *testing.B) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		b.Fatal(err)
	}
	db := testinflux.Start(b)
	setup := time.Now()
	n := writeSummer(b, db, tokyo)
	b.Logf("set-up: %d points written in %s", n, time.Since(setup).Round(time.Millisecond))
	conf := writeDemandConfig(b, db.URL, db.Bucket(), "demand:\n  limits:\n    - contract: {kw: 480}\n"+
		"    - cap: {name: restriction, baseline_kw: 520, calendar: {dates: [\"07-01..09-09\"], weekdays: [mon, tue, wed, thu, fri], hours: \"09:00-20:00\"}}\n")

	var out, errb bytes.Buffer
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Reset()
		errb.Reset()
		start := time.Now()
		if code := run([]string{"demand", "replay", "--config", conf, "--from", "2024-07-01", "--to", "2024-09-30"}, &out, &errb); code != 0 {
			b.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
		}
		total = time.Since(start)
	}
	b.StopTimer()
	m := replayTimes.FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "2024-09-30") {
		b.Fatalf("no timing line or no last day:\n%s", out.String())
	}
	read, _ := time.ParseDuration(m[1])
	replayed, _ := time.ParseDuration(m[2])
	server := influxdSummer(b, db)
	// For context: the same replay at the controller's own 10-s tick
	// (10-s windows: six times the rows and the ticks).
	out10 := &bytes.Buffer{}
	start10 := time.Now()
	if code := run([]string{"demand", "replay", "--config", conf, "--from", "2024-07-01", "--to", "2024-09-30", "--tick", "10s"}, out10, &errb); code != 0 {
		b.Fatalf("--tick 10s: exit %d\n%s", code, errb.String())
	}
	total10 := time.Since(start10)
	b.ReportMetric(total10.Seconds(), "tick10s_total_s")
	if m10 := replayTimes.FindStringSubmatch(out10.String()); m10 != nil {
		b.Logf("at --tick 10s: total %s (read %s, computed %s)", total10.Round(time.Millisecond), m10[1], m10[2])
	}
	b.ReportMetric(total.Seconds(), "total_s")
	b.ReportMetric(read.Seconds(), "read_s")
	b.ReportMetric(replayed.Seconds(), "replay_s")
	b.ReportMetric(server.Seconds(), "influxd_s")
	lines := strings.Split(out.String(), "\n")
	b.Logf("replay of 92 days: total %s (read %s, computed %s); influxd alone %s\n%s", total.Round(time.Millisecond), read, replayed,
		server.Round(time.Millisecond), strings.Join(lines[len(lines)-5:], "\n"))
}

// influxdSummer is influxd's time for the replay's statement over the
// whole summer (1-minute windows), the response read and discarded.
func influxdSummer(b *testing.B, db *influx.Influxd) time.Duration {
	stmt := `SELECT mean("kw") AS "kw", last("kwh_total") AS "kwh_total", last("kwh_reset") AS "kwh_reset" FROM "power" WHERE "site" = 'dc1' AND time >= '2024-06-30T13:00:00Z' AND time < '2024-09-30T15:00:00Z' GROUP BY time(60s), "meter", "category" fill(none)`
	form := url.Values{"db": {db.Database}, "q": {stmt}, "epoch": {"ns"}}
	start := time.Now()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, db.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	nb, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || nb < 1e6 {
		b.Fatalf("influxql: %s, %d bytes", resp.Status, nb)
	}
	return time.Since(start)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/tariff"
)

const benchMeters = 1000

// BenchmarkBill1000Meters measures the read path of a year's bill for a
// site of 1,000 meters, against influxd's own time for the same
// statements (the response read and discarded: the lower bound of any
// read). Goal: a year's bill in <= 2 s.
//
// Set-up (not timed), at what this shared 2-core machine affords: one day
// (2026-06-10) of 1,000 meters at one reading (kw, kwh_total, pf) per
// 30-minute block, 49,000 points; and a year (2025-07..2026-06) of the
// site's bill_block points, what the daemon writes at each block end,
// 17,520 points: that day's from the meters' read, the other blocks
// cycling its values.
//
//   - raw_day_s: Reader.BillBlocks of that day from the 1,000 meters
//     (what cost does per day when no bill_block is stored; a month in one
//     query outlasts the client's 20-s timeout), raw_day_influxd_s
//     influxd's time for its two statements; raw_year_est_s = 365 x
//     raw_day_s, an extrapolation (a year of 1,000 meters' raw data was
//     not written).
//
//   - stored_year_s: `setsuden cost --month 2026-06` through the built
//     binary, end to end (process start, 12 months read, the bill), from
//     the bill_block points; stored_year_influxd_s influxd's time for the
//     12 monthly statements.
//
//     go test -run '^$' -bench BenchmarkBill1000Meters -benchtime 1x ./cmd/setsuden/
func BenchmarkBill1000Meters(b *testing.B) {
	jst, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		b.Fatal(err)
	}
	db := testinflux.Start(b)
	day := time.Date(2026, 6, 10, 0, 0, 0, 0, jst)
	next := day.AddDate(0, 0, 1)
	setup := time.Now()
	var pts []point.Point
	for i := 0; i < benchMeters; i++ {
		reg := float64(1000 * i)
		name := fmt.Sprintf("m%04d", i)
		for tt := day; !tt.After(next); tt = tt.Add(30 * time.Minute) {
			kw := 3 + float64(i%7)*0.1
			if h := tt.In(jst).Hour(); h >= 13 && h < 16 {
				kw += 1.5
			}
			pts = append(pts, point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": name, "category": "it"},
				Fields: map[string]any{"kw": kw, "kwh_total": reg, "pf": 0.95}, Time: tt})
			reg += kw / 2
		}
	}
	testinflux.Write(b, db, pts)
	b.Logf("set-up: %d raw points of %d meters written in %s", len(pts), benchMeters, time.Since(setup).Round(time.Millisecond))

	reader := influx.NewReader(db.URL, "", "", db.Bucket())
	defer reader.Close()
	b.ResetTimer()
	rawStart := time.Now()
	blocks, err := reader.BillBlocks(context.Background(), "dc1", day, next, 30*time.Minute)
	rawTook := time.Since(rawStart)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if len(blocks) != 48 || blocks[30].KWh < 1000 {
		b.Fatalf("%d blocks, 15:00 %.1f kWh: the meters were not read", len(blocks), blocks[30].KWh)
	}
	where := fmt.Sprintf(`"site" = 'dc1' AND time >= %d AND time < %d`, day.UnixNano(), next.Add(30*time.Minute).UnixNano())
	group := `GROUP BY time(1800s), "meter", "category" fill(none)`
	rawServer := influxdTime(b, db, `SELECT mean("kw") AS "kw", mean("pf") AS "pf", count("kw") AS "kw_count", first("kwh_total") AS "kwh_total" FROM "power" WHERE `+where+" "+group) +
		influxdTime(b, db, `SELECT count("kwh_reset") AS "kwh_reset" FROM "power" WHERE "kwh_reset" = true AND `+where+" "+group)

	june := time.Date(2026, 6, 1, 0, 0, 0, 0, jst)
	var bb []point.Point
	for m := 11; m >= 0; m-- {
		ms, me := tariff.MonthBounds(june.AddDate(0, -m, 0))
		i := 0
		for t := ms; t.Before(me); t = t.Add(30 * time.Minute) {
			blk := blocks[i%len(blocks)]
			blk.Start = t
			bb = append(bb, demandctl.BillBlockPoint("dc1", blk))
			i++
		}
	}
	testinflux.Write(b, db, bb)
	conf := writeDemandConfig(b, db.URL, db.Bucket(), kepcoTariff)
	bin := buildBinary(b)
	cmd := exec.Command(bin, "cost", "--config", conf, "--month", "2026-06", "--format", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b.StartTimer()
	storedStart := time.Now()
	out, err := cmd.Output()
	storedTook := time.Since(storedStart)
	b.StopTimer()
	if err != nil {
		b.Fatalf("setsuden cost: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "12 months from stored bill_block points, 0 from the meters") {
		b.Fatalf("stored run:\n%s", stderr.String())
	}
	var rep struct {
		Total float64 `json:"total_yen"`
		KWh   float64 `json:"energy_kwh"`
		PF    float64 `json:"power_factor_pct"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || rep.KWh < 1e6 || rep.PF != 95 {
		b.Fatalf("bill %+v (%v)", rep, err)
	}
	var storedServer time.Duration
	for m := 11; m >= 0; m-- {
		ms, me := tariff.MonthBounds(june.AddDate(0, -m, 0))
		storedServer += influxdTime(b, db, fmt.Sprintf(`SELECT "kwh", "kvarh", "coverage", "has_reactive" FROM "bill_block" WHERE "site" = 'dc1' AND time >= %d AND time < %d`,
			ms.UnixNano(), me.UnixNano()))
	}
	b.ReportMetric(rawTook.Seconds(), "raw_day_s")
	b.ReportMetric(rawServer.Seconds(), "raw_day_influxd_s")
	b.ReportMetric(365*rawTook.Seconds(), "raw_year_est_s")
	b.ReportMetric(storedTook.Seconds(), "stored_year_s")
	b.ReportMetric(storedServer.Seconds(), "stored_year_influxd_s")
	b.Logf("1,000 meters: a day from the meters %s (influxd alone %s; a year ~%.0f s); a year of bill_block through the binary %s (influxd alone %s); June %.0f kWh, %.0f yen",
		rawTook.Round(time.Millisecond), rawServer.Round(time.Millisecond), 365*rawTook.Seconds(),
		storedTook.Round(time.Millisecond), storedServer.Round(time.Millisecond), rep.KWh, rep.Total)
}

// influxdTime is influxd's time for one InfluxQL statement, the response
// read and discarded.
func influxdTime(b *testing.B, db *influx.Influxd, stmt string) time.Duration {
	form := url.Values{"db": {db.Database}, "q": {stmt}, "epoch": {"ns"}}
	start := time.Now()
	resp, err := http.Post(db.URL+"/query", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n == 0 {
		b.Fatalf("influxql %s: %s, %d bytes", stmt, resp.Status, n)
	}
	return time.Since(start)
}

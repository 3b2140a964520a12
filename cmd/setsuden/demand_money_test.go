package main

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// writeJunePeak stores a 505 kW half hour on 2024-06-10 14:00-14:30 JST
// (the 12-month maximum before the July days of writeDemandDays).
func writeJunePeak(t *testing.T, db *influx.Influxd) {
	t.Helper()
	jst, _ := time.LoadLocation("Asia/Tokyo")
	var pts []point.Point
	total := 1000.0
	for tt := time.Date(2024, 6, 10, 14, 0, 0, 0, jst); tt.Before(time.Date(2024, 6, 10, 14, 40, 0, 0, jst)); tt = tt.Add(10 * time.Second) {
		pts = append(pts, point.Point{Measurement: "power",
			Tags:   map[string]string{"site": "dc1", "meter": "incomer", "category": "facility"},
			Fields: map[string]any{"kw": 505.0, "kwh_total": total}, Time: tt})
		total += 505.0 * 10 / 3600
	}
	testinflux.Write(t, db, pts)
}

// annualMaxSection holds the site to its 12-month maximum (a contract of
// 600 kW is never the strictest here) and prices a new maximum at Kansai
// Electric's 1,765.50 yen/kW.
const annualMaxSection = `demand:
  tick: 10s
  predictor: {method: least_squares}
  limits:
    - contract: {kw: 600}
    - annual_max: {name: annual_max}
tariff:
  contracts:
    - name: kepco-as
      from: "2024-04-01"
      basic_yen_per_kw: 1765.50
      bands:
        - {name: summer, season: summer, yen_per_kwh: 13.94}
        - {name: other, season: other, yen_per_kwh: 12.87}
`

// The 12-month maximum comes from the stored history (June's 505 kW
// block); the 2024-07-03 13:00 block heads for 512 kW, so demand now sets
// the annual_max limit at 505 kW as the strictest and prices the block as
// a new maximum: (512 - 505) kW x 1,765.50 yen x 12 months = 148,302 yen;
// the replay prices each day's peak against the maximum before it.
func TestDemandKnowsTheAnnualMaximumThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("needs influxd")
	}
	db := testinflux.Start(t)
	writeDemandDays(t, db)
	writeJunePeak(t, db)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), annualMaxSection)
	bin := buildBinary(t)
	runBin := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("setsuden %v: %v\n%s%s", args, err, out, stderr.String())
		}
		return string(out), stderr.String()
	}

	out, stderr := runBin("demand", "now", "--config", conf, "--at", "2024-07-03T13:20:00+09:00", "--json")
	if !strings.Contains(stderr, "12-month maximum from history since 2023-08-01: 505.0 kW (block 2024-06-10 14:00)") {
		t.Errorf("stderr does not say where the maximum came from:\n%s", stderr)
	}
	var v struct {
		Limit       string   `json:"limit"`
		LimitKW     float64  `json:"limit_kw"`
		Stage       string   `json:"stage"`
		AnnualMaxKW float64  `json:"annual_max_kw"`
		NewMaxYen   *float64 `json:"new_max_yen"`
		Billing     struct {
			PredictedKW float64 `json:"predicted_kw"`
		} `json:"billing"`
		Request *struct {
			Limit string `json:"limit"`
		} `json:"request"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Limit != "annual_max" || math.Abs(v.LimitKW-505) > 1e-6 || math.Abs(v.AnnualMaxKW-505) > 1e-6 {
		t.Errorf("strictest %q %.2f kW, annual max %.2f: want annual_max at 505", v.Limit, v.LimitKW, v.AnnualMaxKW)
	}
	if v.Billing.PredictedKW < 510 || v.Billing.PredictedKW > 514 {
		t.Fatalf("predicted %.2f kW, want 512 ±2", v.Billing.PredictedKW)
	}
	want := (math.Floor(v.Billing.PredictedKW+0.5) - 505) * 1765.50 * 12
	if v.NewMaxYen == nil || math.Abs(*v.NewMaxYen-want) > 1e-6 {
		t.Errorf("new_max_yen %v, want %.2f (predicted %.2f)", v.NewMaxYen, want, v.Billing.PredictedKW)
	}
	if v.Stage != "limit" && v.Stage != "shed" || v.Request == nil || v.Request.Limit != "annual_max" {
		t.Errorf("stage %s request %+v: want shed or limit for annual_max", v.Stage, v.Request)
	}
	text, _ := runBin("demand", "now", "--config", conf, "--at", "2024-07-03T13:20:00+09:00")
	if !strings.Contains(text, "12-month maximum 505.0 kW: ending at the predicted") || !strings.Contains(text, "yen a year") {
		t.Errorf("text has no 12-month maximum line:\n%s", text)
	}

	csvOut, _ := runBin("demand", "replay", "--config", conf, "--from", "2024-07-03", "--to", "2024-07-04", "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("replay csv: %v\n%s", err, csvOut)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	num := func(r []string, name string) float64 {
		x, err := strconv.ParseFloat(r[col[name]], 64)
		if err != nil {
			t.Fatalf("%s %q: %v", name, r[col[name]], err)
		}
		return x
	}
	d1, d2 := rows[1], rows[2]
	peak := num(d1, "peak_kw")
	if num(d1, "annual_max_kw") != 505 || math.Abs(num(d1, "new_max_yen")-math.Round((math.Floor(peak+0.5)-505)*1765.50*12)) > 1e-6 {
		t.Errorf("2024-07-03: max %s, new max %s yen (peak %.2f kW)", d1[col["annual_max_kw"]], d1[col["new_max_yen"]], peak)
	}
	// The 3 July block raised the maximum; 4 July's 350 kW peak costs nothing.
	if math.Abs(num(d2, "annual_max_kw")-peak) > 1e-6 || num(d2, "new_max_yen") != 0 {
		t.Errorf("2024-07-04: max %s (want %.3f), new max %s yen (want 0)", d2[col["annual_max_kw"]], peak, d2[col["new_max_yen"]])
	}
}

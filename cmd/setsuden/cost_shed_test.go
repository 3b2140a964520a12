package main

import (
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

const kepcoTariff = `tariff:
  contracts:
    - name: kepco-as
      from: "2025-04-01"
      basic_yen_per_kw: 1765.50
      bands:
        - {name: summer, season: summer, yen_per_kwh: 13.94}
        - {name: other, season: other, yen_per_kwh: 12.87}
`

// TestCostShedThroughTheBinary stores two shed blocks as the demand
// controller and the collector would (demand points with request_kw, the
// incomer's minute readings at power factor 1), and values them with the
// built binary. Worked by hand (1,765.50 yen/kW, 13.94 yen/kWh in summer,
// PF 100%: basic x 0.85):
//
//	2026-07-15 14:00  first shed tick predicted 540, largest request 35, metered 510,
//	                  12-month max 510: baseline min(540, 545) = 540, kept 30 kW:
//	                  30 x 1,765.50 x 0.85 x 12 = 540,243; 15 kWh x 13.94 = 209.10
//	2026-08-05 14:00  predicted 520, request 10, metered 505, max 510: baseline 515,
//	                  kept 515 - 510 = 5 kW: 90,040.50; 5 kWh x 13.94 = 69.70
//
// August: 1 event, 90,110.20 yen. Summer 2026 so far: 2 events, basic
// 540,243 (the larger: both protect the same maximum) + energy 278.80.
func TestCostShedThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("needs influxd")
	}
	db := testinflux.Start(t)
	_, aug := writeShedSummer(t, db, 2026)

	conf := writeDemandConfig(t, db.URL, db.Bucket(), kepcoTariff)
	bin := buildBinary(t)
	cmd := exec.Command(bin, "cost", "--config", conf, "--month", "2026-08", "--shed", "--format", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("setsuden cost --shed: %v\n%s", err, stderr.String())
	}
	var rep struct {
		Shed struct {
			Basis string `json:"basis"`
			Month struct {
				Events   int     `json:"events"`
				TotalYen float64 `json:"total_yen"`
			} `json:"month"`
			Summer struct {
				Months    []struct{ Month string } `json:"months"`
				Events    int                      `json:"events"`
				BasicYen  float64                  `json:"basic_yen"`
				EnergyYen float64                  `json:"energy_yen"`
				TotalYen  float64                  `json:"total_yen"`
			} `json:"summer"`
			Events []struct {
				Start      time.Time `json:"start"`
				BaselineKW float64   `json:"baseline_kw"`
				KWKept     float64   `json:"kw_kept"`
				BasicYen   float64   `json:"basic_yen"`
				EnergyYen  float64   `json:"energy_yen"`
			} `json:"events"`
		} `json:"shed"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := rep.Shed
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("%s: %.4f, want %.4f", what, got, want)
		}
	}
	if len(s.Events) != 1 || !s.Events[0].Start.Equal(aug.Add(14*time.Hour)) {
		t.Fatalf("August events %+v\n%s", s.Events, out)
	}
	near("aug baseline", s.Events[0].BaselineKW, 515)
	near("aug kept", s.Events[0].KWKept, 5)
	near("aug basic", s.Events[0].BasicYen, 90040.50)
	near("aug energy", s.Events[0].EnergyYen, 69.70)
	near("aug total", s.Month.TotalYen, 90110.20)
	if len(s.Summer.Months) != 2 || s.Summer.Months[0].Month != "2026-07" || s.Summer.Events != 2 {
		t.Errorf("summer %+v", s.Summer)
	}
	near("summer basic", s.Summer.BasicYen, 540243)
	near("summer energy", s.Summer.EnergyYen, 278.80)
	near("summer total", s.Summer.TotalYen, 540521.80)
	if !strings.Contains(s.Basis, "first shed tick") {
		t.Errorf("basis %q", s.Basis)
	}
	text, err := exec.Command(bin, "cost", "--config", conf, "--month", "2026-08", "--shed").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Shed events of 2026-08", "2026-08-05 14:00", "summer 2026 so far: 2 events", "540522 yen"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("text has no %q:\n%s", want, text)
		}
	}
}

// writeShedSummer stores TestCostShedThroughTheBinary's two shed blocks,
// 15 July and 5 August of year 14:00 (Tokyo), and returns those days.
func writeShedSummer(t *testing.T, db *influx.Influxd, year int) (jul, aug time.Time) {
	t.Helper()
	jst, _ := time.LoadLocation("Asia/Tokyo")
	var pts []point.Point
	meter := func(day time.Time, kw float64) {
		reg := 1000.0
		for tt := day.Add(13*time.Hour + 30*time.Minute); !tt.After(day.Add(15 * time.Hour)); tt = tt.Add(time.Minute) {
			pts = append(pts, point.Point{Measurement: "power",
				Tags:   map[string]string{"site": "dc1", "meter": "incomer", "category": "facility"},
				Fields: map[string]any{"kw": kw, "kwh_total": reg, "pf": 1.0}, Time: tt})
			reg += kw / 60
		}
	}
	demandPt := func(at time.Time, predicted, request float64) {
		pts = append(pts, point.Point{Measurement: "demand", Tags: map[string]string{"site": "dc1"},
			Fields: map[string]any{"predicted_kw": predicted, "request_kw": request, "limit_kw": 520.0, "annual_max_kw": 510.0,
				"demand_kw": 300.0, "stage": "shed", "limit": "contract"}, Time: at})
	}
	jul = time.Date(year, 7, 15, 0, 0, 0, 0, jst)
	aug = time.Date(year, 8, 5, 0, 0, 0, 0, jst)
	meter(jul, 510)
	meter(aug, 505)
	// A tick without a request, then the first shed tick and a later one.
	pts = append(pts, point.Point{Measurement: "demand", Tags: map[string]string{"site": "dc1"},
		Fields: map[string]any{"predicted_kw": 560.0, "demand_kw": 200.0, "stage": "caution"}, Time: jul.Add(14*time.Hour + 9*time.Minute)})
	demandPt(jul.Add(14*time.Hour+10*time.Minute), 540, 30)
	demandPt(jul.Add(14*time.Hour+11*time.Minute), 530, 35)
	demandPt(aug.Add(14*time.Hour+12*time.Minute), 520, 10)
	testinflux.Write(t, db, pts)
	return jul, aug
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/sim"
	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// The daemon's demand controller reads the 12-month maximum from the
// stored history at start (last month's 35 kW block in a real influxd),
// holds the annual_max limit to it against a simulated 40 kW meter, and
// prices every decision's block as a new maximum with the tariff.
func TestRunKnowsTheAnnualMaximum(t *testing.T) {
	if testing.Short() {
		t.Skip("needs influxd")
	}
	db := testinflux.Start(t)
	jst, _ := time.LoadLocation("Asia/Tokyo")
	now := time.Now().In(jst)
	lastMonth := time.Date(now.Year(), now.Month()-1, 10, 14, 0, 0, 0, jst)
	var pts []point.Point
	reg := 100.0
	for tt := lastMonth; !tt.After(lastMonth.Add(40 * time.Minute)); tt = tt.Add(time.Minute) {
		pts = append(pts, point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-1", "category": "it"},
			Fields: map[string]any{"kw": 35.0, "kwh_total": reg}, Time: tt})
		reg += 35.0 / 60
	}
	testinflux.Write(t, db, pts)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := sim.StartMeter(ctx, sim.MeterSpec{Addr: "127.0.0.1:0", UnitID: 1,
		Curve: sim.LoadCurve{BaseKW: 40, PeakKW: 40, Location: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	conf := writeDemandConfig(t, db.URL, db.Bucket(), fmt.Sprintf(`  flush_interval: 200ms
server:
  listen: "127.0.0.1:0"
  users: [{name: vera, role: viewer, password_hash: %q}]
modbus:
  devices:
    - {name: pdu-1, model: setsuden-sim-pm, address: %q, interval: 1s, timeout: 500ms}
demand:
  tick: 1s
  max_gap: 10s
  no_action: 0s
  limits:
    - contract: {kw: 100}
    - annual_max: {name: annual_max}
%s`, viewerHash(t), m.Addr(), kepcoTariff))
	cfg, err := loadConfig(conf, true)
	if err != nil {
		t.Fatal(err)
	}
	p, err := buildPipeline(ctx, cfg, conf, newLogger(config.Log{Level: "warn"}, io.Discard), collector.Shard{Index: 0, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- p.serve(ctx, func(a string) { addr <- a }) }()
	base := "http://" + <-addr
	var v struct {
		LoadKW      float64  `json:"load_kw"`
		Limit       string   `json:"limit"`
		LimitKW     float64  `json:"limit_kw"`
		AnnualMaxKW float64  `json:"annual_max_kw"`
		NewMaxYen   *float64 `json:"new_max_yen"`
		Billing     struct {
			PredictedKW float64 `json:"predicted_kw"`
		} `json:"billing"`
	}
	deadline := time.Now().Add(45 * time.Second)
	for v.LoadKW == 0 || v.Billing.PredictedKW < 36 {
		if time.Now().After(deadline) {
			t.Fatalf("no decision with the meter's load within 45 s: %+v", v)
		}
		time.Sleep(300 * time.Millisecond)
		resp, err := getAs(base+"/api/v1/demand", "vera", viewerPassword)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			_ = json.NewDecoder(resp.Body).Decode(&v)
		}
		resp.Body.Close()
	}
	if math.Abs(v.AnnualMaxKW-35) > 0.5 || v.Limit != "annual_max" || math.Abs(v.LimitKW-v.AnnualMaxKW) > 1e-9 {
		t.Errorf("decision %+v: want the annual_max limit at last month's 35 kW", v)
	}
	want := math.Max(0, math.Floor(v.Billing.PredictedKW+0.5)-math.Floor(v.AnnualMaxKW+0.5)) * 1765.50 * 12
	if v.NewMaxYen == nil || math.Abs(*v.NewMaxYen-want) > 1e-6 || want <= 0 {
		t.Errorf("new_max_yen %v, want %.2f (predicted %.2f over %.2f)", v.NewMaxYen, want, v.Billing.PredictedKW, v.AnnualMaxKW)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

package main

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testinflux"
)

// TestCostAPIOnTheRunningDaemon: `setsuden run` with a tariff serves
// GET /api/v1/cost?month=2026-06 with the same bill as `setsuden cost
// --format json` over the same metered data (TestCostThroughTheBinary's:
// June's maximum 150 kW, May's 180 kW sets the contract kW, 1,519,755 yen),
// to operators and admins only, and a bad month answers 400 naming month.
func TestCostAPIOnTheRunningDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	db := testinflux.Start(t)
	peakJune, peakMay := writeIncomerMayJune(t, db)
	hash := viewerHash(t)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), `tariff:
  contracts:
    - name: kepco-as
      from: "2025-04-01"
      basic_yen_per_kw: 1765.50
      bands:
        - {name: summer, season: summer, yen_per_kwh: 13.94}
        - {name: other, season: other, yen_per_kwh: 12.87}
  adjustments:
    - {month: "2026-06", fuel_yen_per_kwh: 0.50, renewable_yen_per_kwh: 3.98}
  emission:
    supplier: kepco
    factors:
      - {supplier: kepco, year: 2018, location_kg_per_kwh: 0.35, adjusted_kg_per_kwh: 0.33}
server:
  listen: "127.0.0.1:0"
  users:
    - {name: vera, role: viewer, password_hash: '`+hash+`'}
    - {name: olga, role: operator, password_hash: '`+hash+`'}
    - {name: adam, role: admin, password_hash: '`+hash+`'}
    - {name: cora, role: customer, customer: "Demo Corp.", password_hash: '`+hash+`'}
`)
	bin := buildBinary(t)
	d := startDaemon(t, bin, conf)
	line := d.waitLog(t, 60*time.Second, "setsuden running", "ui=")
	base := regexp.MustCompile(`ui=(http://[0-9.:]+)`).FindStringSubmatch(line)[1]

	get := func(path, user string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, viewerPassword)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := get("/api/v1/cost?month=2026-06", "olga")
	if code != 200 {
		t.Fatalf("GET /api/v1/cost?month=2026-06 as an operator: %d %s", code, body)
	}
	var rep struct {
		Site        string    `json:"site"`
		MaxDemandKW float64   `json:"max_demand_kw"`
		MaxBlock    time.Time `json:"max_block"`
		ContractKW  float64   `json:"contract_kw"`
		SetBy       struct {
			Month string    `json:"month"`
			Block time.Time `json:"block"`
		} `json:"contract_set_by"`
		KWh      float64 `json:"energy_kwh"`
		Basic    float64 `json:"basic_yen"`
		Energy   float64 `json:"energy_yen"`
		Total    float64 `json:"total_yen"`
		Coverage struct {
			Fraction float64 `json:"fraction"`
		} `json:"coverage"`
		CO2 struct {
			LocationKg float64 `json:"location_kg"`
		} `json:"co2"`
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	t.Logf("GET /api/v1/cost?month=2026-06:\n%s", body)
	if rep.Site != "dc1" || rep.MaxDemandKW != 150 || rep.ContractKW != 180 || rep.SetBy.Month != "2026-05" ||
		!rep.SetBy.Block.Equal(peakMay) || !rep.MaxBlock.Equal(peakJune) {
		t.Errorf("demand lines: %+v", rep)
	}
	if math.Abs(rep.KWh-72_025) > 1e-6 || math.Abs(rep.Basic-270_121.50) > 0.005 || math.Abs(rep.Energy-926_961.75) > 0.005 ||
		rep.Total != 1_519_755 || math.Abs(rep.Coverage.Fraction-1) > 1e-9 || math.Abs(rep.CO2.LocationKg-72_025*0.35) > 1e-6 {
		t.Errorf("bill lines: %+v", rep)
	}

	// The same bill as the CLI prints.
	out, err := runCost(bin, conf, "2026-06")
	if err != nil {
		t.Fatal(err)
	}
	var cli, api map[string]any
	_ = json.Unmarshal(out, &cli)
	_ = json.Unmarshal(body, &api)
	cj, _ := json.Marshal(cli)
	aj, _ := json.Marshal(api)
	if string(cj) != string(aj) {
		t.Errorf("the API's bill differs from setsuden cost --format json:\nAPI %s\nCLI %s", aj, cj)
	}

	if code, _ := get("/api/v1/cost?month=2026-06", "adam"); code != 200 {
		t.Errorf("as an admin: %d", code)
	}
	for _, who := range []struct {
		user string
		want int
	}{{"", 401}, {"vera", 403}, {"cora", 403}} {
		if code, b := get("/api/v1/cost?month=2026-06", who.user); code != who.want {
			t.Errorf("as %q: %d %s, want %d", who.user, code, b, who.want)
		}
	}
	for _, bad := range []string{"2026-13", "2026-6", "1900-01", "2999-01"} {
		code, b := get("/api/v1/cost?month="+bad, "olga")
		if code != 400 || !strings.Contains(string(b), `"field":"month"`) {
			t.Errorf("month=%s: %d %s, want 400 naming month", bad, code, b)
		}
	}
	// The OpenAPI document lists the route.
	if code, b := get("/api/v1/openapi.json", ""); code != 200 || !strings.Contains(string(b), `"/api/v1/cost"`) {
		t.Errorf("openapi: %d, /api/v1/cost missing", code)
	}
}

// runCost is `setsuden cost --format json` for a month.
func runCost(bin, conf, month string) ([]byte, error) {
	return exec.Command(bin, "cost", "--config", conf, "--month", month, "--format", "json").Output()
}

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testinflux"
)

// TestCostAPIOnTheRunningDaemon: `setsuden run` with a tariff serves
// GET /api/v1/cost?month=YYYY-06 with the same bill as `setsuden cost
// --format json` over the same metered data (TestCostThroughTheBinary's:
// June's maximum 150 kW, May's 180 kW sets the contract kW, 1,519,755 yen),
// to operators and admins only, and a bad month answers 400 naming month.
// YYYY is the latest year whose June has ended (the bill is the same in
// every year), so the month stays within the API's reach.
func TestCostAPIOnTheRunningDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	db := testinflux.Start(t)
	year := lastEnded(time.June)
	june, may := fmt.Sprintf("%d-06", year), fmt.Sprintf("%d-05", year)
	peakJune, peakMay := writeIncomerMayJune(t, db, year)
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
    - {month: "`+june+`", fuel_yen_per_kwh: 0.50, renewable_yen_per_kwh: 3.98}
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
	base := startDaemon(t, bin, conf).apiBase(t)
	get := func(path, user string) (int, []byte) {
		t.Helper()
		return apiGet(t, base, path, user)
	}
	code, body := get("/api/v1/cost?month="+june, "olga")
	if code != 200 {
		t.Fatalf("GET /api/v1/cost?month=%s as an operator: %d %s", june, code, body)
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
	t.Logf("GET /api/v1/cost?month=%s:\n%s", june, body)
	if rep.Site != "dc1" || rep.MaxDemandKW != 150 || rep.ContractKW != 180 || rep.SetBy.Month != may ||
		!rep.SetBy.Block.Equal(peakMay) || !rep.MaxBlock.Equal(peakJune) {
		t.Errorf("demand lines: %+v", rep)
	}
	if math.Abs(rep.KWh-72_025) > 1e-6 || math.Abs(rep.Basic-270_121.50) > 0.005 || math.Abs(rep.Energy-926_961.75) > 0.005 ||
		rep.Total != 1_519_755 || math.Abs(rep.Coverage.Fraction-1) > 1e-9 || math.Abs(rep.CO2.LocationKg-72_025*0.35) > 1e-6 {
		t.Errorf("bill lines: %+v", rep)
	}

	// The same bill as the CLI prints.
	out, err := runCost(bin, conf, june)
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

	if code, _ := get("/api/v1/cost?month="+june, "adam"); code != 200 {
		t.Errorf("as an admin: %d", code)
	}
	for _, who := range []struct {
		user string
		want int
	}{{"", 401}, {"vera", 403}, {"cora", 403}} {
		if code, b := get("/api/v1/cost?month="+june, who.user); code != who.want {
			t.Errorf("as %q: %d %s, want %d", who.user, code, b, who.want)
		}
	}
	for _, bad := range []string{fmt.Sprintf("%d-13", year), fmt.Sprintf("%d-6", year), "1900-01", "2999-01", fmt.Sprintf("%d-06", year-6)} {
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

// TestCostAPIShedAndSharesOnTheRunningDaemon: GET /api/v1/cost?shed=1
// answers the value of the month's shed blocks as `setsuden cost --shed
// --format json` does (TestCostShedThroughTheBinary's: August 1 event,
// 90,110.20 yen; summer so far 2 events, 540,521.80 yen), and ?by=tenant,
// service or vm the bill's shares as `setsuden cost --labels` does with
// tariff.vm_labels (TestCostSharedByTenant's VMs: acme 4.2 : globex 5.1
// kWh a day), one grouping each; a bad shed or by answers 400 naming it
// and the allowed values, and by=tenant without vm_labels 503 naming it.
// The year is the latest whose August has ended (the figures are the same
// in every year): the shed blocks in its July and August, the VMs' day in
// its June.
func TestCostAPIShedAndSharesOnTheRunningDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	db := testinflux.Start(t)
	year := lastEnded(time.August)
	_, aug := writeShedSummer(t, db, year)
	writeVMDayIn(t, db, year, time.June)
	june, august := fmt.Sprintf("%d-06", year), fmt.Sprintf("%d-08", year)
	labels := filepath.Join(t.TempDir(), "labels.csv")
	if err := os.WriteFile(labels, []byte("vm,tenant,service\nvm-a,acme,web\nvm-b,acme,db\nvm-c,globex,web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hash := viewerHash(t)
	users := `server:
  listen: "127.0.0.1:0"
  users:
    - {name: vera, role: viewer, password_hash: '` + hash + `'}
    - {name: olga, role: operator, password_hash: '` + hash + `'}
    - {name: cora, role: customer, customer: "Demo Corp.", password_hash: '` + hash + `'}
`
	conf := writeDemandConfig(t, db.URL, db.Bucket(), kepcoTariff+"  vm_labels: "+labels+"\n"+users)
	bin := buildBinary(t)
	base := startDaemon(t, bin, conf).apiBase(t)
	get := func(base, path, user string) (int, []byte) {
		t.Helper()
		return apiGet(t, base, path, user)
	}
	// canon re-encodes JSON (sorted keys), dropping the named keys.
	canon := func(b []byte, drop ...string) string {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		for _, k := range drop {
			delete(m, k)
		}
		out, _ := json.Marshal(m)
		return string(out)
	}
	cli := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"cost", "--config", conf, "--format", "json"}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("setsuden cost %v: %v\n%s", args, err, stderr.String())
		}
		return out
	}

	// The shed events of August, and of the summer so far.
	code, body := get(base, "/api/v1/cost?month="+august+"&shed=1", "olga")
	if code != 200 {
		t.Fatalf("GET /api/v1/cost?month=%s&shed=1: %d %s", august, code, body)
	}
	var rep struct {
		Shed struct {
			Month struct {
				Events   int     `json:"events"`
				TotalYen float64 `json:"total_yen"`
			} `json:"month"`
			Summer struct {
				Events   int     `json:"events"`
				TotalYen float64 `json:"total_yen"`
			} `json:"summer"`
			Events []struct {
				Start    time.Time `json:"start"`
				KWKept   float64   `json:"kw_kept"`
				TotalYen float64   `json:"total_yen"`
			} `json:"events"`
		} `json:"shed"`
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	s := rep.Shed
	if len(s.Events) != 1 || !s.Events[0].Start.Equal(aug.Add(14*time.Hour)) || s.Events[0].KWKept != 5 ||
		s.Month.Events != 1 || math.Abs(s.Month.TotalYen-90_110.20) > 1e-6 || s.Summer.Events != 2 || math.Abs(s.Summer.TotalYen-540_521.80) > 1e-6 {
		t.Errorf("shed of %s: %+v\n%s", august, s, body)
	}
	if a, c := canon(body), canon(cli("--month", august, "--shed")); a != c {
		t.Errorf("the API's shed differs from setsuden cost --shed --format json:\nAPI %s\nCLI %s", a, c)
	}
	if code, b := get(base, "/api/v1/cost?month="+august, "olga"); code != 200 || strings.Contains(string(b), `"shed"`) {
		t.Errorf("without shed=1: %d, the shed section is there: %.200s", code, b)
	}

	// The shares of June, one grouping each, as the CLI's.
	withLabels := cli("--month", june, "--labels", labels)
	for _, g := range []struct{ by, key, name string }{{"tenant", "tenants", "acme"}, {"service", "services", "web"}, {"vm", "vms", "vm-c"}} {
		code, body := get(base, "/api/v1/cost?month="+june+"&by="+g.by, "olga")
		if code != 200 {
			t.Fatalf("by=%s: %d %s", g.by, code, body)
		}
		var drop []string
		for _, k := range []string{"tenants", "services", "vms"} {
			if k != g.key {
				drop = append(drop, k)
			}
		}
		if a, c := canon(body), canon(withLabels, drop...); a != c {
			t.Errorf("by=%s differs from setsuden cost --labels (its %s only):\nAPI %s\nCLI %s", g.by, g.key, a, c)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(body, &m)
		if len(m[g.key]) == 0 || !strings.Contains(string(m[g.key]), `"`+g.name+`"`) || len(m[drop[0]]) != 0 || len(m[drop[1]]) != 0 {
			t.Errorf("by=%s: %s %s, others %s %s", g.by, g.key, m[g.key], m[drop[0]], m[drop[1]])
		}
	}
	var shares struct {
		Total   float64 `json:"total_yen"`
		Tenants []struct {
			Name string  `json:"name"`
			KWh  float64 `json:"kwh"`
			Yen  float64 `json:"yen"`
		} `json:"tenants"`
	}
	_, body = get(base, "/api/v1/cost?month="+june+"&by=tenant", "olga")
	_ = json.Unmarshal(body, &shares)
	want := map[string]float64{"acme": 4.2 * 73 / 72, "globex": 5.1 * 73 / 72}
	var sum float64
	for _, g := range shares.Tenants {
		sum += g.Yen
		if math.Abs(g.KWh-want[g.Name]) > 1e-6 {
			t.Errorf("tenant %s: %.4f kWh, want %.4f", g.Name, g.KWh, want[g.Name])
		}
	}
	if len(shares.Tenants) != 2 || shares.Total <= 0 || math.Abs(sum-shares.Total) > 1e-6 {
		t.Errorf("tenants %+v share %.2f of %.2f yen", shares.Tenants, sum, shares.Total)
	}

	// Bad values, and who may ask.
	for _, bad := range []struct{ query, field, says string }{
		{"by=customer", "by", "tenant, service, vm"}, {"shed=yes", "shed", "1, true, 0 or false"},
	} {
		code, b := get(base, "/api/v1/cost?month="+june+"&"+bad.query, "olga")
		if code != 400 || !strings.Contains(string(b), `"field":"`+bad.field+`"`) || !strings.Contains(string(b), bad.says) {
			t.Errorf("?%s: %d %s, want 400 naming %s and %s", bad.query, code, b, bad.field, bad.says)
		}
	}
	for _, who := range []struct {
		user string
		want int
	}{{"", 401}, {"vera", 403}, {"cora", 403}} {
		if code, b := get(base, "/api/v1/cost?month="+august+"&shed=1&by=tenant", who.user); code != who.want {
			t.Errorf("as %q: %d %s, want %d", who.user, code, b, who.want)
		}
	}

	// Without tariff.vm_labels: by=vm still shares, by=tenant says what is missing.
	bare := writeDemandConfig(t, db.URL, db.Bucket(), kepcoTariff+users)
	base2 := startDaemon(t, bin, bare).apiBase(t)
	if code, b := get(base2, "/api/v1/cost?month="+june+"&by=tenant", "olga"); code != 503 || !strings.Contains(string(b), "tariff.vm_labels") {
		t.Errorf("by=tenant without vm_labels: %d %s, want 503 naming tariff.vm_labels", code, b)
	}
	if code, b := get(base2, "/api/v1/cost?month="+june+"&by=vm", "olga"); code != 200 || !strings.Contains(string(b), `"vm-c"`) {
		t.Errorf("by=vm without vm_labels: %d %.300s", code, b)
	}
}

package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/sla"
)

// writeEnergyMonth stores April 2025's meters as the collector would,
// every minute: the incomer (category facility) at 100 kW but 150 kW in
// 15 April 14:00-14:30, an IT meter at 60 kW, power factor 1; a demand
// point of one shed block (as the controller writes it) and 20 minutes of
// db down for an energy action.
func writeEnergyMonth(t *testing.T, write func([]point.Point)) {
	t.Helper()
	writeEnergyMonthIn(t, 2025, write)
}

// writeEnergyMonthIn is writeEnergyMonth in April of year (the figures are
// the same in every year).
func writeEnergyMonthIn(t *testing.T, year int, write func([]point.Point)) {
	t.Helper()
	slaJST := func(m time.Month, d, h, min int) time.Time { return time.Date(year, m, d, h, min, 0, 0, slaTokyo) }
	peak := slaJST(4, 15, 14, 0)
	var pts []point.Point
	regF, regIT := 1000.0, 500.0
	for tt := slaJST(4, 1, 0, 0); !tt.After(slaJST(5, 1, 0, 0)); tt = tt.Add(time.Minute) {
		kw := 100.0
		if !tt.Before(peak) && tt.Before(peak.Add(30*time.Minute)) {
			kw = 150
		}
		pts = append(pts, point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "incomer", "category": "facility"},
			Fields: map[string]any{"kw": kw, "kwh_total": regF, "pf": 1.0}, Time: tt},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-1", "category": "it"},
				Fields: map[string]any{"kw": 60.0, "kwh_total": regIT, "pf": 1.0}, Time: tt})
		regF += kw / 60
		regIT += 1
	}
	pts = append(pts, point.Point{Measurement: "demand", Tags: map[string]string{"site": "dc1"},
		Fields: map[string]any{"predicted_kw": 170.0, "request_kw": 25.0, "limit_kw": 160.0, "annual_max_kw": 140.0,
			"demand_kw": 70.0, "stage": "shed", "limit": "contract"}, Time: peak.Add(10 * time.Minute)})
	pts = append(pts, sla.StateChangePoint("dc1", "db", sla.StateChange{At: slaJST(4, 20, 10, 0), State: sla.StateDown, Cause: sla.CauseEnergyAction}),
		sla.StateChangePoint("dc1", "db", sla.StateChange{At: slaJST(4, 20, 10, 20), State: sla.StateUp}))
	write(pts)
}

// TestReportEnergySectionThroughTheBinary: the monthly report's energy
// section in CSV, HTML and PDF from a real influxd, worked by hand
// (Kansai Electric 1,765.50 yen/kW, 12.87 yen/kWh outside summer, PF 100%
// so basic x 0.85; no earlier months stored, so April's 150 kW is the
// contract kW):
//
//	kWh      = 720 h x 100 + 0.5 h x 50 = 72,025; IT 43,200: PUE 1.667
//	bill     = 150 x 1,765.50 x 0.85 = 225,101.25 + 72,025 x 12.87 = 926,961.75
//	         = 1,152,063 yen
//	shed     = 15 April 14:00: baseline min(170, 150 + 25) = 170, kept 170 - max(150, 140)
//	           = 20 kW x 1,765.50 x 0.85 x 12 = 360,162 + 10 kWh x 12.87 = 128.70
//	CO2      = 72,025 x 0.35 = 25,208.75 kg location-based, x 0.33 = 23,768.25 adjusted
//	db       = 20 min down from an energy action
//
// Without a tariff section the section says so instead of zeros.
func TestReportEnergySectionThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("needs influxd")
	}
	db := testinflux.Start(t)
	state := t.TempDir()
	writeSLAMonth(t, db, state)
	writeEnergyMonth(t, func(pts []point.Point) { testinflux.Write(t, db, pts) })
	tariffSection := kepcoTariff + `  emission:
    supplier: kepco
    factors:
      - {supplier: kepco, year: 2024, location_kg_per_kwh: 0.35, adjusted_kg_per_kwh: 0.33}
`
	conf := writeSLAConfig(t, db.URL, db.Bucket(), slaSection(state)+tariffSection)
	bin := buildBinary(t)
	report := func(conf, format string) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "april."+format)
		cmd := exec.Command(bin, "report", "--config", conf, "--month", "2025-04", "--format", format, "--out", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("setsuden report --format %s: %v\n%s", format, err, b)
		}
		if format == "pdf" {
			b, err := exec.Command("pdftotext", "-layout", out, "-").CombinedOutput()
			if err != nil {
				t.Fatalf("pdftotext: %v\n%s", err, b)
			}
			return string(b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	rows, err := csv.NewReader(strings.NewReader(report(conf, "csv"))).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("csv: %v %d rows", err, len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var db1 []string
	for _, r := range rows[1:] {
		if r[col["service"]] == "db" {
			db1 = r
		}
	}
	num := func(name string) float64 {
		t.Helper()
		x, err := strconv.ParseFloat(db1[col[name]], 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", name, db1[col[name]], err)
		}
		return x
	}
	for name, want := range map[string]float64{"energy_kwh": 72025, "peak_demand_kw": 150, "contract_kw": 150, "bill_yen": 1152063,
		"shed_events": 1, "shed_yen": 360290.70, "co2_location_kg": 25208.75, "co2_adjusted_kg": 23768.25, "energy_action_down_s": 1200} {
		if got := num(name); math.Abs(got-want) > 1e-6 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if pue := num("pue"); math.Abs(pue-72025.0/43200) > 1e-3 {
		t.Errorf("pue %v, want %.4f", pue, 72025.0/43200)
	}
	if got := db1[col["peak_block"]]; got != "2025-04-15T05:00:00Z" {
		t.Errorf("peak block %q, want 15 April 14:00 JST", got)
	}

	html := report(conf, "html")
	for _, want := range []string{`<section id="energy">`, "72025.0 kWh", "1.67 (interim PUE (category 2)", "150.0 kW, block 2025-04-15 14:00",
		"1152063 yen", "1, saving 360291 yen (estimate)", "25209 kg location-based", "20m 00s"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	pdf := report(conf, "pdf")
	for _, want := range []string{"Energy", "72025.0 kWh", "block 2025-04-15 14:00", "1152063 yen", "saving 360291 yen", "25209 kg"} {
		if !strings.Contains(pdf, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}

	bare := writeSLAConfig(t, db.URL, db.Bucket(), slaSection(state))
	html = report(bare, "html")
	section, _, _ := strings.Cut(html[strings.Index(html, `<section id="energy">`):], "</section>")
	if !strings.Contains(section, "no tariff section in the configuration") || regexp.MustCompile(`\d yen`).MatchString(section) || !strings.Contains(section, "72025.0 kWh") {
		t.Errorf("without a tariff the HTML energy section does not say so (or shows yen):\n%s", section)
	}
	rows, _ = csv.NewReader(strings.NewReader(report(bare, "csv"))).ReadAll()
	if r := rows[1]; r[col["bill_yen"]] != "" || !strings.Contains(r[col["energy_note"]], "no tariff section") {
		t.Errorf("without a tariff: bill_yen %q, note %q", r[col["bill_yen"]], r[col["energy_note"]])
	}
}

// TestArchivedReportHasTheEnergySection: a report the running daemon
// archives (POST /api/v1/reports/:month/recompute, the monthly schedule's
// Issue) has TestReportEnergySectionThroughTheBinary's energy section:
// 72,025 kWh, PUE 1.667, peak 150 kW in 15 April 14:00, bill 1,152,063 yen,
// 1 shed event saving 360,290.70 yen, 25,208.75 kg CO2, 20 minutes of db
// down from an energy action; the same figures as setsuden report prints.
// A customer's report has its services without the site's bill. A second
// recompute on the same data adds no revision (the section is computed the
// same way). The month is April of the latest year whose April has ended.
func TestArchivedReportHasTheEnergySection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	db := testinflux.Start(t)
	year := lastEnded(time.April)
	april := fmt.Sprintf("%d-04", year)
	writeEnergyMonthIn(t, year, func(pts []point.Point) {
		pts = append(pts, sla.StateChangePoint("dc1", "db", sla.StateChange{At: time.Date(year, 3, 25, 0, 0, 0, 0, slaTokyo), State: sla.StateUp}))
		testinflux.Write(t, db, pts)
	})
	hash := viewerHash(t)
	conf := writeSLAConfig(t, db.URL, db.Bucket(), slaSection(t.TempDir())+kepcoTariff+`  emission:
    supplier: kepco
    factors:
      - {supplier: kepco, year: 2024, location_kg_per_kwh: 0.35, adjusted_kg_per_kwh: 0.33}
server:
  listen: "127.0.0.1:0"
  users:
    - {name: olga, role: operator, password_hash: '`+hash+`'}
    - {name: gina, role: customer, customer: Globex, password_hash: '`+hash+`'}
`)
	bin := buildBinary(t)
	d := startDaemon(t, bin, conf)
	line := d.waitLog(t, 60*time.Second, "setsuden running", "ui=")
	base := regexp.MustCompile(`ui=(http://[0-9.:]+)`).FindStringSubmatch(line)[1]
	do := func(method, path, user, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(user, viewerPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := do("POST", "/api/v1/reports/"+april+"/recompute", "olga", `{"reason": "energy section test"}`)
	if code != 201 {
		t.Fatalf("recompute %s: %d %s\n%s", april, code, body, d.logs())
	}
	readCSV := func(b []byte) (map[string]int, map[string][]string) {
		t.Helper()
		rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
		if err != nil || len(rows) < 2 {
			t.Fatalf("csv: %v\n%s", err, b)
		}
		col, by := map[string]int{}, map[string][]string{}
		for i, h := range rows[0] {
			col[h] = i
		}
		for _, r := range rows[1:] {
			by[r[col["service"]]] = r
		}
		return col, by
	}
	code, body = do("GET", "/api/v1/reports/"+april+"/latest/csv?scope=all", "olga", "")
	if code != 200 {
		t.Fatalf("GET the archived csv: %d %s", code, body)
	}
	col, rows := readCSV(body)
	db1 := rows["db"]
	if db1 == nil {
		t.Fatalf("no db row:\n%s", body)
	}
	num := func(name string) float64 {
		t.Helper()
		x, err := strconv.ParseFloat(db1[col[name]], 64)
		if err != nil {
			t.Fatalf("archived %s = %q: %v", name, db1[col[name]], err)
		}
		return x
	}
	for name, want := range map[string]float64{"energy_kwh": 72025, "peak_demand_kw": 150, "contract_kw": 150, "bill_yen": 1152063,
		"shed_events": 1, "shed_yen": 360290.70, "co2_location_kg": 25208.75, "co2_adjusted_kg": 23768.25, "energy_action_down_s": 1200} {
		if got := num(name); math.Abs(got-want) > 1e-6 {
			t.Errorf("archived %s = %v, want %v", name, got, want)
		}
	}
	if pue := num("pue"); math.Abs(pue-72025.0/43200) > 1e-3 {
		t.Errorf("archived pue %v, want %.4f", pue, 72025.0/43200)
	}
	if got, want := db1[col["peak_block"]], time.Date(year, 4, 15, 14, 0, 0, 0, slaTokyo).UTC().Format(time.RFC3339); got != want {
		t.Errorf("archived peak block %q, want %s", got, want)
	}
	// The same section as setsuden report's.
	out := filepath.Join(t.TempDir(), "april.csv")
	if b, err := exec.Command(bin, "report", "--config", conf, "--month", april, "--format", "csv", "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("setsuden report: %v\n%s", err, b)
	}
	cliCSV, _ := os.ReadFile(out)
	cliCol, cliRows := readCSV(cliCSV)
	for _, name := range []string{"energy_kwh", "energy_coverage_pct", "pue", "peak_demand_kw", "peak_block", "contract_kw", "bill_yen",
		"shed_events", "shed_yen", "co2_location_kg", "co2_adjusted_kg", "energy_note", "energy_action_down_s"} {
		if a, c := db1[col[name]], cliRows["db"][cliCol[name]]; a != c {
			t.Errorf("%s: archived %q, setsuden report %q", name, a, c)
		}
	}
	html := func(scope, user string) string {
		t.Helper()
		code, b := do("GET", "/api/v1/reports/"+april+"/latest/html?scope="+scope, user, "")
		if code != 200 {
			t.Fatalf("GET the archived html (%s): %d %s", scope, code, b)
		}
		return string(b)
	}
	if h := html("all", "olga"); !strings.Contains(h, `<section id="energy">`) || !strings.Contains(h, "1152063 yen") || !strings.Contains(h, "saving 360291 yen") {
		t.Errorf("the archived HTML has no energy section with the bill and the shed saving")
	}
	// The customer's report: its service, not the site's bill.
	if h := html("Globex", "gina"); !strings.Contains(h, "db") || strings.Contains(h, "1152063") || strings.Contains(h, `<section id="energy">`) {
		t.Errorf("Globex's archived report shows the site's energy section (or not its service)")
	}
	// Recomputed on the same data: no new revision.
	code, body = do("POST", "/api/v1/reports/"+april+"/recompute", "olga", `{"reason": "again"}`)
	if code != 200 {
		t.Errorf("a second recompute on the same data: %d %s, want 200 (every scope unchanged)", code, body)
	}
	code, body = do("GET", "/api/v1/reports?month="+april, "olga", "")
	var list struct {
		Revisions []struct {
			Scope  string `json:"scope"`
			Number int    `json:"number"`
		} `json:"revisions"`
	}
	if err := json.Unmarshal(body, &list); err != nil || code != 200 || len(list.Revisions) != 3 {
		t.Fatalf("revisions of %s: %d %v %s, want 3 (all, ACME, Globex)", april, code, err, body)
	}
	for _, r := range list.Revisions {
		if r.Number != 1 {
			t.Errorf("revision %+v after a recompute on the same data, want 1", r)
		}
	}
}

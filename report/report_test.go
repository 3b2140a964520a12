package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
)

var tokyo = mustLoc("Asia/Tokyo")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

func jst(d, h, m int) time.Time { return time.Date(2025, 4, d, h, m, 0, 0, tokyo) }

// fixture is April 2025 for three services of two customers:
//   - web (ACME): 50 min host failure, 20 min energy action, a planned
//     window (excluded) and a short-notice one (30 min down); hourly
//     probes, a few slow;
//   - api (ACME): monitor silent for 8 h: INSUFFICIENT DATA;
//   - crm (Globex Zürich): business hours, an outage Friday 17:00 to
//     Monday 10:00 (2 h of service time).
func fixture() (sla.Catalog, *report.MemoryStore) {
	hours, _ := sla.ParseServiceHours([]string{"Mon-Fri 09:00-18:00"})
	cat := sla.Catalog{
		SLAs: []sla.SLA{
			{Name: "core", Objective: 0.999, TimeZone: "Asia/Tokyo", RTO: time.Hour, MaxFailures: 1, ResponseObjective: 0.99},
			{Name: "office", Objective: 0.98, TimeZone: "Asia/Tokyo", ServiceHours: hours, RTO: 4 * time.Hour, MaxFailures: sla.NoLimit},
		},
		Services: []sla.Service{
			{Name: "web", SLA: "core", Customer: "ACME", RunsOn: sla.RunsOn{VMs: []string{"web1"}, Probes: []string{"web-http"}}},
			{Name: "api", SLA: "core", Customer: "ACME", RunsOn: sla.RunsOn{Probes: []string{"api-http"}}},
			{Name: "crm", SLA: "office", Customer: "Globex Zürich", RunsOn: sla.RunsOn{VMs: []string{"crm1"}}},
		},
	}
	up := func(t time.Time) sla.StateChange { return sla.StateChange{At: t, State: sla.StateUp} }
	down := func(t time.Time, cause string) sla.StateChange {
		return sla.StateChange{At: t, State: sla.StateDown, Cause: cause}
	}
	st := &report.MemoryStore{
		Changes: map[string][]sla.StateChange{
			"web": {up(jst(1, 0, 0).Add(-48 * time.Hour)),
				down(jst(7, 14, 0), "host hv1: power supply failure"), up(jst(7, 14, 50)),
				down(jst(12, 2, 10), "maintenance work"), up(jst(12, 3, 0)), // inside the planned window
				down(jst(18, 2, 0), sla.CauseEnergyAction), up(jst(18, 2, 20)),
			},
			"api": {up(jst(1, 0, 0).Add(-48 * time.Hour)),
				{At: jst(20, 8, 0), State: sla.StateUnknown, Cause: sla.CauseNoData}, up(jst(20, 16, 0))},
			"crm": {up(jst(1, 0, 0).Add(-48 * time.Hour)), down(jst(11, 17, 0), "db crash"), up(jst(14, 10, 0))},
		},
		Samples: map[string][]sla.ProbeSample{},
		Windows: []sla.MaintenanceWindow{
			{ID: "m-planned", Services: []string{"web"}, Start: jst(12, 2, 0), End: jst(12, 4, 0),
				AnnouncedAt: jst(12, 2, 0).AddDate(0, 0, -31), AnnouncedBy: "ops@acme.example", Reason: "storage firmware"},
			{ID: "m-short", Services: []string{"web"}, Start: jst(25, 1, 0), End: jst(25, 1, 30),
				AnnouncedAt: jst(20, 9, 0), AnnouncedBy: "ops@acme.example", Reason: "urgent security patch"},
		},
	}
	for h := 0; h < 30*24; h++ {
		at := jst(1, 0, 0).Add(time.Duration(h) * time.Hour)
		ms := 100.0 + float64(h%10)
		if h%100 == 0 {
			ms = 4000 // 8 slow answers
		}
		st.Samples["web"] = append(st.Samples["web"], sla.ProbeSample{At: at, Probe: "web-http", Up: true, ResponseMs: ms})
	}
	return cat, st
}

func generate(t *testing.T, f report.Filter) report.Monthly {
	t.Helper()
	cat, st := fixture()
	var calls, lastDone, lastTotal int
	m, err := report.Generator{Site: "dc1", Catalog: cat, AsOf: jst(1, 0, 0).AddDate(0, 1, 2)}.
		Generate(context.Background(), st, "2025-04", tokyo, f, func(done, total int) { calls++; lastDone, lastTotal = done, total })
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || lastDone != lastTotal || lastTotal != 30+len(m.Services) {
		t.Errorf("progress: %d calls, last %d/%d, want 30 slices + %d services", calls, lastDone, lastTotal, len(m.Services))
	}
	return m
}

func byName(m report.Monthly, name string) sla.Figures {
	for _, s := range m.Services {
		if s.Service.Name == name {
			return s.Figures
		}
	}
	return sla.Figures{}
}

func TestGenerate(t *testing.T) {
	m := generate(t, report.Filter{})
	if len(m.Services) != 3 || m.Services[0].Service.Name != "api" || m.Services[2].Service.Name != "crm" {
		t.Fatalf("services not sorted by customer and name: %v", m.Services)
	}
	web := byName(m, "web")
	// 50 + 20 + 30 (short notice) min down; the planned window's 2 h excluded.
	if web.Down != 100*time.Minute || web.Planned != 2*time.Hour || web.EnergyActionDown != 20*time.Minute || web.ShortNoticeDown != 30*time.Minute {
		t.Errorf("web: down %s planned %s energy %s short %s", web.Down, web.Planned, web.EnergyActionDown, web.ShortNoticeDown)
	}
	if web.Failures != 2 || len(web.Incidents) != 3 || web.Verdict != sla.Fail {
		t.Errorf("web: %d failures, %d incidents, %s", web.Failures, len(web.Incidents), web.Verdict)
	}
	if r := web.Response; r.Valid != 718 || r.Within != 710 || r.Verdict != sla.Fail { // 98.9% < 99%
		// 720 hourly probes less the 2 in the planned window.
		t.Errorf("web response: %+v", r)
	}
	if api := byName(m, "api"); api.Verdict != sla.InsufficientData || api.Unknown != 8*time.Hour {
		t.Errorf("api: %s, unknown %s", api.Verdict, api.Unknown)
	}
	if crm := byName(m, "crm"); crm.ServiceTime != 198*time.Hour || crm.Down != 2*time.Hour || crm.Verdict != sla.Pass {
		t.Errorf("crm: service time %s, down %s, %s", crm.ServiceTime, crm.Down, crm.Verdict)
	}
	if m.Provisional || !m.AsOf.Equal(jst(1, 0, 0).AddDate(0, 1, 2)) {
		t.Errorf("provisional %v, as of %s", m.Provisional, m.AsOf)
	}

	acme := generate(t, report.Filter{Customer: "ACME"})
	if len(acme.Services) != 2 || acme.Customer != "ACME" || acme.Scope() != "ACME" {
		t.Errorf("customer filter: %d services, scope %s", len(acme.Services), acme.Scope())
	}

	// Provisional: as of 10 April.
	cat, st := fixture()
	p, err := report.Generator{Site: "dc1", Catalog: cat, AsOf: jst(10, 0, 0)}.Generate(context.Background(), st, "2025-04", tokyo, report.Filter{Services: []string{"web"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Provisional || p.Services[0].Figures.ServiceTime != 9*24*time.Hour || p.Services[0].Figures.Down != 50*time.Minute {
		t.Errorf("provisional: %v, %s, down %s", p.Provisional, p.Services[0].Figures.ServiceTime, p.Services[0].Figures.Down)
	}
	if _, err := (report.Generator{Catalog: cat}).Generate(context.Background(), st, "2025-04", tokyo, report.Filter{Services: []string{"nope"}}, nil); err == nil {
		t.Error("unknown service accepted")
	}
	if _, err := (report.Generator{Catalog: cat}).Generate(context.Background(), st, "April", tokyo, report.Filter{}, nil); err == nil {
		t.Error("bad month accepted")
	}
}

func TestCSV(t *testing.T) {
	m := generate(t, report.Filter{})
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, m); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(report.CSVHeader, ",") {
		t.Fatalf("csv: %d rows, header %v", len(rows), rows[0])
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var web []string
	for _, r := range rows[1:] {
		if r[col["service"]] == "web" {
			web = r
		}
	}
	// Known time = 30 d - 2 h planned = 2,584,800 s; down 6,000 s.
	for k, want := range map[string]string{
		"service_time_s": "2592000", "down_s": "6000", "planned_s": "7200",
		"availability_pct": "99.7679", "verdict": "FAIL", "incidents": "3", "failures": "2", "rto_breaches": "0",
		"budget_total_s": "2584.8", "budget_spent_s": "6000", "budget_spent_pct": "232.1263",
		"budget_left_s": "-3415.2", "budget_left_pct": "-132.1263",
		"energy_action_down_s": "1200", "short_notice_down_s": "1800", "planned_windows": "1", "short_notice_windows": "1",
		"response_valid": "718", "response_p50_ms": "105.0", "customer": "ACME", "max_failures": "1",
	} {
		if got := web[col[k]]; got != want {
			t.Errorf("web %s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(web[col["breaches"]], "2 failures, at most 1 allowed per month") {
		t.Errorf("breaches: %q", web[col["breaches"]])
	}
}

func TestHTML(t *testing.T) {
	m := generate(t, report.Filter{})
	m.Energy = &report.Energy{KWh: 123456.7, PUE: 1.42, PeakDemandKW: 512.3, TargetKW: 480, MarginKW: -32.3, ShedEvents: 4}
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, m); err != nil {
		t.Fatal(err)
	}
	h := buf.String()
	for _, want := range []string{
		"SLA report April 2025", "<svg", "99.768%", "1h 40m 00s (0.232%)", // downtime, time and %
		"INSUFFICIENT DATA", "short notice (downtime)", "planned (excluded)", "energy action",
		"2025-04-07 14:00", "Globex Zürich", "123456.7 kWh", "1.42", "Not met: 2 failures",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Count(h, "<svg") != 3 {
		t.Errorf("%d charts, want one per service", strings.Count(h, "<svg"))
	}
}

func TestAggregateQuarter(t *testing.T) {
	cat, st := fixture()
	var months []report.Monthly
	for _, month := range []string{"2025-04", "2025-05", "2025-06"} {
		m, err := report.Generator{Site: "dc1", Catalog: cat}.Generate(context.Background(), st, month, tokyo, report.Filter{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		months = append(months, m)
	}
	q, err := report.Aggregate(months)
	if err != nil {
		t.Fatal(err)
	}
	web := q["web"]
	// All of web's downtime is in April; the quarter's A comes from seconds.
	known := web.Up + web.Down
	if web.Months != 3 || web.Down != 100*time.Minute || web.ServiceTime != (30+31+30)*24*time.Hour {
		t.Errorf("quarter: %d months, down %s, service time %s", web.Months, web.Down, web.ServiceTime)
	}
	if got, want := web.Availability.Value(), float64(web.Up)/float64(known); got != want || web.Verdict != "PASS" {
		t.Errorf("quarter A = %v (%s), want %v", got, web.Verdict, want)
	}
	if _, err := report.Aggregate([]report.Monthly{months[0], months[2]}); err == nil {
		t.Error("a quarter with a month missing accepted")
	}
}

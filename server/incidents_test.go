package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

// ImportCalendar runs the real calendar import against an in-memory log
// with the fake's two services.
func (f *fakeSLA) ImportCalendar(ctx context.Context, file string, data []byte, by string) ([]slactl.MaintenanceView, []slactl.MaintenanceView, error) {
	f.mu.Lock()
	if f.calendar == nil {
		f.calendar = sla.NewMemoryMaintenanceStore(func() time.Time { return testNow })
	}
	log := f.calendar
	f.mu.Unlock()
	cat := sla.Catalog{Services: []sla.Service{{Name: "web", SLA: "core"}, {Name: "crm", SLA: "core"}}}
	res, err := slactl.ImportMaintenance(ctx, cat, log, file, data, by, testNow)
	var imp, unch []slactl.MaintenanceView
	for _, w := range res.Imported {
		imp = append(imp, slactl.MaintenanceView{MaintenanceWindow: w})
	}
	for _, w := range res.Unchanged {
		unch = append(unch, slactl.MaintenanceView{MaintenanceWindow: w})
	}
	return imp, unch, err
}

const calendarHeader = "id,services,start,end,announced_at,announced_by,reason\n"

func TestMaintenanceImportAllOrNothingNamesRowAndField(t *testing.T) {
	r := newRig(t)
	good := calendarHeader + ",web;crm,2026-07-10T02:00:00+09:00,2026-07-10T04:00:00+09:00,2026-06-01T10:00:00+09:00,alice,storage firmware\n"
	bad := good + ",web,2026-07-11T02:00:00+09:00,not-a-time,2026-06-01T10:00:00+09:00,alice,switch\n"
	body := func(file, csv string) string {
		js, _ := json.Marshal(map[string]string{"file": file, "csv": csv})
		return string(js)
	}
	res := r.do("POST", "/api/v1/maintenance/import", body("cal.csv", bad), as("alice"))
	if res.code != 400 || !strings.Contains(string(res.body), `"field":"end"`) || !strings.Contains(string(res.body), "line 3 (row 2)") || !strings.Contains(string(res.body), "not-a-time") {
		t.Fatalf("bad row: %d %s, want 400 naming line 3 (row 2), field end", res.code, res.body)
	}
	if n := len(r.sla.calendarWindows(t)); n != 0 {
		t.Fatalf("a calendar with one bad row imported %d windows, want none", n)
	}
	for _, c := range []struct{ body, field string }{
		{body("cal.csv", ""), "csv"},
		{body("cal.txt", good), "file"},
		{`{"file": "cal.csv", "csv": "x", "extra": 1}`, "extra"},
		{body("cal.csv", "when,services\n1,web\n"), "header"},
		{body("cal.csv", calendarHeader+",nosuch,2026-07-10T02:00:00+09:00,2026-07-10T04:00:00+09:00,2026-06-01T10:00:00+09:00,alice,x\n"), "services"},
	} {
		res := r.do("POST", "/api/v1/maintenance/import", c.body, as("alice"))
		if res.code != 400 || !strings.Contains(string(res.body), `"field":"`+c.field+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", c.body, res.code, res.body, c.field)
		}
	}
	res = r.do("POST", "/api/v1/maintenance/import", body("cal.csv", good), as("alice"))
	if res.code != 201 || !strings.Contains(string(res.body), `"imported":[{`) {
		t.Fatalf("good calendar: %d %s", res.code, res.body)
	}
	ws := r.sla.calendarWindows(t)
	if len(ws) != 1 || ws[0].ImportedBy != "alice" || ws[0].ImportedFrom != "/api/v1/maintenance/import/cal.csv" || !ws[0].AnnouncedAt.Equal(time.Date(2026, 6, 1, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("log after import: %+v", ws)
	}
	var e *AuditEntry
	r.mu.Lock()
	for i := range r.audited {
		if r.audited[i].Path == "/api/v1/maintenance/import" && r.audited[i].Status == 201 {
			e = &r.audited[i]
		}
	}
	r.mu.Unlock()
	if e == nil || e.Changes["imported"] != 1 || !strings.Contains(e.Changes["windows"].(string), "web;crm 2026-07-10T02:00:00+09:00") {
		t.Fatalf("audit of the import: %+v", e)
	}
	res = r.do("POST", "/api/v1/maintenance/import", body("cal.csv", good), as("alice"))
	if res.code != 200 || !strings.Contains(string(res.body), `"imported":[]`) {
		t.Errorf("second import of the same calendar: %d %s, want 200 with nothing new", res.code, res.body)
	}
}

func (f *fakeSLA) calendarWindows(t *testing.T) []sla.MaintenanceWindow {
	t.Helper()
	f.mu.Lock()
	log := f.calendar
	f.mu.Unlock()
	if log == nil {
		return nil
	}
	ws, err := log.Windows(context.Background(), time.Time{}, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestIncidentsScopeAndBadInput(t *testing.T) {
	r := newRig(t)
	res := r.do("GET", "/api/v1/incidents", "", as("vera"))
	if res.code != 200 || !strings.Contains(string(res.body), `"service":"web"`) || !strings.Contains(string(res.body), `"service":"crm"`) || !strings.Contains(string(res.body), `"rto_met":false`) {
		t.Fatalf("viewer: %d %s", res.code, res.body)
	}
	res = r.do("GET", "/api/v1/incidents", "", as("cora"))
	if res.code != 200 || !strings.Contains(string(res.body), `"service":"web"`) || strings.Contains(string(res.body), `"service":"crm"`) {
		t.Fatalf("customer Demo Corp.: %d %s, want web's incidents only", res.code, res.body)
	}
	if res := r.do("GET", "/api/v1/incidents?service=crm", "", as("cora")); res.code != 403 {
		t.Errorf("customer asking for another customer's service: %d %s, want 403", res.code, res.body)
	}
	for q, field := range map[string]string{"?month=2026-13": "month", "?service=nosuch": "service", "?month=1900": "month"} {
		if res := r.do("GET", "/api/v1/incidents"+q, "", as("vera")); res.code != 400 || !strings.Contains(string(res.body), `"field":"`+field+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", q, res.code, res.body, field)
		}
	}
	res = r.do("GET", "/api/v1/incidents?service=crm", "", as("vera"))
	if res.code != 200 || strings.Contains(string(res.body), `"service":"web"`) || !strings.Contains(string(res.body), `"counts_against_sla":true`) {
		t.Errorf("service=crm: %d %s", res.code, res.body)
	}
}

func TestBuildAlarms(t *testing.T) {
	now := testNow
	failedAt := now.Add(-time.Hour)
	in := AlarmInputs{
		Demand: &demandctl.DecisionView{Stage: "shed", StageLevel: 2, BlockStart: now.Add(-10 * time.Minute), PredictedKW: 520, LimitKW: 500,
			Request:     &demandctl.RequestView{ShedKW: 24},
			Transitions: []demandctl.TransitionView{{From: "caution", To: "shed", At: now.Add(-3 * time.Minute)}}},
		Services: []slactl.ServiceState{
			{Service: "web", State: sla.StateDown, Since: now.Add(-5 * time.Minute), Cause: "probe"},
			{Service: "db", State: sla.StateUnknown},
			{Service: "crm", State: sla.StateUp, Alerts: []sla.Alert{{Rule: "fast-burn", Severity: "page", State: sla.Pending, ActiveSince: now.Add(-2 * time.Minute)}}}},
		Live: &Snapshot{Meters: []MeterReading{{Meter: "pdu-a", Stale: true, Time: now.Add(-9 * time.Minute)}, {Meter: "pdu-b"}}},
		FailedPlans: []Plan{{ID: "p9", Status: "failed", CreatedAt: failedAt, Steps: []PlanStep{{N: 1, Action: "migrate", Error: "no host", EndedAt: &failedAt}}},
			{ID: "p1", Status: "failed", CreatedAt: now.Add(-48 * time.Hour)}},
	}
	got := BuildAlarms(in, now)
	var kinds []string
	for _, a := range got {
		kinds = append(kinds, a.Kind+"/"+a.Severity+"/"+a.Source)
	}
	want := "demand_stage/critical/demand service_down/critical/sla:web plan_failed/critical/plan:p9 sla_alert/warning/sla:crm meter_stale/warning/meter:pdu-a"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("alarms:\n got %s\nwant %s", strings.Join(kinds, " "), want)
	}
	if !got[0].Since.Equal(now.Add(-3*time.Minute)) || got[0].Params["shed_kw"] != "24.0" {
		t.Errorf("demand alarm: %+v (want since the shed transition, shed 24 kW)", got[0])
	}
	in.Demand.StageLevel, in.Demand.Stage = 0, "normal"
	in.Services, in.Live, in.FailedPlans = nil, nil, nil
	if got := BuildAlarms(in, now); len(got) != 0 {
		t.Errorf("a normal stage and nothing else: %+v, want no alarm", got)
	}
}

func TestAlarmsRouteAndStreamAgree(t *testing.T) {
	r := newRig(t)
	r.sla.mu.Lock()
	r.sla.down = true
	r.sla.mu.Unlock()
	res := r.do("GET", "/api/v1/alarms", "", as("vera"))
	if res.code != 200 || !strings.Contains(string(res.body), `"kind":"service_down"`) || !strings.Contains(string(res.body), `"source":"sla:web"`) {
		t.Fatalf("GET /alarms: %d %s", res.code, res.body)
	}
	var ev string
	for _, e := range r.srv.streamEvents(context.Background()) {
		if e.name == "alarms" {
			ev = e.data
		}
	}
	var a, b struct{ Alarms []Alarm }
	if err := json.Unmarshal(res.body, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(ev), &b); err != nil {
		t.Fatal(err)
	}
	if len(a.Alarms) == 0 || len(a.Alarms) != len(b.Alarms) || a.Alarms[0].Source != b.Alarms[0].Source {
		t.Errorf("GET /alarms %s and the stream's alarms event %s differ", res.body, ev)
	}
}

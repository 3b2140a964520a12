package sla_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

func april(t *testing.T) (sla.Period, *time.Location) {
	t.Helper()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	p, err := sla.Month("2025-04", tokyo)
	if err != nil {
		t.Fatal(err)
	}
	return p, tokyo
}

func TestEvaluateSeverityAndUnannounced(t *testing.T) {
	p, tokyo := april(t)
	at := func(d, h, m int) time.Time { return time.Date(2025, 4, d, h, m, 0, 0, tokyo) }
	core := sla.SLA{Name: "core", Objective: 0.999, DownSeverity: sla.SeverityHigh, MaxFailures: sla.NoLimit}
	f, err := sla.Evaluate(sla.Input{
		Service: sla.Service{Name: "web", SLA: "core"}, SLA: core, Period: p,
		Changes: []sla.StateChange{
			{At: at(1, 0, 0), State: sla.StateUp},
			// a warning-level DOWN is degraded, not downtime
			{At: at(3, 10, 0), State: sla.StateDown, Cause: "slow disk", Severity: sla.SeverityWarning},
			{At: at(3, 11, 0), State: sla.StateUp},
			// a PLANNED state with no maintenance record behind it
			{At: at(5, 1, 0), State: sla.StatePlanned},
			{At: at(5, 1, 30), State: sla.StateUp},
			// unset severity counts as down
			{At: at(7, 1, 0), State: sla.StateDown, Cause: "crash"},
			{At: at(7, 1, 10), State: sla.StateUp},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.Degraded != time.Hour || f.UnannouncedDown != 30*time.Minute || f.Down != 40*time.Minute {
		t.Errorf("degraded %s, unannounced %s, down %s; want 1h, 30m, 40m", f.Degraded, f.UnannouncedDown, f.Down)
	}
	if len(f.Incidents) != 2 || f.Incidents[0].Causes[0] != sla.CauseUnannounced {
		t.Errorf("incidents: %+v", f.Incidents)
	}
	if f.MaxFailures != sla.NoLimit || len(f.Breaches) != 0 {
		t.Errorf("no limit on failures, yet breaches %q", f.Breaches)
	}
}

func TestEvaluateProvisionalAndOngoing(t *testing.T) {
	p, tokyo := april(t)
	at := func(d, h int) time.Time { return time.Date(2025, 4, d, h, 0, 0, 0, tokyo) }
	in := sla.Input{
		Service: sla.Service{Name: "web", SLA: "core"}, SLA: sla.SLA{Name: "core", Objective: 0.999, RTO: time.Hour},
		Period: p, EvalTime: at(11, 0), DataUntil: at(11, 0),
		Changes: []sla.StateChange{{At: at(1, 0), State: sla.StateUp}, {At: at(10, 22), State: sla.StateDown, Cause: "crash"}},
	}
	f, err := sla.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	// Ten days elapsed: A on the elapsed part only (unlike Zabbix, which
	// divides by the whole month, research §1.1).
	if !f.Provisional || f.ServiceTime != 10*24*time.Hour || f.Down != 2*time.Hour {
		t.Errorf("provisional: %v, service time %s, down %s", f.Provisional, f.ServiceTime, f.Down)
	}
	if len(f.Incidents) != 1 || !f.Incidents[0].Ongoing || !f.Incidents[0].RTOBreach || len(f.Daily) != 10 {
		t.Errorf("incidents %+v, %d days", f.Incidents, len(f.Daily))
	}
	if _, err := sla.Evaluate(sla.Input{Service: in.Service, SLA: in.SLA, Period: p, EvalTime: p.Start}); err == nil {
		t.Error("evaluation at the period start accepted")
	}
}

func TestSumQuarterFromSeconds(t *testing.T) {
	_, tokyo := april(t)
	core := sla.SLA{Name: "core", Objective: 0.999, MaxFailures: 1}
	var months []sla.Figures
	// Jan: 1 h down, Feb: nothing, Mar: 2 failures of 10 min.
	for i, m := range []string{"2025-01", "2025-02", "2025-03"} {
		p, _ := sla.Month(m, tokyo)
		changes := []sla.StateChange{{At: p.Start, State: sla.StateUp}}
		switch i {
		case 0:
			changes = append(changes, sla.StateChange{At: p.Start.Add(48 * time.Hour), State: sla.StateDown}, sla.StateChange{At: p.Start.Add(49 * time.Hour), State: sla.StateUp})
		case 2:
			for _, d := range []time.Duration{72, 96} {
				s := p.Start.Add(d * time.Hour)
				changes = append(changes, sla.StateChange{At: s, State: sla.StateDown}, sla.StateChange{At: s.Add(10 * time.Minute), State: sla.StateUp})
			}
		}
		f, err := sla.Evaluate(sla.Input{Service: sla.Service{Name: "web", SLA: "core"}, SLA: core, Period: p, Changes: changes,
			Probes: []sla.ProbeSample{{At: p.Start.Add(time.Hour), Up: true, ResponseMs: float64(100 * (i + 1))}}})
		if err != nil {
			t.Fatal(err)
		}
		months = append(months, f)
	}
	q, err := sla.Sum(months)
	if err != nil {
		t.Fatal(err)
	}
	total := (31 + 28 + 31) * 24 * time.Hour
	down := time.Hour + 20*time.Minute
	if q.ServiceTime != total || q.Down != down || q.Failures != 3 || q.Months != 3 {
		t.Errorf("quarter: %s service, %s down, %d failures", q.ServiceTime, q.Down, q.Failures)
	}
	want := float64(total-down) / float64(total)
	if math.Abs(q.Availability.Value()-want) > 1e-12 {
		t.Errorf("A = %v, want %v from summed seconds", q.Availability.Value(), want)
	}
	var mean float64
	for _, m := range months {
		mean += m.Availability.Value() / 3
	}
	if math.Abs(mean-want) < 1e-9 {
		t.Error("test is weak: the mean of percentages equals the summed figure")
	}
	if len(q.Breaches) != 1 || q.Breaches[0] != "1 of 3 months had more than 1 failures" {
		t.Errorf("breaches %q", q.Breaches)
	}
	if !q.Response.Estimated || q.Response.Valid != 3 || q.Response.P50 < 200 || q.Response.P50 > 220 {
		t.Errorf("quarter response: %+v", q.Response)
	}
	if _, err := sla.Sum([]sla.Figures{months[0], months[2]}); err == nil {
		t.Error("sum of non-consecutive months accepted")
	}

	// Figures survive JSON (no NaN anywhere, even with no data).
	p, _ := sla.Month("2025-04", tokyo)
	empty, err := sla.Evaluate(sla.Input{Service: sla.Service{Name: "x", SLA: "core"}, SLA: core, Period: p})
	if err != nil {
		t.Fatal(err)
	}
	if empty.Verdict != sla.InsufficientData || empty.Availability.Valid() || empty.Unknown != p.Duration() {
		t.Errorf("no data: %s, A %s, unknown %s", empty.Verdict, empty.Availability, empty.Unknown)
	}
	for _, f := range []sla.Figures{q, empty} {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var back sla.Figures
		if err := json.Unmarshal(b, &back); err != nil || back.Down != f.Down || back.Verdict != f.Verdict {
			t.Errorf("JSON round trip: %v", err)
		}
	}
}

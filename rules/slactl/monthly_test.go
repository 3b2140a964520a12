package slactl_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

// aprilStore holds April 2025 (and nothing of March).
func aprilStore() *report.MemoryStore {
	up := func(at time.Time) sla.StateChange { return sla.StateChange{At: at, State: sla.StateUp} }
	return &report.MemoryStore{Changes: map[string][]sla.StateChange{
		"web": {up(jst(2025, 4, 1, 0, 0)), {At: jst(2025, 4, 7, 14, 0), State: sla.StateDown, Cause: "connection refused"}, up(jst(2025, 4, 7, 14, 50))},
		"db":  {up(jst(2025, 4, 1, 0, 0))},
		"crm": {up(jst(2025, 4, 1, 0, 0))},
	}}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestMonthlyReportOnSchedule runs the controller on gocron with a fake
// clock from just before May: the monthly job issues April's report on the
// 1st at 06:00 (not before), for all customers and each one; the catch-up
// at start issues nothing for March, which has no data.
func TestMonthlyReportOnSchedule(t *testing.T) {
	r := newRig(t, jst(2025, 4, 30, 23, 0), aprilStore())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ctl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Tick, alerts and the monthly job wait on the clock.
	if err := r.clock.BlockUntilContext(ctx, 3); err != nil {
		t.Fatal(err)
	}
	revisions := func() []report.Revision {
		revs, err := r.ctl.Revisions("")
		if err != nil {
			t.Fatal(err)
		}
		return revs
	}
	// Hour by hour to 05:00 on May 1st: nothing yet.
	for r.clock.Now().Before(jst(2025, 5, 1, 5, 0)) {
		r.clock.Advance(time.Hour)
		time.Sleep(20 * time.Millisecond)
	}
	if revs := revisions(); len(revs) != 0 {
		t.Fatalf("issued before 06:00: %+v", revs)
	}
	r.clock.Advance(time.Hour + time.Second)
	waitFor(t, "April's report", func() bool { return len(revisions()) == 3 })
	for _, rev := range revisions() {
		if rev.Month != "2025-04" || rev.Number != 1 || rev.CreatedBy != slactl.ScheduleBy || rev.Reason != "initial report" ||
			!rev.CreatedAt.Equal(jst(2025, 5, 1, 6, 0).Add(time.Second)) {
			t.Errorf("revision %+v", rev)
		}
	}
	var buf strings.Builder
	if _, err := r.ctl.Render(&buf, "2025-04", "all", 0, "csv"); err != nil {
		t.Fatal(err)
	}
	// web: 50 minutes down of 30 days.
	if !strings.Contains(buf.String(), ",web,core,99.9000,24x7,false,false,2592000,2589000,3000,") {
		t.Errorf("April csv:\n%s", buf.String())
	}
	// Run wrote every service UNKNOWN from the start.
	if cs := r.sink.changes("db"); len(cs) == 0 || cs[0].State != sla.StateUnknown || cs[0].Cause != slactl.CauseStarted {
		t.Errorf("db changes %+v", cs)
	}
}

// TestMonthlyReportCatchUp: started on May 3rd with no April report in
// the archive but April's data in the store, the controller issues it.
func TestMonthlyReportCatchUp(t *testing.T) {
	r := newRig(t, jst(2025, 5, 3, 12, 0), aprilStore())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ctl.Run(ctx) }()
	waitFor(t, "the caught-up report", func() bool {
		revs, _ := r.ctl.Revisions("2025-04")
		return len(revs) == 3
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Stopping settles and writes every service UNKNOWN.
	cs := r.sink.changes("crm")
	if last := cs[len(cs)-1]; last.State != sla.StateUnknown || last.Cause != slactl.CauseStopped {
		t.Errorf("crm changes %+v", cs)
	}
}

// TestIssueRevisions: recomputing an ended month on changed data is a new
// revision that names the one before; on unchanged data it is none.
func TestIssueRevisions(t *testing.T) {
	store := aprilStore()
	r := newRig(t, jst(2025, 5, 20, 9, 0), store)
	ctx := context.Background()
	if _, err := r.ctl.Issue(ctx, "2025-05", "ops", ""); err == nil {
		t.Error("a month not over was issued")
	}
	first, err := r.ctl.Issue(ctx, "2025-04", "ops", "")
	if err != nil || len(first) != 3 || first[0].Revision.Reason != "initial report" {
		t.Fatalf("%+v %v", first, err)
	}
	again, err := r.ctl.Issue(ctx, "2025-04", "ops", "")
	if err != nil || !again[0].Unchanged || again[0].Revision.Number != 1 {
		t.Fatalf("unchanged: %+v %v", again, err)
	}
	store.Changes["crm"] = append(store.Changes["crm"], sla.StateChange{At: jst(2025, 4, 20, 3, 0), State: sla.StateDown, Cause: "late data"},
		sla.StateChange{At: jst(2025, 4, 20, 3, 10), State: sla.StateUp})
	next, err := r.ctl.Issue(ctx, "2025-04", "bob", "late monitor data for crm")
	if err != nil {
		t.Fatal(err)
	}
	byScope := map[string]slactl.Issued{}
	for _, is := range next {
		byScope[is.Revision.Scope] = is
	}
	if a := byScope["all"]; a.Unchanged || a.Revision.Number != 2 || a.Revision.Previous != first[0].Revision.SHA256 || a.Revision.CreatedBy != "bob" {
		t.Errorf("all: %+v", a)
	}
	if g := byScope["Globex"]; g.Unchanged || g.Revision.Number != 2 {
		t.Errorf("Globex: %+v", g)
	}
	if a := byScope["ACME"]; !a.Unchanged {
		t.Errorf("ACME changed: %+v", a)
	}
}

// TestBeforeIssueRunsFirst: the hook (the daemon's probe rollup) runs
// before the report is computed, so what it writes is in the report; when
// it fails, the report is issued all the same.
func TestBeforeIssueRunsFirst(t *testing.T) {
	for _, fail := range []bool{false, true} {
		store := aprilStore()
		clock := clockwork.NewFakeClockAt(jst(2025, 5, 20, 9, 0))
		calls := 0
		sc := testSLA(t)
		ctl, err := slactl.New(slactl.Config{
			Site: "dc1", SLA: sc, Location: tokyo, Points: &memSink{}, Store: store,
			Maintenance: sla.NewMemoryMaintenanceStore(clock.Now),
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock,
			BeforeIssue: func(context.Context) error {
				calls++
				// What the hook writes must be what the report reads.
				store.Changes["crm"] = append(store.Changes["crm"],
					sla.StateChange{At: jst(2025, 4, 20, 3, 0), State: sla.StateDown, Cause: "written by the hook"},
					sla.StateChange{At: jst(2025, 4, 20, 3, 10), State: sla.StateUp})
				if fail {
					return errors.New("influxd unreachable")
				}
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		issued, err := ctl.Issue(context.Background(), "2025-04", "ops", "")
		if err != nil || len(issued) != 3 {
			t.Fatalf("fail=%v: %+v %v", fail, issued, err)
		}
		if calls != 1 {
			t.Errorf("fail=%v: hook ran %d times, want 1", fail, calls)
		}
		archive, err := report.OpenArchive(sc.Files.ReportsDir)
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := archive.Get("2025-04", "all", issued[0].Revision.Number)
		if err != nil {
			t.Fatal(err)
		}
		var crm *report.ServiceReport
		for i := range m.Services {
			if m.Services[i].Service.Name == "crm" {
				crm = &m.Services[i]
			}
		}
		if crm == nil || crm.Figures.Down != 10*time.Minute || len(crm.Figures.Incidents) != 1 ||
			!crm.Figures.Incidents[0].Start.Equal(jst(2025, 4, 20, 3, 0)) {
			t.Errorf("fail=%v: the report does not hold the hook's 10-minute outage of crm: %+v", fail, crm)
		}
	}
}

// TestIssueWithEnergy: the hook's energy section is in the archived report
// of all customers, not in a customer's; a failing hook issues the report
// without it.
func TestIssueWithEnergy(t *testing.T) {
	for _, fail := range []bool{false, true} {
		clock := clockwork.NewFakeClockAt(jst(2025, 5, 20, 9, 0))
		sc := testSLA(t)
		var asked []string
		ctl, err := slactl.New(slactl.Config{
			Site: "dc1", SLA: sc, Location: tokyo, Points: &memSink{}, Store: aprilStore(),
			Maintenance: sla.NewMemoryMaintenanceStore(clock.Now),
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock,
			Energy: func(_ context.Context, month string) (*report.Energy, error) {
				asked = append(asked, month)
				if fail {
					return &report.Energy{KWh: 1}, errors.New("influxd unreachable")
				}
				return &report.Energy{KWh: 72025, PeakDemandKW: 150, Priced: true, BillYen: 1152063, ShedEvents: 1, ShedYen: 360290.70, CO2LocationKg: 25208.75}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		issued, err := ctl.Issue(context.Background(), "2025-04", "ops", "")
		if err != nil || len(issued) != 3 {
			t.Fatalf("fail=%v: %+v %v", fail, issued, err)
		}
		if strings.Join(asked, ",") != "2025-04" {
			t.Errorf("fail=%v: the hook was asked for %v, want 2025-04 once", fail, asked)
		}
		archive, err := report.OpenArchive(sc.Files.ReportsDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range issued {
			m, _, err := archive.Get("2025-04", is.Revision.Scope, is.Revision.Number)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case is.Revision.Scope == "all" && !fail:
				if e := m.Energy; e == nil || e.KWh != 72025 || e.BillYen != 1152063 || e.ShedYen != 360290.70 || e.CO2LocationKg != 25208.75 {
					t.Errorf("the report of all has energy %+v", e)
				}
			case m.Energy != nil:
				t.Errorf("fail=%v: scope %s has an energy section %+v", fail, is.Revision.Scope, m.Energy)
			}
		}
	}
}

package slactl_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

var tokyo = func() *time.Location {
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return l
}()

func jst(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, tokyo)
}

// memSink records what reaches the write path.
type memSink struct {
	mu  sync.Mutex
	pts []point.Point
}

func (s *memSink) Write(_ context.Context, pts []point.Point) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pts = append(s.pts, pts...)
	return nil
}

// changes are the sla_state_change points written for service, in order.
func (s *memSink) changes(service string) []sla.StateChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sla.StateChange
	for _, p := range s.pts {
		if p.Measurement != sla.MeasurementStateChange || p.Tags["service"] != service {
			continue
		}
		st, _ := sla.ParseState(p.Fields["state"].(string))
		cause, _ := p.Fields["cause"].(string)
		out = append(out, sla.StateChange{At: p.Time, State: st, Cause: cause})
	}
	return out
}

func (s *memSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pts)
}

// memNotifier records webhook events.
type memNotifier struct {
	mu     sync.Mutex
	events []slactl.AlertEvent
}

func (n *memNotifier) Send(_ string, body []byte) {
	var e slactl.AlertEvent
	if err := json.Unmarshal(body, &e); err != nil {
		panic(err)
	}
	n.mu.Lock()
	n.events = append(n.events, e)
	n.mu.Unlock()
}

func (n *memNotifier) of(rule string) []slactl.AlertEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []slactl.AlertEvent
	for _, e := range n.events {
		if e.Rule == rule {
			out = append(out, e)
		}
	}
	return out
}

// testSLA is a site of three services: web on VM web1 (placed on hv1) and
// its probe, db on host hv2, and crm (another customer) on VM crm1.
func testSLA(t *testing.T) sla.Config {
	t.Helper()
	return sla.Config{
		Catalog: sla.Catalog{
			SLAs: []sla.SLA{{Name: "core", Objective: 0.999, TimeZone: "Asia/Tokyo", RTO: time.Hour, MaxFailures: 1}},
			Services: []sla.Service{
				{Name: "web", SLA: "core", Customer: "ACME", RunsOn: sla.RunsOn{VMs: []string{"web1"}, Probes: []string{"web-http"}}},
				{Name: "db", SLA: "core", Customer: "ACME", RunsOn: sla.RunsOn{Hosts: []string{"hv2"}}},
				{Name: "crm", SLA: "core", Customer: "Globex", RunsOn: sla.RunsOn{VMs: []string{"crm1"}}},
			},
			Placements: []sla.Placement{{VM: "web1", Host: "hv1"}, {VM: "crm1", Host: "hv2"}},
		},
		Checks:   sla.CheckPolicy{Interval: time.Minute}.WithDefaults(),
		Policy:   sla.Policy{}.WithDefaults(),
		Files:    sla.Files{ReportsDir: t.TempDir()},
		Schedule: sla.ReportSchedule{Day: 1, At: 6 * time.Hour, Grace: 6 * time.Hour},
		Alerts:   sla.AlertSettings{Interval: time.Minute},
	}
}

type rig struct {
	ctl      *slactl.Controller
	clock    *clockwork.FakeClock
	sink     *memSink
	store    *report.MemoryStore
	maint    *sla.MemoryMaintenanceStore
	notifier *memNotifier
}

func newRig(t *testing.T, start time.Time, store *report.MemoryStore) *rig {
	t.Helper()
	return newRigWith(t, start, store, nil)
}

// newRigWith is newRig with the SLA section changed by edit first.
func newRigWith(t *testing.T, start time.Time, store *report.MemoryStore, edit func(*sla.Config)) *rig {
	t.Helper()
	if store == nil {
		store = &report.MemoryStore{}
	}
	r := &rig{clock: clockwork.NewFakeClockAt(start), sink: &memSink{}, store: store, notifier: &memNotifier{}}
	r.maint = sla.NewMemoryMaintenanceStore(r.clock.Now)
	sc := testSLA(t)
	if edit != nil {
		edit(&sc)
	}
	ctl, err := slactl.New(slactl.Config{
		Site: "dc1", SLA: sc, Location: tokyo, Points: r.sink, Store: store, Maintenance: r.maint,
		Notifier: r.notifier, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: r.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.ctl = ctl
	return r
}

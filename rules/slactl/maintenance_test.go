package slactl_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

func TestNewMaintenanceWindowNamesEveryProblem(t *testing.T) {
	cat := testSLA(t).Catalog
	now := jst(2025, 4, 1, 9, 0)
	log := sla.NewMemoryMaintenanceStore(func() time.Time { return now })
	ctx := context.Background()
	for _, tc := range []struct {
		req  slactl.MaintenanceRequest
		by   string
		want []string // fields
	}{
		{slactl.MaintenanceRequest{}, "ops", []string{"reason", "services", "start", "end"}},
		{slactl.MaintenanceRequest{Services: []string{"web", "mail"}, Start: "2025-05-10 02:00", End: "2025-05-10T04:00:00+09:00", Reason: "x"}, "ops",
			[]string{"services", "start"}},
		{slactl.MaintenanceRequest{Services: []string{"web"}, Start: "2025-05-10T04:00:00+09:00", End: "2025-05-10T02:00:00+09:00", Reason: "x"}, "", []string{"announced_by", "end"}},
		{slactl.MaintenanceRequest{Services: []string{"web"}, Start: "2025-05-10T02:00:00+09:00", End: "2026-05-10T02:00:00+09:00", Reason: "x"}, "ops", []string{"end"}},
		{slactl.MaintenanceRequest{ID: "mw-none", Cancelled: true, Reason: "called off"}, "ops", []string{"id"}},
		{slactl.MaintenanceRequest{Cancelled: true, Reason: "called off"}, "ops", []string{"id"}},
	} {
		_, probs := slactl.NewMaintenanceWindow(ctx, cat, log, tc.req, tc.by, now)
		var got []string
		for _, p := range probs {
			got = append(got, p.Field)
			if !strings.Contains(p.Msg, "expected") {
				t.Errorf("%+v: %q does not say what was expected", tc.req, p.Msg)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%+v: problems %v, want fields %v", tc.req, probs, tc.want)
		}
	}

	// Announced 31 days ahead: PLANNED; rescheduled with 29 days' notice
	// (a new record, announced now): short notice. Then cancelled.
	w, probs := slactl.NewMaintenanceWindow(ctx, cat, log, slactl.MaintenanceRequest{Services: []string{"web", "web", "db"},
		Start: "2025-05-02T09:00:00+09:00", End: "2025-05-02T11:00:00+09:00", Reason: "storage firmware"}, "ops", now)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if len(w.Services) != 2 || !strings.HasPrefix(w.ID, "mw-20250401T000000Z-") || w.AnnouncedBy != "ops" || !w.AnnouncedAt.Equal(now) {
		t.Errorf("window %+v", w)
	}
	if _, err := log.Append(ctx, w); err != nil {
		t.Fatal(err)
	}
	v := slactl.ClassifyWindow(cat, sla.Policy{}, w)
	if len(v.Classes) != 2 || !v.Classes[0].Planned() || v.Classes[0].Notice != 31*24*time.Hour || v.Classes[0].RequiredS != 30*24*3600 {
		t.Errorf("classes %+v", v.Classes)
	}
	later := now.Add(2 * 24 * time.Hour)
	moved, probs := slactl.NewMaintenanceWindow(ctx, cat, log, slactl.MaintenanceRequest{ID: w.ID,
		Start: "2025-05-02T10:00:00+09:00", Reason: "vendor asked for an hour later"}, "ops", later)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if moved.ID != w.ID || !moved.End.Equal(w.End) || len(moved.Services) != 2 {
		t.Errorf("rescheduled %+v", moved)
	}
	if v := slactl.ClassifyWindow(cat, sla.Policy{}, moved); v.Classes[0].Planned() {
		t.Errorf("29 days' notice counted as planned: %+v", v.Classes)
	}
	cancel, probs := slactl.NewMaintenanceWindow(ctx, cat, log, slactl.MaintenanceRequest{ID: w.ID, Cancelled: true, Reason: "called off"}, "ops", later)
	if len(probs) > 0 || !cancel.Cancelled || !cancel.Start.Equal(w.Start) {
		t.Errorf("cancel %+v %v", cancel, probs)
	}
}

func TestMaintenanceLogLockAndReadOnlyReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "maintenance.jsonl")
	now := jst(2025, 4, 1, 9, 0)
	log, err := slactl.OpenMaintenanceLog(path, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slactl.OpenMaintenanceLog(path, nil); !errors.Is(err, slactl.ErrMaintenanceLogBusy) {
		t.Fatalf("second writer: %v", err)
	}
	ctx := context.Background()
	w := sla.MaintenanceWindow{ID: "m1", Services: []string{"web"}, Start: jst(2025, 5, 10, 2, 0), End: jst(2025, 5, 10, 4, 0),
		AnnouncedAt: now, AnnouncedBy: "ops", Reason: "firmware"}
	if _, err := log.Append(ctx, w); err != nil {
		t.Fatal(err)
	}
	// A reader beside the writer, with a line being written.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"id":"m2","services":["db"],`)
	f.Close()
	r, err := slactl.ReadMaintenanceLog(path)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := r.Windows(ctx, time.Time{}, jst(2030, 1, 1, 0, 0))
	if len(ws) != 1 || ws[0].ID != "m1" || !ws[0].RecordedAt.Equal(now) {
		t.Errorf("read %+v", ws)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed, the log can be opened again (and its torn line is cut).
	log, err = slactl.OpenMaintenanceLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Close()
	if r, err := slactl.ReadMaintenanceLog(filepath.Join(t.TempDir(), "none.jsonl")); err != nil {
		t.Error(err)
	} else if ws, _ := r.Windows(ctx, time.Time{}, jst(2030, 1, 1, 0, 0)); len(ws) != 0 {
		t.Error(ws)
	}
	_ = os.WriteFile(path, []byte("{\"id\":\"m1\"}\nnot json\n"), 0o644)
	if _, err := slactl.ReadMaintenanceLog(path); err == nil || !strings.Contains(err.Error(), path+":1:") {
		t.Errorf("bad record: %v", err)
	}
}

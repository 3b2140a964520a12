package sla_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

func window(id string, start time.Time, announced time.Time) sla.MaintenanceWindow {
	return sla.MaintenanceWindow{ID: id, Services: []string{"web"}, Start: start, End: start.Add(2 * time.Hour),
		AnnouncedAt: announced, AnnouncedBy: "ops@example.jp", Reason: "firmware"}
}

func TestMaintenanceClassifyNotice(t *testing.T) {
	start := time.Date(2025, 4, 10, 2, 0, 0, 0, time.UTC)
	core := sla.SLA{Name: "core", Objective: 0.999}
	for _, tc := range []struct {
		ahead time.Duration
		want  sla.MaintenanceClass
	}{
		{31 * 24 * time.Hour, sla.MaintenancePlanned},
		{30 * 24 * time.Hour, sla.MaintenancePlanned}, // exactly the notice period: ">= 30 days"
		{30*24*time.Hour - time.Second, sla.MaintenanceShortNotice},
		{29 * 24 * time.Hour, sla.MaintenanceShortNotice},
	} {
		got, notice := window("m", start, start.Add(-tc.ahead)).Classify(core, sla.Policy{})
		if got != tc.want || notice != tc.ahead {
			t.Errorf("announced %s ahead: %s (%s), want %s", tc.ahead, got, notice, tc.want)
		}
	}
	// Back-dated: recorded 10 days ahead, claims 40. Without approval the
	// notice counts from the record; with approval from the claim.
	w := window("m", start, start.Add(-40*24*time.Hour))
	w.RecordedAt = start.Add(-10 * 24 * time.Hour)
	if got, _ := w.Classify(core, sla.Policy{}); got != sla.MaintenanceShortNotice {
		t.Errorf("back-dated record: %s, want short-notice", got)
	}
	w.BackdateApprovedBy = "cto@example.jp"
	if got, _ := w.Classify(core, sla.Policy{}); got != sla.MaintenancePlanned {
		t.Errorf("approved back-dating: %s, want planned", got)
	}
	if _, back := w.NoticeFrom(sla.Policy{}); !back {
		t.Error("approved back-dating not flagged")
	}
}

func TestMaintenanceStores(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	path := filepath.Join(t.TempDir(), "maintenance.jsonl")
	fs, err := sla.OpenFileMaintenanceStore(path, now)
	if err != nil {
		t.Fatal(err)
	}
	stores := map[string]sla.MaintenanceStore{"memory": sla.NewMemoryMaintenanceStore(now), "file": fs}
	start := time.Date(2025, 4, 10, 2, 0, 0, 0, time.UTC)
	for name, s := range stores {
		if _, err := s.Append(ctx, sla.MaintenanceWindow{ID: "x"}); err == nil {
			t.Errorf("%s: invalid record accepted", name)
		}
		w, err := s.Append(ctx, window("m1", start, clock))
		if err != nil || !w.RecordedAt.Equal(clock) {
			t.Fatalf("%s: append: %v, recorded %s", name, err, w.RecordedAt)
		}
		_, _ = s.Append(ctx, window("m2", start.Add(24*time.Hour), clock))
		// Reschedule m1 (a new record, same ID), then cancel m2.
		moved := window("m1", start.Add(time.Hour), clock)
		_, _ = s.Append(ctx, moved)
		cancel := window("m2", start.Add(24*time.Hour), clock)
		cancel.Cancelled = true
		_, _ = s.Append(ctx, cancel)

		ws, err := s.Windows(ctx, start.Add(-time.Hour), start.Add(48*time.Hour))
		if err != nil || len(ws) != 1 || ws[0].ID != "m1" || !ws[0].Start.Equal(start.Add(time.Hour)) {
			t.Errorf("%s: windows = %v, %v; want m1 as rescheduled", name, ws, err)
		}
		h, _ := s.History(ctx, "m1")
		if len(h) != 2 {
			t.Errorf("%s: history of m1 has %d records, want 2", name, len(h))
		}
	}
	fs.Close()

	// Reopen: the same state; a torn last line (crash mid-append) is cut.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"id":"m3","services":["web"],"sta`)
	f.Close()
	fs, err = sla.OpenFileMaintenanceStore(path, now)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := fs.History(ctx, "m1"); len(h) != 2 {
		t.Errorf("after reopen: %d records of m1", len(h))
	}
	if _, err := fs.Append(ctx, window("m4", start, clock)); err != nil {
		t.Fatal(err)
	}
	fs.Close()
	data, _ := os.ReadFile(path)
	if lines := strings.Count(string(data), "\n"); lines != 5 || strings.Contains(string(data), `"sta`+"\n") {
		t.Errorf("file after torn line and append: %d lines:\n%s", lines, data)
	}

	// A corrupt line in the middle is an error naming the line.
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	_ = os.WriteFile(bad, []byte(string(data[:strings.Index(string(data), "\n")+1])+"not json\n"), 0o644)
	if _, err := sla.OpenFileMaintenanceStore(bad, now); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Errorf("corrupt line: %v, want an error at bad.jsonl:2", err)
	}
}

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/sla"
)

// TestMaintenanceImportThenReport: an existing calendar (CSV, and the same
// format as YAML) is imported through the binary with its original
// announcement times: audited as an import (who, when recorded, which
// file), PLANNED by the calendar's announcement although recorded today,
// shown with both times in the report (CSV figures, PDF text). A second
// import adds nothing, a bad calendar imports nothing, and a window added
// by hand is still announced now.
func TestMaintenanceImportThenReport(t *testing.T) {
	db := testinflux.Start(t)
	bin := buildBinary(t)
	state := t.TempDir()
	conf := writeSLAConfig(t, db.URL, db.Bucket(), slaSection(state))
	up := func(at time.Time) sla.StateChange { return sla.StateChange{At: at, State: sla.StateUp} }
	var pts []point.Point
	for _, c := range []sla.StateChange{up(slaJST(3, 28, 0, 0)),
		{At: slaJST(4, 7, 14, 0), State: sla.StateDown, Cause: "connection refused"}, up(slaJST(4, 7, 14, 50)),
		{At: slaJST(4, 12, 2, 10), State: sla.StateDown, Cause: "firmware upgrade"}, up(slaJST(4, 12, 3, 0))} {
		pts = append(pts, sla.StateChangePoint("dc1", "web", c))
	}
	pts = append(pts, sla.StateChangePoint("dc1", "db", up(slaJST(3, 25, 0, 0))))
	testinflux.Write(t, db, pts)

	dir := t.TempDir()
	calendar := filepath.Join(dir, "calendar-2025.csv")
	if err := os.WriteFile(calendar, []byte(`id,services,start,end,announced_at,announced_by,reason
cal-fw-0412,web,2025-04-12T02:00:00+09:00,2025-04-12T04:00:00+09:00,2025-03-01T10:00:00+09:00,ops@example.jp,"storage firmware upgrade, controllers A and B"
,db,2025-04-20T01:00:00+09:00,2025-04-20T02:00:00+09:00,2025-04-15T09:00:00+09:00,ops@example.jp,kernel patch
`), 0o644); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	out, errs, code := runBinary(t, bin, "maintenance", "import", "--config", conf, "--by", "alice", calendar)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s", code, errs)
	}
	if !strings.Contains(out, "imported 2 windows from "+calendar) || !strings.Contains(out, "imported from "+calendar+" by alice") ||
		!strings.Contains(out, "announced 2025-03-01 10:00 by ops@example.jp") || !strings.Contains(out, "PLANNED") || !strings.Contains(out, "SHORT NOTICE") {
		t.Errorf("import output:\n%s", out)
	}
	// The log: original announcement, recorded now, audited as an import.
	logData, err := os.ReadFile(filepath.Join(state, "maintenance.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []sla.MaintenanceWindow
	for _, l := range strings.Split(strings.TrimSpace(string(logData)), "\n") {
		var w sla.MaintenanceWindow
		if err := json.Unmarshal([]byte(l), &w); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, w)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records in the log, want 2", len(recs))
	}
	fw := recs[0]
	if fw.ID != "cal-fw-0412" || !fw.AnnouncedAt.Equal(slaJST(3, 1, 10, 0)) || fw.AnnouncedBy != "ops@example.jp" ||
		fw.ImportedBy != "alice" || fw.ImportedFrom != calendar || fw.RecordedAt.Before(before) || fw.RecordedAt.After(time.Now()) {
		t.Errorf("imported record %+v: want the calendar's announcement, recorded now, imported by alice from %s", fw, calendar)
	}
	if !strings.HasPrefix(recs[1].ID, "imp-") {
		t.Errorf("derived id %q", recs[1].ID)
	}

	// Again: nothing new. The same calendar as YAML: nothing new either.
	if out, errs, code = runBinary(t, bin, "maintenance", "import", "--config", conf, "--by", "alice", calendar); code != 0 ||
		!strings.Contains(out, "imported 0 windows") || !strings.Contains(out, "2 already imported before") {
		t.Errorf("second import: exit %d\n%s%s", code, out, errs)
	}
	yamlCal := filepath.Join(dir, "calendar.yaml")
	os.WriteFile(yamlCal, []byte(`windows:
  - {id: cal-fw-0412, services: [web], start: 2025-04-12T02:00:00+09:00, end: 2025-04-12T04:00:00+09:00,
     announced_at: 2025-03-01T10:00:00+09:00, announced_by: ops@example.jp, reason: "storage firmware upgrade, controllers A and B"}
`), 0o644)
	if out, errs, code = runBinary(t, bin, "maintenance", "import", "--config", conf, "--by", "alice", yamlCal); code != 0 || !strings.Contains(out, "1 already imported before") {
		t.Errorf("yaml import: exit %d\n%s%s", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("id,services,start,end,announced_at,announced_by,reason\nx1,mail,2025-05-01T01:00:00+09:00,2025-05-01T02:00:00+09:00,2025-04-01T00:00:00+09:00,ops,r\nx2,web,soon,2025-05-01T02:00:00+09:00,2025-04-01T00:00:00+09:00,ops,r\n"), 0o644)
	_, errs, code = runBinary(t, bin, "maintenance", "import", "--config", conf, "--by", "alice", bad)
	if code != 1 || !strings.Contains(errs, bad+`:2: services: unknown service "mail"`) || !strings.Contains(errs, bad+`:3: start: "soon" is not an RFC 3339 time`) ||
		!strings.Contains(errs, "nothing imported") {
		t.Errorf("bad calendar: exit %d\n%s", code, errs)
	}
	// By hand: announced now.
	_, errs, code = runBinary(t, bin, "maintenance", "add", "--config", conf, "--services", "db", "--start", "2025-04-25T01:00:00+09:00",
		"--end", "2025-04-25T01:30:00+09:00", "--reason", "late entry", "--by", "bob")
	if code != 0 {
		t.Fatalf("add: exit %d\n%s", code, errs)
	}
	logData, _ = os.ReadFile(filepath.Join(state, "maintenance.jsonl"))
	lines := strings.Split(strings.TrimSpace(string(logData)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d records after the second import, the YAML import, a bad one and an add, want 3:\n%s", len(lines), logData)
	}
	var hand sla.MaintenanceWindow
	json.Unmarshal([]byte(lines[2]), &hand)
	if hand.AnnouncedAt.Before(before) || hand.Imported() {
		t.Errorf("hand-added window: announced %s, imported %q: want announced now, not imported", hand.AnnouncedAt, hand.ImportedFrom)
	}

	// The report: the imported window is planned (announced 42 days
	// ahead), db's is short notice.
	csvPath := filepath.Join(dir, "april.csv")
	if _, errs, code = runBinary(t, bin, "report", "--config", conf, "--month", "2025-04", "--format", "csv", "--out", csvPath); code != 0 {
		t.Fatalf("report: exit %d\n%s", code, errs)
	}
	got := csvByService(t, csvPath)
	for svc, want := range map[string]map[string]string{
		"web": {"planned_s": "7200", "planned_windows": "1", "short_notice_windows": "0", "down_s": "3000", "failures": "1"},
		"db":  {"short_notice_windows": "2", "planned_windows": "0"}, // the calendar's kernel patch and the late entry by hand
	} {
		for k, v := range want {
			if got[svc][k] != v {
				t.Errorf("%s %s = %q, want %q", svc, k, got[svc][k], v)
			}
		}
	}
	pdf := filepath.Join(dir, "april.pdf")
	if _, errs, code = runBinary(t, bin, "report", "--config", conf, "--month", "2025-04", "--format", "pdf", "--out", pdf); code != 0 {
		t.Fatalf("pdf: exit %d\n%s", code, errs)
	}
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext not installed (Debian poppler-utils)")
	}
	raw, err := exec.Command(pdftotext, "-layout", pdf, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, raw)
	}
	text := string(raw)
	recorded := fw.RecordedAt.In(slaTokyo).Format("2006-01-02 15:04")
	for _, w := range []string{"cal-fw-0412", recs[1].ID, "2025-03-01 10:00 by", "recorded " + recorded, "imported from", "by alice",
		"storage firmware", "kernel patch", "SHORT NOTICE", "Reason", "1 failure,"} {
		if !strings.Contains(text, w) {
			t.Errorf("PDF text lacks %q", w)
		}
	}
	if strings.Contains(text, "1 failures") || strings.Contains(text, "...") {
		t.Error("PDF says \"1 failures\" or cut a cell short")
	}
	if goDur := regexp.MustCompile(`\b\d+h\d+m\d+s\b|\b\d+m\d+s\b`).FindString(text); goDur != "" {
		t.Errorf("PDF mixes Go's duration format (%q) with the report's", goDur)
	}
	if t.Failed() {
		t.Log(text)
	}
}

package report_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/report"
)

// The maintenance table is not cut off: a long window ID, the back-dated
// marker with the recording time and the reason are all in the PDF; one
// duration format throughout, and "1 failure", not "1 failures".
func TestPDFMaintenanceRowsAndWording(t *testing.T) {
	m := generate(t, report.Filter{Services: []string{"web"}})
	f := &m.Services[0].Figures
	if len(f.Maintenance) == 0 {
		t.Fatal("fixture has no maintenance on web")
	}
	const longID = "mw-20250405T010000Z-1a2b3c"
	mo := &f.Maintenance[0]
	mo.Window.ID = longID
	mo.Window.Reason = "replace both storage controllers and upgrade their firmware to 5.2.1"
	mo.Backdated = true
	mo.Window.RecordedAt = mo.Window.AnnouncedAt.Add(72 * time.Hour)
	f.Failures = 1
	for i := range f.Incidents {
		f.Incidents[i].Failure = i == 0
	}
	m.Services = m.Services[:1]
	path := writePDF(t, m, report.PDFOptions{})
	raw, err := exec.Command(needTool(t, "pdftotext"), "-raw", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, raw)
	}
	flat := strings.Join(strings.Fields(string(raw)), "")
	for _, w := range []string{longID, "BACK-DATED:recorded", "replacebothstoragecontrollersandupgradetheirfirmwareto5.2.1", "Reason"} {
		if !strings.Contains(flat, w) {
			t.Errorf("PDF lacks %q (cut off?)", w)
		}
	}
	text := pdfText(t, path)
	if strings.Contains(text, "...") {
		t.Error("a cell was cut short")
	}
	if strings.Contains(text, "1 failures") || !strings.Contains(text, "1 failure,") {
		t.Errorf("failure count wording:\n%s", text)
	}
	if d := regexp.MustCompile(`\b\d+h\d+m\d+s\b|\b\d+m\d+s\b|\b\d+h\d+m\b`).FindString(text); d != "" {
		t.Errorf("Go duration format %q among the report's", d)
	}
}

package report_test

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/setsuden/setsuden/report"
)

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian poppler-utils)", name)
	}
	return p
}

func writePDF(t *testing.T, m report.Monthly, opt report.PDFOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := report.WritePDF(&buf, m, opt); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
		t.Fatal("not a PDF")
	}
	path := filepath.Join(t.TempDir(), "report.pdf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func pdfText(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(needTool(t, "pdftotext"), "-layout", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return string(out)
}

func TestPDF(t *testing.T) {
	m := generate(t, report.Filter{})
	m.Energy = &report.Energy{KWh: 123456.7, PUE: 1.42, PeakDemandKW: 512.3, TargetKW: 480, MarginKW: -32.3, ShedEvents: 4}
	rev := &report.Revision{Number: 2, CreatedBy: "ops", Reason: "late probe data", CreatedAt: m.AsOf}
	path := writePDF(t, m, report.PDFOptions{Revision: rev})
	text := pdfText(t, path)

	// Cover + 3 services + energy + definitions.
	if pages := strings.Count(text, "\f"); pages < 6 {
		t.Errorf("%d pages, want at least 6", pages)
	}
	for _, want := range []string{
		"SLA report April 2025", "Site dc1", "all customers", "Revision 2", "late probe data",
		"99.768%", "1h 40m 00s 0.232%", // web: downtime as time and %
		"INSUFF. DATA", "INSUFFICIENT DATA", // api: summary and detail
		"Service web (ACME)", "2025-04-07 14:00", "2025-04-07 14:50", "host hv1: power supply failure",
		"energy-action", "20m 00s of the downtime was caused by setsuden's energy actions",
		"m-planned", "m-short", "SHORT NOTICE",
		"Not met: 2 failures, at most 1 allowed per month",
		"p50", "105 ms", "4000 ms", "710 (98.89%)",
		"Globex Zürich", // cp1252 covers ü
		"123456.7 kWh", "1.42", "512.3 kW", "How to read this report", "page 1 of",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if strings.Contains(text, "...") {
		t.Error("a table cell was cut short")
	}
	if t.Failed() {
		t.Logf("pdftotext:\n%s", text)
	}

	// Render the first service page (with its chart) and the cover.
	dir := t.TempDir()
	pdftoppm := needTool(t, "pdftoppm")
	for _, page := range []string{"1", "2"} {
		prefix := filepath.Join(dir, "page"+page)
		if out, err := exec.Command(pdftoppm, "-f", page, "-l", page, "-r", "50", "-png", "-singlefile", path, prefix).CombinedOutput(); err != nil {
			t.Fatalf("pdftoppm: %v\n%s", err, out)
		}
		f, err := os.Open(prefix + ".png")
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		ink, green, red := inkStats(img)
		b := img.Bounds()
		t.Logf("page %s: %dx%d px, %.1f%% ink, %d green, %d red pixels", page, b.Dx(), b.Dy(), 100*ink, green, red)
		if b.Dx() < 300 || b.Dy() < 400 || ink < 0.01 {
			t.Errorf("page %s looks empty: %dx%d, %.2f%% ink", page, b.Dx(), b.Dy(), 100*ink)
		}
		if page == "2" && (green < 100 || red < 5) {
			t.Errorf("page 2 chart: %d green and %d red pixels, want green bars and red days", green, red)
		}
	}
}

// inkStats returns the share of non-white pixels and counts of clearly
// green and clearly red ones.
func inkStats(img image.Image) (ink float64, green, red int) {
	b := img.Bounds()
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if r < 240 || g < 240 || bl < 240 {
				n++
			}
			if g > r+50 && g > bl+30 {
				green++
			}
			if r > g+100 && r > bl+100 {
				red++
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy()), green, red
}

func TestPDFUnicodeFont(t *testing.T) {
	const font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
	if _, err := os.Stat(font); err != nil {
		t.Skip("DejaVuSans not installed")
	}
	m := generate(t, report.Filter{Customer: "Globex Zürich"})
	m.Customer = "Łódź Ölwerke" // outside cp1252: needs a UTF-8 font
	m.Services[0].Service.Customer = m.Customer
	text := pdfText(t, writePDF(t, m, report.PDFOptions{FontFile: font, BoldFontFile: "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"}))
	if !strings.Contains(text, "prepared for Łódź Ölwerke") || !strings.Contains(text, "Service crm (Łódź Ölwerke)") {
		t.Errorf("UTF-8 text missing:\n%s", text)
	}
	// The same report is the same PDF (archived reports re-render identically).
	var a, b bytes.Buffer
	_ = report.WritePDF(&a, m, report.PDFOptions{})
	_ = report.WritePDF(&b, m, report.PDFOptions{})
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("PDF output is not deterministic")
	}
}

package report

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/setsuden/setsuden/rules/sla"
)

// PDFOptions adjust the PDF.
type PDFOptions struct {
	// FontFile and BoldFontFile are UTF-8 TrueType fonts (e.g. DejaVuSans,
	// or a CJK font for Japanese customer names). Empty uses the built-in
	// Helvetica, which only covers Western European text (cp1252): other
	// characters print as ".".
	FontFile     string
	BoldFontFile string
	// Revision, if set, is printed on the cover (an archived report).
	Revision *Revision
}

// A4 portrait, millimetres.
const (
	pdfMargin  = 12.0
	pdfWidth   = 210.0 - 2*pdfMargin
	pdfBottom  = 297.0 - 16.0 // lowest y for content (the footer lives below)
	pdfRowH    = 5.2
	pdfFamily  = "Helvetica"
	pdfUTF8    = "body"
	pdfTextGry = 110
)

// WritePDF renders the report as a multi-page PDF a customer can be sent:
// a cover with the summary table, then per service its figures, a daily
// availability bar chart, incidents, maintenance and response times, and
// the energy section if present. The output is deterministic for given
// data (creation date = AsOf), so an archived report renders identically.
func WritePDF(w io.Writer, m Monthly, opt PDFOptions) error {
	d, err := newPDFDoc(m, opt)
	if err != nil {
		return err
	}
	d.cover()
	for _, s := range m.Services {
		d.service(s)
	}
	if m.Energy != nil {
		d.energy(*m.Energy)
	}
	d.glossary()
	if err := d.pdf.Output(w); err != nil {
		return fmt.Errorf("report pdf: %w", err)
	}
	return nil
}

type pdfDoc struct {
	pdf  *fpdf.Fpdf
	m    Monthly
	opt  PDFOptions
	loc  *time.Location
	fam  string
	tr   func(string) string
	bold string // style for bold: "B"
}

func newPDFDoc(m Monthly, opt PDFOptions) (*pdfDoc, error) {
	p := fpdf.New("P", "mm", "A4", "")
	d := &pdfDoc{pdf: p, m: m, opt: opt, loc: m.location(), fam: pdfFamily, tr: func(s string) string { return s }, bold: "B"}
	if opt.FontFile != "" {
		bold := opt.BoldFontFile
		if bold == "" {
			bold = opt.FontFile
		}
		for style, file := range map[string]string{"": opt.FontFile, "B": bold} {
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("report pdf: font: %w", err)
			}
			p.AddUTF8FontFromBytes(pdfUTF8, style, data)
		}
		d.fam = pdfUTF8
	} else {
		d.tr = p.UnicodeTranslatorFromDescriptor("")
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("report pdf: fonts: %w", err)
	}
	p.SetMargins(pdfMargin, pdfMargin, pdfMargin)
	p.SetAutoPageBreak(true, 297-pdfBottom)
	p.SetCreationDate(m.AsOf)
	p.SetModificationDate(m.AsOf)
	p.SetCatalogSort(true)
	p.SetTitle(m.Title()+" "+m.Site, true)
	p.SetCreator("setsuden", true)
	p.SetProducer("setsuden (go-pdf/fpdf)", true)
	p.AliasNbPages("{nb}")
	p.SetFooterFunc(func() {
		p.SetY(-12)
		d.font("", 7.5)
		p.SetTextColor(pdfTextGry, pdfTextGry, pdfTextGry)
		left := fmt.Sprintf("setsuden · %s · site %s", m.Title(), m.Site)
		if m.Customer != "" {
			left += " · " + m.Customer
		}
		if opt.Revision != nil {
			left += fmt.Sprintf(" · revision %d", opt.Revision.Number)
		}
		p.CellFormat(pdfWidth/2, 5, d.tr(left), "", 0, "L", false, 0, "")
		p.CellFormat(pdfWidth/2, 5, d.tr(fmt.Sprintf("page %d of {nb}", p.PageNo())), "", 0, "R", false, 0, "")
		p.SetTextColor(0, 0, 0)
	})
	return d, nil
}

func (d *pdfDoc) font(style string, size float64) {
	if style == "B" {
		style = d.bold
	}
	d.pdf.SetFont(d.fam, style, size)
}

func (d *pdfDoc) tm(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(d.loc).Format("2006-01-02 15:04")
}

func (d *pdfDoc) heading(text string, size float64) {
	d.ensure(size)
	d.font("B", size)
	d.pdf.CellFormat(pdfWidth, size*0.55, d.tr(text), "", 1, "L", false, 0, "")
	d.pdf.Ln(1.5)
}

func (d *pdfDoc) para(text string, size float64) {
	d.font("", size)
	d.pdf.MultiCell(pdfWidth, size*0.5, d.tr(text), "", "L", false)
	d.pdf.Ln(1)
}

// ensure starts a new page unless h mm fit below the cursor.
func (d *pdfDoc) ensure(h float64) {
	if d.pdf.GetY()+h > pdfBottom {
		d.pdf.AddPage()
	}
}

// table draws rows under a header that repeats after each page break.
// Cells are clipped to one line; color picks a text colour per cell.
func (d *pdfDoc) table(widths []float64, aligns string, header []string, rows [][]string, color func(row, col int) (r, g, b int, ok bool)) {
	p := d.pdf
	drawHeader := func() {
		d.font("B", 7.5)
		p.SetFillColor(235, 235, 235)
		for i, h := range header {
			p.CellFormat(widths[i], pdfRowH, d.tr(h), "1", 0, align(aligns, i), true, 0, "")
		}
		p.Ln(-1)
		d.font("", 7.5)
	}
	d.ensure(2 * pdfRowH)
	drawHeader()
	for r, row := range rows {
		if p.GetY()+pdfRowH > pdfBottom {
			p.AddPage()
			drawHeader()
		}
		for c, cell := range row {
			style := ""
			if color != nil {
				if cr, cg, cb, ok := color(r, c); ok {
					p.SetTextColor(cr, cg, cb)
					style = "B"
				}
			}
			p.CellFormat(widths[c], pdfRowH, d.fit(cell, widths[c]-1.5, style, 7.5), "1", 0, align(aligns, c), false, 0, "")
			p.SetTextColor(0, 0, 0)
			d.font("", 7.5)
		}
		p.Ln(-1)
	}
	p.Ln(2)
}

// wrapTable draws rows like table, but every cell wraps onto as many
// lines as it needs (a "\n" in a cell starts a new line) and the row is as
// tall as its tallest cell: nothing is cut off (maintenance window IDs,
// announcement notes, reasons).
func (d *pdfDoc) wrapTable(widths []float64, aligns string, header []string, rows [][]string, color func(row, col int) (r, g, b int, ok bool)) {
	p := d.pdf
	const size, lineH = 7.0, 3.4
	drawHeader := func() {
		d.font("B", 7.5)
		p.SetFillColor(235, 235, 235)
		for i, h := range header {
			p.CellFormat(widths[i], pdfRowH, d.fit(h, widths[i]-1, "B", 7.5), "1", 0, align(aligns, i), true, 0, "")
		}
		p.Ln(-1)
	}
	d.ensure(pdfRowH + 2*lineH)
	drawHeader()
	for r, row := range rows {
		cells := make([][]string, len(row))
		n := 1
		for c, cell := range row {
			style := ""
			if color != nil {
				if _, _, _, ok := color(r, c); ok {
					style = "B"
				}
			}
			d.font(style, size)
			cells[c] = d.wrap(cell, widths[c]-1.5)
			n = max(n, len(cells[c]))
		}
		h := float64(n)*lineH + 1.2
		if p.GetY()+h > pdfBottom {
			p.AddPage()
			drawHeader()
		}
		x0, y0 := p.GetX(), p.GetY()
		x := x0
		for c := range row {
			p.Rect(x, y0, widths[c], h, "D")
			style := ""
			if color != nil {
				if cr, cg, cb, ok := color(r, c); ok {
					p.SetTextColor(cr, cg, cb)
					style = "B"
				}
			}
			d.font(style, size)
			for i, line := range cells[c] {
				p.SetXY(x, y0+0.6+float64(i)*lineH)
				p.CellFormat(widths[c], lineH, line, "", 0, align(aligns, c), false, 0, "")
			}
			p.SetTextColor(0, 0, 0)
			x += widths[c]
		}
		p.SetXY(x0, y0+h)
	}
	d.font("", 7.5)
	p.Ln(2)
}

// wrap breaks s into lines (translated for the font) no wider than w mm
// in the current font: at spaces, and inside a word only where the word
// alone is wider than w.
func (d *pdfDoc) wrap(s string, w float64) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		flush := func() {
			out = append(out, d.tr(line))
			line = ""
		}
		for _, word := range strings.Fields(para) {
			cand := word
			if line != "" {
				cand = line + " " + word
			}
			if d.pdf.GetStringWidth(d.tr(cand)) <= w {
				line = cand
				continue
			}
			if line != "" {
				flush()
			}
			for d.pdf.GetStringWidth(d.tr(word)) > w {
				r := []rune(word)
				k := len(r) - 1
				for k > 1 && d.pdf.GetStringWidth(d.tr(string(r[:k]))) > w {
					k--
				}
				out = append(out, d.tr(string(r[:k])))
				word = string(r[k:])
			}
			line = word
		}
		if line != "" || len(out) == 0 {
			flush()
		}
	}
	return out
}

// fit sets the font for s in a cell w mm wide: at size, else smaller (down
// to 5.5 pt), else shortened with "...".
func (d *pdfDoc) fit(s string, w float64, style string, size float64) string {
	t := d.tr(s)
	for ; size >= 5.5; size -= 0.5 {
		d.font(style, size)
		if d.pdf.GetStringWidth(t) <= w {
			return t
		}
	}
	r := []rune(s)
	for len(r) > 1 {
		r = r[:len(r)-1]
		if t = d.tr(string(r) + "..."); d.pdf.GetStringWidth(t) <= w {
			return t
		}
	}
	return t
}

func align(aligns string, i int) string {
	if i < len(aligns) && aligns[i] == 'l' {
		return "L"
	}
	return "R"
}

func verdictColor(v sla.Verdict) (int, int, int, bool) {
	switch v {
	case sla.Pass:
		return 29, 107, 59, true
	case sla.Fail:
		return 176, 28, 28, true
	case sla.InsufficientData:
		return 138, 109, 0, true
	}
	return 0, 0, 0, false
}

func (d *pdfDoc) cover() {
	p, m := d.pdf, d.m
	p.AddPage()
	p.Ln(6)
	d.font("B", 22)
	p.CellFormat(pdfWidth, 11, d.tr(m.Title()), "", 1, "L", false, 0, "")
	d.font("", 12)
	sub := "Site " + m.Site
	if m.Customer != "" {
		sub += " · prepared for " + m.Customer
	} else {
		sub += " · all customers"
	}
	p.CellFormat(pdfWidth, 7, d.tr(sub), "", 1, "L", false, 0, "")
	d.font("", 9)
	p.SetTextColor(pdfTextGry, pdfTextGry, pdfTextGry)
	lines := []string{
		fmt.Sprintf("Period %s to %s (%s)", d.tm(m.Period.Start), d.tm(m.Period.End), m.TimeZone),
		"Data as of " + d.tm(m.AsOf),
	}
	if r := d.opt.Revision; r != nil {
		lines = append(lines, fmt.Sprintf("Revision %d of %s by %s: %s", r.Number, d.tm(r.CreatedAt), r.CreatedBy, r.Reason))
	}
	for _, l := range lines {
		p.CellFormat(pdfWidth, 5, d.tr(l), "", 1, "L", false, 0, "")
	}
	p.SetTextColor(0, 0, 0)
	p.Ln(3)
	if m.Provisional {
		p.SetFillColor(255, 244, 214)
		d.font("B", 9)
		p.CellFormat(pdfWidth, 7, d.tr("Provisional: the month is not over; figures cover the elapsed part only."), "1", 1, "L", true, 0, "")
		p.Ln(3)
	}
	for _, n := range m.Notices() {
		p.SetFillColor(255, 228, 228)
		d.font("B", 9)
		p.MultiCell(pdfWidth, 5, d.tr("Notice: "+n), "1", "L", true)
		p.Ln(2)
	}
	t := m.Totals()
	d.heading("Summary", 13)
	d.para(fmt.Sprintf("%s: %d met their availability objective, %d did not, %d had insufficient data. "+
		"%s, %d of them recovered later than the RTO. Downtime in all: %s, of which %s from energy actions.",
		Plural(t.Services, "service"), t.Pass, t.Fail, t.Insufficient, Plural(t.Failures, "failure"), t.RTOBreaches, HumanDuration(t.Down), HumanDuration(t.EnergyActionDown)), 9)

	widths := []float64{26, 24, 16, 15, 14, 30, 27, 9, 8, 17}
	header := []string{"Service", "SLA, objective", "Availability", "A min", "Coverage", "Downtime", "Budget left", "Fail.", "RTO", "Verdict"}
	var rows [][]string
	for _, s := range m.Services {
		f := s.Figures
		fails := fmt.Sprint(f.Failures)
		if f.MaxFailures >= 0 {
			fails += "/" + fmt.Sprint(f.MaxFailures)
		}
		verdict := string(f.Verdict)
		if f.Verdict == sla.InsufficientData {
			verdict = "INSUFF. DATA"
		}
		rows = append(rows, []string{
			f.Service, f.SLA + " " + percent(f.Objective, 2), f.Availability.Percent(3), f.AvailabilityMin.Percent(3), f.Coverage.Percent(2),
			HumanDuration(f.Down) + " " + f.DowntimeRatio().Percent(3),
			HumanDuration(f.BudgetLeft) + " " + f.BudgetLeftRatio().Percent(0),
			fails, fmt.Sprint(f.RTOBreaches), verdict,
		})
	}
	d.table(widths, "lll", header, rows, func(r, c int) (int, int, int, bool) {
		if c != len(header)-1 {
			return 0, 0, 0, false
		}
		return verdictColor(m.Services[r].Figures.Verdict)
	})
	d.font("", 7)
	p.SetTextColor(pdfTextGry, pdfTextGry, pdfTextGry)
	p.MultiCell(pdfWidth, 3.5, d.tr("Downtime: time and share of known service time. Budget left: time and share of the error budget. "+
		"INSUFF. DATA: insufficient data, coverage below the minimum. Definitions on the last page."), "", "L", false)
	p.SetTextColor(0, 0, 0)
}

func (d *pdfDoc) service(s ServiceReport) {
	p, f := d.pdf, s.Figures
	p.AddPage()
	title := "Service " + f.Service
	if s.Service.Customer != "" {
		title += " (" + s.Service.Customer + ")"
	}
	p.Bookmark(d.tr(f.Service), 0, -1)
	d.heading(title, 15)
	if s.Notice != "" {
		p.SetTextColor(176, 28, 28)
		d.font("B", 9)
		p.MultiCell(pdfWidth, 4.8, d.tr("Notice: "+s.Notice), "", "L", false)
		p.SetTextColor(0, 0, 0)
		p.Ln(2)
	}

	rto := "none"
	if s.SLA.RTO > 0 {
		rto = HumanDuration(s.SLA.RTO)
	}
	limit := "not limited"
	if s.SLA.MaxFailures >= 0 {
		limit = fmt.Sprintf("at most %d a month", s.SLA.MaxFailures)
	}
	kv := [][2]string{
		{"SLA", fmt.Sprintf("%s: %s over %s (%s); RTO %s; failures %s; response within %s", s.SLA.Name, percent(s.SLA.Objective, 3), f.ServiceHours, s.SLA.TimeZone, rto, limit, HumanDuration(s.SLA.ResponseBound))},
		{"Service time", HumanDuration(f.ServiceTime) + partial(f)},
		{"Up / down", fmt.Sprintf("%s / %s (%s of known time)", HumanDuration(f.Up), HumanDuration(f.Down), f.DowntimeRatio().Percent(3))},
		{"Unknown", HumanDuration(f.Unknown) + " (no valid data; neither up nor down)"},
		{"Planned", HumanDuration(f.Planned) + " (announced at least " + HumanDuration(s.SLA.NoticePeriod) + " ahead; excluded)"},
		{"Availability", fmt.Sprintf("%s; unknown as down %s; coverage %s; %s", f.Availability.Percent(3), f.AvailabilityMin.Percent(3), f.Coverage.Percent(3), f.Verdict)},
		{"Error budget", fmt.Sprintf("%s: spent %s (%s), left %s (%s)", HumanDuration(f.BudgetTotal), HumanDuration(f.BudgetSpent), f.BudgetSpentRatio().Percent(1), HumanDuration(f.BudgetLeft), f.BudgetLeftRatio().Percent(1))},
		{"Failures", failuresLine(f)},
	}
	if f.EnergyActionDown > 0 {
		kv = append(kv, [2]string{"Energy actions", HumanDuration(f.EnergyActionDown) + " of the downtime was caused by setsuden's energy actions"})
	}
	if f.ShortNoticeDown > 0 {
		kv = append(kv, [2]string{"Short notice", HumanDuration(f.ShortNoticeDown) + " of maintenance announced too late, counted as downtime"})
	}
	if f.OverrunDown > 0 {
		kv = append(kv, [2]string{"Overrun", HumanDuration(f.OverrunDown) + " of downtime after maintenance windows ended"})
	}
	for _, row := range kv {
		d.ensure(pdfRowH)
		d.font("B", 8.5)
		y := p.GetY()
		p.CellFormat(32, 4.6, d.tr(row[0]), "", 0, "L", false, 0, "")
		d.font("", 8.5)
		p.SetXY(pdfMargin+32, y)
		p.MultiCell(pdfWidth-32, 4.6, d.tr(row[1]), "", "L", false)
	}
	for _, b := range f.Breaches {
		p.SetTextColor(176, 28, 28)
		d.font("B", 8.5)
		p.MultiCell(pdfWidth, 4.6, d.tr("Not met: "+b), "", "L", false)
		p.SetTextColor(0, 0, 0)
	}
	p.Ln(2)

	d.heading("Daily availability", 11)
	d.chart(newDailyChart(f))

	d.heading("Incidents", 11)
	if len(f.Incidents) == 0 {
		d.para("None.", 8.5)
	} else {
		var rows [][]string
		for _, in := range f.Incidents {
			end := d.tm(in.End)
			if in.Ongoing {
				end = "ongoing"
			}
			rto := "met"
			switch {
			case !in.Failure:
				rto = "no failure"
			case in.RTOBreach:
				rto = "EXCEEDED"
			}
			cause := causes(in)
			if in.Stretches > 1 {
				cause += fmt.Sprintf(" (%d merged)", in.Stretches)
			}
			rows = append(rows, []string{d.tm(in.Start), end, HumanDuration(in.TTR), HumanDuration(in.Downtime), rto, cause})
		}
		d.table([]float64{27, 27, 22, 22, 20, 68}, "ll...l", []string{"Start", "End", "Time to recover", "Downtime", "RTO", "Cause"}, rows,
			func(r, c int) (int, int, int, bool) { return 176, 28, 28, c == 4 && f.Incidents[r].RTOBreach })
	}
	if len(f.CarriedOver) > 0 {
		var rows [][]string
		for _, in := range f.CarriedOver {
			rows = append(rows, []string{d.tm(in.Start), d.tm(in.End), HumanDuration(in.DowntimeInPeriod), causes(in)})
		}
		d.para("Carried over from the previous month (counted there; downtime split):", 8)
		d.table([]float64{30, 30, 30, 96}, "ll.l", []string{"Start", "End", "Downtime this month", "Cause"}, rows, nil)
	}

	d.heading("Maintenance", 11)
	if len(f.Maintenance) == 0 {
		d.para("None.", 8.5)
	} else {
		var rows [][]string
		for _, mo := range f.Maintenance {
			class := "planned"
			if mo.Class != sla.MaintenancePlanned {
				class = "SHORT NOTICE"
			}
			w := mo.Window
			ann := d.tm(w.AnnouncedAt) + " by " + w.AnnouncedBy
			switch {
			case w.Imported():
				ann += "\nrecorded " + d.tm(w.RecordedAt) + ", imported from " + w.ImportedFrom + " by " + w.ImportedBy
			case mo.Backdated && w.BackdateApprovedBy != "":
				ann += "\n(back-dated: recorded " + d.tm(w.RecordedAt) + ", approved by " + w.BackdateApprovedBy + ")"
			case mo.Backdated:
				ann += "\n(BACK-DATED: recorded " + d.tm(w.RecordedAt) + "; notice counts from then)"
			}
			reason := w.Reason
			if reason == "" {
				reason = "-"
			}
			rows = append(rows, []string{w.ID, d.tm(w.Start), d.tm(w.End), ann, HumanDuration(mo.Notice), class,
				HumanDuration(mo.Excluded + mo.CountedDown), HumanDuration(mo.Overrun), reason})
		}
		d.wrapTable([]float64{24, 16, 16, 42, 14, 22, 15, 13, 24}, "llll.l..l", []string{"Window", "From", "To", "Announced", "Notice", "Counted as", "In month", "Overrun", "Reason"}, rows,
			func(r, c int) (int, int, int, bool) {
				return 176, 28, 28, (c == 5 && f.Maintenance[r].Class != sla.MaintenancePlanned) || (c == 3 && f.Maintenance[r].Backdated && !f.Maintenance[r].Window.Imported() && f.Maintenance[r].Window.BackdateApprovedBy == "")
			})
		d.para("Planned windows are excluded from service time; short-notice windows count as downtime.", 7.5)
	}

	d.heading("Response time", 11)
	r := f.Response
	if r.Valid == 0 {
		d.para("No probe results.", 8.5)
	} else {
		verdict := string(r.Verdict)
		if verdict == "" {
			verdict = "-"
		}
		d.table([]float64{22, 34, 16, 22, 22, 22, 22, 26}, "", []string{"Valid probes", "Within " + HumanDuration(r.Bound), "Failed", "p50", "p95", "p99", "Max", "Verdict"},
			[][]string{{fmt.Sprint(r.Valid), fmt.Sprintf("%d (%s)", r.Within, r.Compliance.Percent(2)), fmt.Sprint(r.Failed),
				fmt.Sprintf("%.0f ms", r.P50), fmt.Sprintf("%.0f ms", r.P95), fmt.Sprintf("%.0f ms", r.P99), fmt.Sprintf("%.0f ms", r.Max), verdict}},
			func(_, c int) (int, int, int, bool) {
				if c != 7 {
					return 0, 0, 0, false
				}
				return verdictColor(r.Verdict)
			})
		if r.Estimated {
			d.para("p50, p95 and p99 are estimated from the daily probe summaries: at most 1% above the exact values.", 7.5)
		}
	}
}

func partial(f sla.Figures) string {
	if f.Partial {
		return " (the service existed for part of the month)"
	}
	return ""
}

func failuresLine(f sla.Figures) string {
	if f.Failures == 0 {
		return "none"
	}
	return fmt.Sprintf("%d; MTTR %s, MTBF %s, longest %s, %d over the RTO", f.Failures, HumanDuration(f.MTTR), HumanDuration(f.MTBF), HumanDuration(f.MaxTTR), f.RTOBreaches)
}

// chart draws the daily availability bars with fpdf rectangles.
func (d *pdfDoc) chart(c dailyChart) {
	p := d.pdf
	const h, axis, labelH = 42.0, 16.0, 7.0
	d.ensure(h + labelH + 4)
	x0, y0 := pdfMargin+axis, p.GetY()
	w := pdfWidth - axis
	p.SetFillColor(248, 248, 248)
	p.SetDrawColor(200, 200, 200)
	p.Rect(x0, y0, w, h, "FD")
	d.font("", 6.5)
	label := func(y float64, s string) {
		p.SetXY(pdfMargin, y-2)
		p.CellFormat(axis-1.5, 4, d.tr(s), "", 0, "R", false, 0, "")
	}
	label(y0, "100%")
	label(y0+h, percent(c.Floor, 1))
	slot := w / float64(max(len(c.Bars), 1))
	for i, b := range c.Bars {
		x := x0 + float64(i)*slot
		if b.Kind != barNone {
			col := barColors[b.Kind]
			p.SetFillColor(col[0], col[1], col[2])
			bh := h * b.Height
			p.Rect(x+slot*0.15, y0+h-bh, slot*0.7, bh, "F")
		}
		for i, mark := range []struct {
			on bool
			k  barKind
		}{{b.HasUnknown, barUnknown}, {b.HasPlanned, barPlanned}} {
			if mark.on && b.Kind != barUnknown && b.Kind != barPlanned {
				col := barColors[mark.k]
				p.SetFillColor(col[0], col[1], col[2])
				p.Rect(x+slot*0.15, y0+h+0.4+1.1*float64(i), slot*0.7, 0.8, "F")
			}
		}
		p.SetXY(x, y0+h+2.3)
		p.CellFormat(slot, 3.5, b.Day, "", 0, "C", false, 0, "")
	}
	oy := y0 + h*(1-c.ObjY)
	p.SetDrawColor(40, 40, 40)
	p.SetDashPattern([]float64{1.5, 1}, 0)
	p.Line(x0, oy, x0+w, oy)
	p.SetDashPattern(nil, 0)
	p.SetDrawColor(0, 0, 0)
	obj := d.tr("objective " + percent(c.Objective, 2))
	lw := p.GetStringWidth(obj) + 2
	p.SetFillColor(255, 255, 255)
	p.SetXY(x0+w-lw-1, oy-4.2)
	p.CellFormat(lw, 3.5, obj, "", 0, "C", true, 0, "")
	// Legend.
	p.SetXY(x0, y0+h+labelH)
	for _, l := range []struct {
		k    barKind
		text string
	}{{barMet, "objective met"}, {barMissed, "below objective"}, {barUnknown, "no data (strip: part of the day)"}, {barPlanned, "planned maintenance (strip: part)"}} {
		col := barColors[l.k]
		p.SetFillColor(col[0], col[1], col[2])
		x, y := p.GetXY()
		p.Rect(x, y+0.8, 2.5, 2.5, "F")
		p.SetX(x + 3.5)
		p.CellFormat(p.GetStringWidth(l.text)+6, 4, l.text, "", 0, "L", false, 0, "")
	}
	p.SetFillColor(255, 255, 255)
	p.Ln(7)
}

func (d *pdfDoc) energy(e Energy) {
	d.pdf.AddPage()
	d.heading("Energy", 15)
	t := d.m.Totals()
	rows := [][]string{
		{"Energy", fmt.Sprintf("%.1f kWh", e.KWh)},
		{"PUE", fmt.Sprintf("%.2f", e.PUE)},
		{"Peak demand (30-minute)", fmt.Sprintf("%.1f kW", e.PeakDemandKW)},
		{"Demand target", fmt.Sprintf("%.1f kW", e.TargetKW)},
		{"Margin to target", fmt.Sprintf("%.1f kW", e.MarginKW)},
		{"Load-shedding events", fmt.Sprint(e.ShedEvents)},
		{"Service downtime from energy actions", HumanDuration(t.EnergyActionDown)},
	}
	d.table([]float64{70, 50}, "l", []string{"Item", "Value"}, rows, nil)
}

func (d *pdfDoc) glossary() {
	d.pdf.AddPage()
	d.heading("How to read this report", 13)
	for _, def := range Definitions(d.m.Policy, d.m.Checks) {
		d.font("B", 9)
		d.pdf.MultiCell(pdfWidth, 4.5, d.tr(def.Term), "", "L", false)
		d.para(def.Text, 9)
	}
}

package report

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

//go:embed templates/monthly.html
var templateFS embed.FS

// WriteHTML renders the report as one self-contained HTML page: summary
// table with time and percentage side by side, per service its figures,
// an inline SVG chart of daily availability, incidents, maintenance and
// response-time percentiles.
func WriteHTML(w io.Writer, m Monthly) error {
	loc := m.location()
	funcs := template.FuncMap{
		"tm": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.In(loc).Format("2006-01-02 15:04")
		},
		"dur":         HumanDuration,
		"plural":      Plural,
		"definitions": func(m Monthly) []Definition { return Definitions(m.Policy, m.Checks) },
		"durz": func(d time.Duration) string {
			if d == 0 {
				return "none"
			}
			return HumanDuration(d)
		},
		"pct":    func(r sla.Ratio) string { return r.Percent(3) },
		"pctf":   func(x float64) string { return percent(x, 3) },
		"msf":    func(x float64) string { return fmt.Sprintf("%.0f ms", x) },
		"causes": causes,
		"chart":  func(f sla.Figures) template.HTML { return newDailyChart(f).svg() },
		"verdictClass": func(v sla.Verdict) string {
			s, _, _ := strings.Cut(string(v), " ")
			return s
		},
	}
	t, err := template.New("monthly.html").Funcs(funcs).ParseFS(templateFS, "templates/monthly.html")
	if err != nil {
		return fmt.Errorf("report html: %w", err)
	}
	data := struct {
		M      Monthly
		Totals Totals
	}{m, m.Totals()}
	if err := t.Execute(w, data); err != nil {
		return fmt.Errorf("report html: %w", err)
	}
	return nil
}

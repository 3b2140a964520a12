package report_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/setsuden/setsuden/report"
)

// TestCSVDefusesFormulas: site, customer and service names that start like
// a spreadsheet formula are written as text; negative numbers stay numbers.
func TestCSVDefusesFormulas(t *testing.T) {
	m := generate(t, report.Filter{})
	m.Site = "=cmd|' /C calc'!A0"
	for i := range m.Services {
		m.Services[i].Service.Customer = "@SUM(A1:A9)"
	}
	m.Services[0].Figures.SLA = "+1+1"
	m.Services[1].Figures.SLA = "-2+3"
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, m); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, r := range rows[1:] {
		for i, c := range r {
			if c != "" && strings.ContainsRune("=+@\t\r", rune(c[0])) {
				t.Errorf("%s = %q starts a formula", rows[0][i], c)
			}
		}
		if r[col["site"]] != "'=cmd|' /C calc'!A0" || r[col["customer"]] != "'@SUM(A1:A9)" {
			t.Errorf("site %q, customer %q", r[col["site"]], r[col["customer"]])
		}
	}
	if rows[1][col["sla"]] != "'+1+1" || rows[2][col["sla"]] != "'-2+3" {
		t.Errorf("sla cells %q %q", rows[1][col["sla"]], rows[2][col["sla"]])
	}
	var web []string
	for _, r := range rows[1:] {
		if r[col["service"]] == "web" {
			web = r
		}
	}
	if web[col["budget_left_s"]] != "-3415.2" {
		t.Errorf("a negative number was altered: %q", web[col["budget_left_s"]])
	}
}

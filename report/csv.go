package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// CSVHeader is the header row of WriteCSV. Times are seconds; percentages
// are 0-100 with 4 decimals; an undefined ratio is empty.
// response_percentiles says how p50/p95/p99 were found: "exact" from the
// probe samples, "estimated" from daily probe summaries (at most 1% high).
var CSVHeader = []string{
	"month", "site", "customer", "service", "sla", "objective_pct", "service_hours", "provisional", "partial",
	"service_time_s", "up_s", "down_s", "down_pct", "unknown_s", "planned_s",
	"availability_pct", "availability_min_pct", "coverage_pct", "verdict",
	"incidents", "failures", "max_failures", "rto_s", "rto_breaches", "max_ttr_s", "mttr_s", "mtbf_s",
	"budget_total_s", "budget_spent_s", "budget_spent_pct", "budget_left_s", "budget_left_pct",
	"energy_action_down_s", "short_notice_down_s", "overrun_down_s", "planned_windows", "short_notice_windows",
	"response_valid", "response_within_pct", "response_p50_ms", "response_p95_ms", "response_p99_ms", "response_verdict",
	"breaches", "response_percentiles", "notice",
	// The month's energy section, the same on every row (empty without
	// one; the priced figures empty without a tariff, energy_note says why).
	"energy_kwh", "energy_coverage_pct", "pue", "peak_demand_kw", "peak_block", "contract_kw", "bill_yen",
	"shed_events", "shed_yen", "co2_location_kg", "co2_adjusted_kg", "energy_note",
}

// WriteCSV writes one row per service (machine-readable: seconds and
// percentages in separate columns, time and % side by side).
func WriteCSV(w io.Writer, m Monthly) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("report csv: %w", err)
	}
	for _, s := range m.Services {
		if err := cw.Write(csvSafe(csvRow(m, s))); err != nil {
			return fmt.Errorf("report csv: service %s: %w", s.Service.Name, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report csv: %w", err)
	}
	return nil
}

func csvRow(m Monthly, s ServiceReport) []string {
	f := s.Figures
	// Seconds to the millisecond: SLA figures carry no meaning below it (a
	// change recorded a nanosecond after another, Controller.sequence).
	sec := func(d time.Duration) string {
		return strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', -1, 64)
	}
	pct := func(r sla.Ratio) string {
		if !r.Valid() {
			return ""
		}
		return strconv.FormatFloat(100*r.Value(), 'f', 4, 64)
	}
	planned, short := 0, 0
	for _, mo := range f.Maintenance {
		if mo.Class == sla.MaintenancePlanned {
			planned++
		} else {
			short++
		}
	}
	maxFail := strconv.Itoa(f.MaxFailures)
	if f.MaxFailures < 0 {
		maxFail = ""
	}
	pctOf := func(x float64) string { return strconv.FormatFloat(100*x, 'f', 4, 64) }
	row := []string{
		m.Month, m.Site, s.Service.Customer, f.Service, f.SLA, pctOf(f.Objective), f.ServiceHours,
		strconv.FormatBool(f.Provisional), strconv.FormatBool(f.Partial),
		sec(f.ServiceTime), sec(f.Up), sec(f.Down), pct(f.DowntimeRatio()), sec(f.Unknown), sec(f.Planned),
		pct(f.Availability), pct(f.AvailabilityMin), pct(f.Coverage), string(f.Verdict),
		strconv.Itoa(len(f.Incidents)), strconv.Itoa(f.Failures), maxFail, sec(f.RTO), strconv.Itoa(f.RTOBreaches),
		sec(f.MaxTTR), sec(f.MTTR), sec(f.MTBF),
		sec(f.BudgetTotal), sec(f.BudgetSpent), pct(f.BudgetSpentRatio()), sec(f.BudgetLeft), pct(f.BudgetLeftRatio()),
		sec(f.EnergyActionDown), sec(f.ShortNoticeDown), sec(f.OverrunDown), strconv.Itoa(planned), strconv.Itoa(short),
		strconv.Itoa(f.Response.Valid), pct(f.Response.Compliance),
		ms(f.Response.P50, f.Response.Valid), ms(f.Response.P95, f.Response.Valid), ms(f.Response.P99, f.Response.Valid),
		string(f.Response.Verdict), strings.Join(f.Breaches, "; "), percentiles(f.Response), s.Notice,
	}
	return append(row, energyCells(m.Energy)...)
}

// energyCells are the energy section's columns (CSVHeader).
func energyCells(e *Energy) []string {
	if e == nil {
		return make([]string, 12)
	}
	num := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	block := ""
	if !e.PeakBlock.IsZero() {
		block = e.PeakBlock.UTC().Format(time.RFC3339)
	}
	pue := num(e.PUE)
	notes := []string{}
	if e.PUENote != "" {
		pue, notes = "", append(notes, "PUE: "+e.PUENote)
	}
	out := []string{num(e.KWh), strconv.FormatFloat(100*e.Coverage, 'f', 4, 64), pue, num(e.PeakDemandKW), block}
	if e.Priced {
		co2l, co2a := "", ""
		if e.CO2Source != "" {
			co2l, co2a = num(e.CO2LocationKg), num(e.CO2AdjustedKg)
		}
		out = append(out, num(e.TargetKW), num(e.BillYen), strconv.Itoa(e.ShedEvents), num(e.ShedYen), co2l, co2a)
	} else {
		out = append(out, "", "", strconv.Itoa(e.ShedEvents), "", "", "")
		if e.PricedNote != "" {
			notes = append(notes, e.PricedNote)
		}
	}
	return append(out, strings.Join(notes, "; "))
}

func percentiles(r sla.ResponseFigures) string {
	switch {
	case r.Valid == 0:
		return ""
	case r.Estimated:
		return "estimated"
	}
	return "exact"
}

func ms(v float64, n int) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

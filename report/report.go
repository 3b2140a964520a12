// Package report builds and renders the monthly SLA report: per service,
// availability against service hours with planned and short-notice
// maintenance apart, failures against their limit, each failure's time to
// recover against the RTO, response time against its bound, the error
// budget in time and percent, and an optional energy section
// (shared/mission.md; research §1.7 lists what users ask of such reports:
// PDF per customer, time and percentage side by side, planned vs
// unplanned, maintenance-aware accounting).
//
// Generate gathers the data through a small Store interface and evaluates
// it with rules/sla; WriteCSV, WriteHTML and WritePDF render the result; an
// Archive keeps every issued report immutable and versioned. Rollup writes
// the daily probe summaries that Generate reads from a ProbeSummaryStore
// instead of every probe sample.
package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// Monthly is one month's report for a site, optionally for one customer.
type Monthly struct {
	Site     string     `json:"site"`
	Month    string     `json:"month"` // 2006-01
	TimeZone string     `json:"time_zone"`
	Period   sla.Period `json:"period"`
	// AsOf is how far the data reached when the report was computed.
	AsOf time.Time `json:"as_of"`
	// Provisional: computed before the month ended.
	Provisional bool `json:"provisional,omitempty"`
	// Customer the report is prepared for; empty for all customers.
	Customer string     `json:"customer,omitempty"`
	Policy   sla.Policy `json:"policy"`
	// Checks is the site's check policy, for the definitions (zero: the
	// default one).
	Checks   sla.CheckPolicy `json:"checks,omitzero"`
	Services []ServiceReport `json:"services"`
	// Energy is filled by the caller (rules/energy, rules/demand); nil
	// leaves the section out.
	Energy *Energy `json:"energy,omitempty"`
}

// ServiceReport is one service's part of the report.
type ServiceReport struct {
	Service sla.Service `json:"service"`
	SLA     sla.SLA     `json:"sla"`
	Figures sla.Figures `json:"figures"`
	// Notice says why the figures cannot be trusted, e.g. no state change
	// is stored for the service (NoStateChangesNotice); every format
	// shows it prominently.
	Notice string `json:"notice,omitempty"`
}

// NoStateChangesNotice is the notice of a service with no SLA state change
// stored in or before the month: every second is UNKNOWN, so no
// availability can be stated. probes is the number of probe results the
// month has for it.
func NoStateChangesNotice(month string, probes int) string {
	what := "no probe results either"
	if probes > 0 {
		what = fmt.Sprintf("%d probe results are stored", probes)
	}
	return fmt.Sprintf("no SLA state changes are stored for %s (%s): every second is UNKNOWN and no availability can be stated; derive them from the stored history with `setsuden sla backfill --from %s-01 --to <last day>`, or run the daemon",
		month, what, month)
}

// Notices are the services' notices, "service: notice", in report order.
func (m Monthly) Notices() []string {
	var out []string
	for _, s := range m.Services {
		if s.Notice != "" {
			out = append(out, s.Service.Name+": "+s.Notice)
		}
	}
	return out
}

// Energy is the energy section (research §5a "Energy section of the same
// monthly report"); units are part of the names.
type Energy struct {
	KWh          float64 `json:"kwh"`
	PUE          float64 `json:"pue"`
	PeakDemandKW float64 `json:"peak_demand_kw"`
	TargetKW     float64 `json:"target_kw"`
	MarginKW     float64 `json:"margin_kw"`
	ShedEvents   int     `json:"shed_events"`
}

// Scope names whom the report covers: the customer, or "all".
func (m Monthly) Scope() string {
	if m.Customer == "" {
		return "all"
	}
	return m.Customer
}

// Totals counts services by verdict.
type Totals struct {
	Services, Pass, Fail, Insufficient int
	Down, EnergyActionDown             time.Duration
	Incidents, Failures, RTOBreaches   int
}

// Totals sums the report over its services.
func (m Monthly) Totals() Totals {
	var t Totals
	for _, s := range m.Services {
		f := s.Figures
		t.Services++
		switch f.Verdict {
		case sla.Pass:
			t.Pass++
		case sla.Fail:
			t.Fail++
		default:
			t.Insufficient++
		}
		t.Down += f.Down
		t.EnergyActionDown += f.EnergyActionDown
		t.Incidents += len(f.Incidents)
		t.Failures += f.Failures
		t.RTOBreaches += f.RTOBreaches
	}
	return t
}

// Title is the report's heading, e.g. "SLA report April 2025".
func (m Monthly) Title() string {
	return "SLA report " + m.Period.Start.In(m.location()).Format("January 2006")
}

func (m Monthly) location() *time.Location {
	if loc, err := time.LoadLocation(m.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

// sortServices orders by customer, then service name.
func sortServices(s []ServiceReport) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Service.Customer != s[j].Service.Customer {
			return s[i].Service.Customer < s[j].Service.Customer
		}
		return s[i].Service.Name < s[j].Service.Name
	})
}

// HumanDuration writes d as "2h 05m 10s", "3d 04h 00m", "45s"; negative
// durations (an overspent budget) get a minus sign.
func HumanDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h, m, s := d/time.Hour, (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%s%dd %02dh %02dm", sign, days, h, m)
	case h > 0:
		return fmt.Sprintf("%s%dh %02dm %02ds", sign, h, m, s)
	case m > 0:
		return fmt.Sprintf("%s%dm %02ds", sign, m, s)
	}
	return fmt.Sprintf("%s%ds", sign, s)
}

// Plural is n with the noun, plural unless n is 1: "1 failure", "2 failures".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// percent formats a fraction, e.g. 0.99953 -> "99.953%".
func percent(x float64, decimals int) string { return fmt.Sprintf("%.*f%%", decimals, 100*x) }

// causes joins incident causes for display.
func causes(in sla.Incident) string {
	if len(in.Causes) == 0 {
		return "-"
	}
	return strings.Join(in.Causes, "; ")
}

// Aggregate sums consecutive monthly reports (a quarter, a year) per
// service from their seconds and counts (sla.Sum), never by averaging
// percentages. A service missing from a month in the middle is an error.
func Aggregate(months []Monthly) (map[string]sla.Figures, error) {
	per := map[string][]sla.Figures{}
	var order []string
	for _, m := range months {
		for _, s := range m.Services {
			if _, ok := per[s.Service.Name]; !ok {
				order = append(order, s.Service.Name)
			}
			per[s.Service.Name] = append(per[s.Service.Name], s.Figures)
		}
	}
	out := make(map[string]sla.Figures, len(per))
	for _, name := range order {
		figs := per[name]
		sort.Slice(figs, func(i, j int) bool { return figs[i].Period.Start.Before(figs[j].Period.Start) })
		sum, err := sla.Sum(figs)
		if err != nil {
			return nil, fmt.Errorf("report: aggregate %s: %w", name, err)
		}
		out[name] = sum
	}
	return out, nil
}

package sla

import (
	"fmt"
	"math"
	"time"
)

// Ratio is Num/Den, kept as its parts (seconds or counts) so that figures
// can be summed and never hold NaN.
type Ratio struct {
	Num float64 `json:"num"`
	Den float64 `json:"den"`
}

// Valid says whether the ratio is defined (Den > 0).
func (r Ratio) Valid() bool { return r.Den > 0 }

// Value is Num/Den, or 0 when undefined.
func (r Ratio) Value() float64 {
	if r.Den <= 0 {
		return 0
	}
	return r.Num / r.Den
}

// Percent formats the ratio as a percentage with the given decimals, or "n/a".
func (r Ratio) Percent(decimals int) string {
	if !r.Valid() {
		return "n/a"
	}
	return fmt.Sprintf("%.*f%%", decimals, 100*r.Value())
}

// String is Percent(3).
func (r Ratio) String() string { return r.Percent(3) }

func ratio(num, den time.Duration) Ratio {
	return Ratio{Num: num.Seconds(), Den: den.Seconds()}
}

// Verdict of an SLA item.
type Verdict string

const (
	Pass             Verdict = "PASS"
	Fail             Verdict = "FAIL"
	InsufficientData Verdict = "INSUFFICIENT DATA"
)

// Incident is a maximal stretch of downtime, with flaps closer than the
// merge gap joined (research §5a "Incidents").
type Incident struct {
	// Start is the first moment of downtime in service time; End is when
	// the service recovered (wall clock, may lie outside service hours).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Ongoing: still down when the data ends; End is then that time.
	Ongoing bool     `json:"ongoing,omitempty"`
	Causes  []string `json:"causes,omitempty"`
	// Maintenance is the window behind a short-notice or overrun incident.
	Maintenance string `json:"maintenance,omitempty"`
	// Downtime is all of the incident's in-service DOWN time;
	// DowntimeInPeriod the part inside the evaluated period.
	Downtime         time.Duration `json:"downtime"`
	DowntimeInPeriod time.Duration `json:"downtime_in_period"`
	// TTR is service time from Start to End, less planned time: flaps
	// merged into the incident and unknown stretches inside it count,
	// because the service was not reliably restored.
	TTR time.Duration `json:"ttr"`
	// RTOBreach: a failure whose TTR exceeds the SLA's RTO.
	RTOBreach bool `json:"rto_breach,omitempty"`
	// Failure: counts against MaxFailures and the RTO; short-notice
	// maintenance is downtime but not a failure.
	Failure bool `json:"failure"`
	// EnergyAction: caused (at least in part) by setsuden's energy actions.
	EnergyAction bool `json:"energy_action,omitempty"`
	// Stretches is how many separate down stretches were merged.
	Stretches int `json:"stretches"`
}

// MaintenanceOutcome is how one maintenance window was counted.
type MaintenanceOutcome struct {
	Window MaintenanceWindow `json:"window"`
	Class  MaintenanceClass  `json:"class"`
	// Notice is the time from NoticeFrom to Start.
	Notice    time.Duration `json:"notice"`
	Backdated bool          `json:"backdated,omitempty"`
	// Excluded is in-service PLANNED time in the period.
	Excluded time.Duration `json:"excluded"`
	// CountedDown is in-service downtime of a short-notice window.
	CountedDown time.Duration `json:"counted_down"`
	// Overrun is in-service downtime after the window's end.
	Overrun time.Duration `json:"overrun"`
}

// DayFigures is one calendar day of the period, in service time.
type DayFigures struct {
	Date    string        `json:"date"` // 2006-01-02 in the SLA time zone
	Up      time.Duration `json:"up"`
	Down    time.Duration `json:"down"`
	Unknown time.Duration `json:"unknown"`
	Planned time.Duration `json:"planned"`
}

// Availability of the day, up/(up+down).
func (d DayFigures) Availability() Ratio { return ratio(d.Up, d.Up+d.Down) }

// ResponseFigures is response time against the SLA's bound (§5a
// "Response-time SLI"): a probe is valid inside service time outside
// PLANNED and UNKNOWN; failed probes count as not within the bound.
type ResponseFigures struct {
	Bound     time.Duration `json:"bound"`
	Objective float64       `json:"objective,omitempty"`
	Valid     int           `json:"valid"`
	Within    int           `json:"within"`
	Failed    int           `json:"failed"`
	// Excluded probes fell outside service time or in PLANNED/UNKNOWN.
	Excluded   int   `json:"excluded"`
	Compliance Ratio `json:"compliance"`
	// Percentiles and maximum of successful valid probes, in ms.
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	// Estimated: the percentiles are estimates, not nearest-rank values
	// of the samples: from daily probe summaries (Evaluation.UseSummaries)
	// at most 0.96% above the exact value (FineGrowth), or, for sums of
	// periods (Sum), from Histogram with up to 10% error.
	Estimated bool `json:"estimated,omitempty"`
	// Histogram counts successful valid probes in buckets whose upper
	// bounds grow by 10% from 1 ms; it lets periods be summed.
	Histogram []uint32 `json:"histogram,omitempty"`
	Verdict   Verdict  `json:"verdict,omitempty"`
}

// Figures are one service's results over one period (or a sum of them).
type Figures struct {
	Service      string  `json:"service"`
	Customer     string  `json:"customer,omitempty"`
	SLA          string  `json:"sla"`
	Objective    float64 `json:"objective"`
	ServiceHours string  `json:"service_hours"`
	Period       Period  `json:"period"`
	// Provisional: evaluated before the period ended.
	Provisional bool `json:"provisional,omitempty"`
	// Partial: the service existed for part of the period only; the
	// budget is prorated (§5a "Partial months").
	Partial bool `json:"partial,omitempty"`

	// In-service time by class (T_E = ServiceTime).
	ServiceTime time.Duration `json:"service_time"`
	Up          time.Duration `json:"up"`
	Down        time.Duration `json:"down"`
	Unknown     time.Duration `json:"unknown"`
	Planned     time.Duration `json:"planned"`
	Degraded    time.Duration `json:"degraded"`
	// Downtime by cause, each also inside Down.
	EnergyActionDown time.Duration `json:"energy_action_down"`
	ShortNoticeDown  time.Duration `json:"short_notice_down"`
	OverrunDown      time.Duration `json:"overrun_down"`
	UnannouncedDown  time.Duration `json:"unannounced_down"`

	// A = up/(up+down); A_min = up/(T_E - planned); C = 1 - unknown/(T_E - planned).
	Availability    Ratio   `json:"availability"`
	AvailabilityMin Ratio   `json:"availability_min"`
	Coverage        Ratio   `json:"coverage"`
	MinCoverage     float64 `json:"min_coverage"`
	Verdict         Verdict `json:"verdict"`

	Incidents   []Incident `json:"incidents,omitempty"`
	CarriedOver []Incident `json:"carried_over,omitempty"`
	// Failures counts incidents that are failures; MaxFailures is the
	// SLA's limit per month (NoLimit: none).
	Failures    int           `json:"failures"`
	MaxFailures int           `json:"max_failures"`
	RTO         time.Duration `json:"rto"`
	RTOBreaches int           `json:"rto_breaches"`
	MaxTTR      time.Duration `json:"max_ttr"`
	// MTTR = sum TTR / failures; MTBF = up / failures; MTBSI = (up+down) /
	// failures (research §1.6). Zero when there was no failure.
	MTTR  time.Duration `json:"mttr"`
	MTBF  time.Duration `json:"mtbf"`
	MTBSI time.Duration `json:"mtbsi"`

	// Error budget (§5a): total = (1 - objective) x (up + down);
	// spent = down; left = total - spent (negative: overspent).
	BudgetTotal time.Duration `json:"budget_total"`
	BudgetSpent time.Duration `json:"budget_spent"`
	BudgetLeft  time.Duration `json:"budget_left"`

	Response    ResponseFigures      `json:"response"`
	Maintenance []MaintenanceOutcome `json:"maintenance,omitempty"`
	Daily       []DayFigures         `json:"daily,omitempty"`
	// Breaches names every SLA item not met.
	Breaches []string `json:"breaches,omitempty"`
	// Months is how many periods were summed (1 for one month);
	// MonthsOverFailureLimit how many of them exceeded MaxFailures.
	Months                 int `json:"months"`
	MonthsOverFailureLimit int `json:"months_over_failure_limit,omitempty"`
}

// BudgetSpentRatio is spent/total.
func (f Figures) BudgetSpentRatio() Ratio { return ratio(f.BudgetSpent, f.BudgetTotal) }

// BudgetLeftRatio is left/total (negative when overspent).
func (f Figures) BudgetLeftRatio() Ratio { return ratio(f.BudgetLeft, f.BudgetTotal) }

// DowntimeRatio is down/(up+down), the share of known time that was down.
func (f Figures) DowntimeRatio() Ratio { return ratio(f.Down, f.Up+f.Down) }

// derive computes ratios, verdicts, means, budget and breaches from the
// summed seconds and counts, for one period or a sum of periods.
func (f *Figures) derive() {
	known := f.Up + f.Down
	base := f.ServiceTime - f.Planned
	f.Availability = ratio(f.Up, known)
	f.AvailabilityMin = ratio(f.Up, base)
	f.Coverage = ratio(base-f.Unknown, base)
	f.Verdict = availabilityVerdict(f.Up, known, base, f.Unknown, f.Objective, f.MinCoverage)

	f.RTOBreaches, f.MaxTTR, f.Failures = 0, 0, 0
	var ttr time.Duration
	for _, in := range f.Incidents {
		if !in.Failure {
			continue
		}
		f.Failures++
		ttr += in.TTR
		f.MaxTTR = max(f.MaxTTR, in.TTR)
		if in.RTOBreach {
			f.RTOBreaches++
		}
	}
	f.MTTR, f.MTBF, f.MTBSI = 0, 0, 0
	if f.Failures > 0 {
		n := time.Duration(f.Failures)
		f.MTTR, f.MTBF, f.MTBSI = ttr/n, f.Up/n, known/n
	}
	f.BudgetTotal = time.Duration(math.Floor((1 - f.Objective) * float64(known)))
	f.BudgetSpent = f.Down
	f.BudgetLeft = f.BudgetTotal - f.BudgetSpent

	r := &f.Response
	r.Compliance = Ratio{Num: float64(r.Within), Den: float64(r.Valid)}
	r.Verdict = ""
	if r.Objective > 0 {
		switch {
		case r.Valid == 0:
			r.Verdict = InsufficientData
		case float64(r.Within) >= r.Objective*float64(r.Valid)-1e-9:
			r.Verdict = Pass
		default:
			r.Verdict = Fail
		}
	}

	f.Breaches = nil
	if f.Verdict == Fail {
		f.Breaches = append(f.Breaches, fmt.Sprintf("availability %s below objective %s", f.Availability.Percent(3), pct(f.Objective)))
	}
	if f.Months > 1 {
		if f.MonthsOverFailureLimit > 0 {
			f.Breaches = append(f.Breaches, fmt.Sprintf("%d of %d months had more than %d failures", f.MonthsOverFailureLimit, f.Months, f.MaxFailures))
		}
	} else if f.MaxFailures >= 0 && f.Failures > f.MaxFailures {
		f.Breaches = append(f.Breaches, fmt.Sprintf("%d failures, at most %d allowed per month", f.Failures, f.MaxFailures))
	}
	if f.RTOBreaches > 0 {
		f.Breaches = append(f.Breaches, fmt.Sprintf("%d failures recovered later than the RTO of %s", f.RTOBreaches, f.RTO))
	}
	if r.Verdict == Fail {
		f.Breaches = append(f.Breaches, fmt.Sprintf("%s of probes within %s, objective %s", r.Compliance.Percent(2), r.Bound, pct(r.Objective)))
	}
}

func pct(x float64) string { return fmt.Sprintf("%.3f%%", 100*x) }

// availabilityVerdict (research §5a "Verdict"): PASS if A_min >= SLO, or
// A >= SLO with coverage >= C_min; FAIL if A < SLO; otherwise (or with no
// known time) INSUFFICIENT DATA. Compared in nanoseconds with 1 ms slack so
// a month exactly at the objective passes despite float rounding.
func availabilityVerdict(up, known, base, unknown time.Duration, slo, minCov float64) Verdict {
	if known <= 0 || base <= 0 {
		return InsufficientData
	}
	const slack = float64(time.Millisecond)
	meets := func(num, den time.Duration) bool { return float64(num)+slack >= slo*float64(den) }
	switch {
	case meets(up, base):
		return Pass
	case !meets(up, known):
		return Fail
	case float64(base-unknown)+slack >= minCov*float64(base):
		return Pass
	}
	return InsufficientData
}

// Sum adds up figures of one service over consecutive periods (a quarter,
// a year) from their seconds and counts, never by averaging percentages
// (research §5a "Time base"). Percentiles are re-estimated from the summed
// histograms.
func Sum(figs []Figures) (Figures, error) {
	if len(figs) == 0 {
		return Figures{}, fmt.Errorf("sum of no figures")
	}
	out := figs[0]
	out.Incidents = append([]Incident(nil), figs[0].Incidents...)
	out.Maintenance = append([]MaintenanceOutcome(nil), figs[0].Maintenance...)
	out.Daily = append([]DayFigures(nil), figs[0].Daily...)
	out.Response.Histogram = append([]uint32(nil), figs[0].Response.Histogram...)
	out.Months = len(figs)
	out.MonthsOverFailureLimit = 0
	if figs[0].MaxFailures >= 0 && figs[0].Failures > figs[0].MaxFailures {
		out.MonthsOverFailureLimit = 1
	}
	for _, f := range figs[1:] {
		if f.Service != out.Service {
			return Figures{}, fmt.Errorf("sum: figures of %q and %q", out.Service, f.Service)
		}
		if !f.Period.Start.Equal(out.Period.End) {
			return Figures{}, fmt.Errorf("sum of %q: period %s does not follow %s", out.Service, f.Period.Label, out.Period.Label)
		}
		out.Period.End = f.Period.End
		out.Period.Label += "+" + f.Period.Label
		out.Provisional = out.Provisional || f.Provisional
		out.Partial = out.Partial || f.Partial
		out.ServiceTime += f.ServiceTime
		out.Up += f.Up
		out.Down += f.Down
		out.Unknown += f.Unknown
		out.Planned += f.Planned
		out.Degraded += f.Degraded
		out.EnergyActionDown += f.EnergyActionDown
		out.ShortNoticeDown += f.ShortNoticeDown
		out.OverrunDown += f.OverrunDown
		out.UnannouncedDown += f.UnannouncedDown
		out.Incidents = append(out.Incidents, f.Incidents...)
		out.Maintenance = append(out.Maintenance, f.Maintenance...)
		out.Daily = append(out.Daily, f.Daily...)
		if f.MaxFailures >= 0 && f.Failures > f.MaxFailures {
			out.MonthsOverFailureLimit++
		}
		r, fr := &out.Response, f.Response
		r.Valid += fr.Valid
		r.Within += fr.Within
		r.Failed += fr.Failed
		r.Excluded += fr.Excluded
		r.Max = max(r.Max, fr.Max)
		r.Histogram = addHistograms(r.Histogram, fr.Histogram)
	}
	if len(figs) > 1 {
		r := &out.Response
		r.P50, r.P95, r.P99 = histogramQuantile(r.Histogram, 0.50), histogramQuantile(r.Histogram, 0.95), histogramQuantile(r.Histogram, 0.99)
		r.Estimated = true
	}
	out.derive()
	return out, nil
}

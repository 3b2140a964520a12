package sla

import (
	"fmt"
	"strings"
	"time"
)

// AlertState is explicit data, as in Prometheus' rules (shared/style.md):
// a condition that holds is pending until it has held for the rule's For,
// then firing.
type AlertState uint8

const (
	Inactive AlertState = iota
	Pending
	Firing
)

var alertStateNames = [...]string{"inactive", "pending", "firing"}

func (s AlertState) String() string {
	if int(s) < len(alertStateNames) {
		return alertStateNames[s]
	}
	return fmt.Sprintf("AlertState(%d)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s AlertState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *AlertState) UnmarshalText(b []byte) error {
	for i, n := range alertStateNames {
		if strings.EqualFold(string(b), n) {
			*s = AlertState(i)
			return nil
		}
	}
	return fmt.Errorf("unknown alert state %q", b)
}

// Alert is the state of one rule for one service after an evaluation.
// Feed it back as prev to the next evaluation.
type Alert struct {
	Rule     string     `json:"rule"`
	Service  string     `json:"service"`
	Severity string     `json:"severity"`
	State    AlertState `json:"state"`
	// ActiveSince is when the condition started to hold (zero: inactive).
	ActiveSince time.Time `json:"active_since,omitzero"`
	// LongBurn and ShortBurn are the burn rates over the two windows;
	// Threshold the factor they must both reach.
	LongBurn  float64 `json:"long_burn,omitempty"`
	ShortBurn float64 `json:"short_burn,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
}

// BurnRateRule is one multi-window burn-rate alert (Google SRE workbook,
// "Alerting on SLOs", table 5-8; Sloth's windows, research §1.5): it holds
// when the burn rate over both the long and the short window reaches
// Factor. The short window (about 1/12 of the long) makes the alert stop
// soon after the burn stops.
type BurnRateRule struct {
	Name     string        `json:"name"`
	Severity string        `json:"severity"`
	Long     time.Duration `json:"long"`
	Short    time.Duration `json:"short"`
	Factor   float64       `json:"factor"`
	// For is how long the condition must hold before firing (Pyrra's
	// "for"; the workbook has none). 0 fires at once.
	For time.Duration `json:"for"`
}

// DefaultBurnRateRules are Sloth's google-30d windows, with the factor
// computed as Sloth does, budget share x SLO period / long window: for a
// 30-day period 2% in 1h (14.4x, short 5m), 5% in 6h (6x, 30m) page; 10% in
// 1d (3x, 2h) and 10% in 3d (1x, 6h) open a ticket. Pyrra uses 14/7/2/1 on
// 28 days and a 4d slow window (research §1.5); we keep the workbook's
// numbers, which the research recommends for a 30-day period, and borrow
// Pyrra's "for" durations so that pending is a real state.
func DefaultBurnRateRules(sloPeriod time.Duration) []BurnRateRule {
	rule := func(name, sev string, budget float64, long, short, hold time.Duration) BurnRateRule {
		return BurnRateRule{Name: name, Severity: sev, Long: long, Short: short,
			Factor: budget * float64(sloPeriod) / float64(long), For: hold}
	}
	return []BurnRateRule{
		rule("SLOBurnRatePageFast", "page", 0.02, time.Hour, 5*time.Minute, 2*time.Minute),
		rule("SLOBurnRatePageSlow", "page", 0.05, 6*time.Hour, 30*time.Minute, 15*time.Minute),
		rule("SLOBurnRateTicketFast", "ticket", 0.10, 24*time.Hour, 2*time.Hour, time.Hour),
		rule("SLOBurnRateTicketSlow", "ticket", 0.10, 72*time.Hour, 6*time.Hour, 3*time.Hour),
	}
}

// AlertLookback is the longest window of rules: the timeline an alert
// evaluation needs reaches this far back from now.
func AlertLookback(rules []BurnRateRule) time.Duration {
	var d time.Duration
	for _, r := range rules {
		d = max(d, r.Long)
	}
	return d
}

// BurnRate over [from, to) is (down / known service time) / (1 - objective)
// (research §5a "Error budget and alerts"): time, not events, because the
// SLI is probe-based. ok is false when there was no known service time (no
// data, or outside service hours): no burn is measured then, and the
// data-absent rule speaks instead of a silent zero.
func BurnRate(tl Timeline, objective float64, from, to time.Time) (rate float64, ok bool) {
	t := tl.Tally(from, to)
	if t.Known() <= 0 || objective >= 1 {
		return 0, false
	}
	return float64(t.Down) / float64(t.Known()) / (1 - objective), true
}

// Eval evaluates the rule for one service at now on tl (which must cover
// [now - r.Long, now)), given the previous result.
func (r BurnRateRule) Eval(service string, tl Timeline, objective float64, now time.Time, prev Alert) Alert {
	long, okL := BurnRate(tl, objective, now.Add(-r.Long), now)
	short, okS := BurnRate(tl, objective, now.Add(-r.Short), now)
	a := Alert{Rule: r.Name, Service: service, Severity: r.Severity, LongBurn: long, ShortBurn: short, Threshold: r.Factor}
	return step(a, okL && okS && long >= r.Factor && short >= r.Factor, now, now, r.For, prev)
}

// EvalBurnRates evaluates every rule; prev is matched by rule name.
func EvalBurnRates(rules []BurnRateRule, service string, tl Timeline, objective float64, now time.Time, prev []Alert) []Alert {
	out := make([]Alert, len(rules))
	for i, r := range rules {
		var p Alert
		for _, x := range prev {
			if x.Rule == r.Name {
				p = x
			}
		}
		out[i] = r.Eval(service, tl, objective, now, p)
	}
	return out
}

// AbsentRule is the "SLA data absent" alert (Pyrra's SLOMetricAbsent,
// research §1.5): it holds while the service's state is UNKNOWN, so that a
// dead monitor is noticed instead of burning no budget. It holds from the
// start of the unknown stretch, so a replay gives the same answer.
type AbsentRule struct {
	Name     string        `json:"name"`
	Severity string        `json:"severity"`
	For      time.Duration `json:"for"`
}

// DefaultAbsentRule fires after 10 minutes without valid data.
func DefaultAbsentRule() AbsentRule {
	return AbsentRule{Name: "SLADataAbsent", Severity: "ticket", For: 10 * time.Minute}
}

// Eval evaluates the rule at now on tl (which must reach now).
func (r AbsentRule) Eval(service string, tl Timeline, now time.Time, prev Alert) Alert {
	a := Alert{Rule: r.Name, Service: service, Severity: r.Severity}
	segs := tl.Segments
	i := len(segs) - 1
	for i >= 0 && !segs[i].Start.Before(now) {
		i--
	}
	if i < 0 || segs[i].State != StateUnknown {
		return step(a, false, now, now, r.For, prev)
	}
	since := segs[i].Start
	for j := i - 1; j >= 0 && segs[j].State == StateUnknown; j-- {
		since = segs[j].Start
	}
	return step(a, true, since, now, r.For, prev)
}

// step moves an alert through inactive -> pending -> firing.
func step(a Alert, cond bool, since, now time.Time, hold time.Duration, prev Alert) Alert {
	if !cond {
		a.State = Inactive
		return a
	}
	a.ActiveSince = since
	if prev.State != Inactive && !prev.ActiveSince.IsZero() && prev.ActiveSince.Before(since) {
		a.ActiveSince = prev.ActiveSince
	}
	a.State = Pending
	if now.Sub(a.ActiveSince) >= hold {
		a.State = Firing
	}
	return a
}

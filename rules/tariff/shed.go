package tariff

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// ShedBlock is one billing block in which demand control asked for a shed
// (the stored `demand` points of stage shed or limit, with request_kw).
type ShedBlock struct {
	Start time.Time `json:"start"`
	// FirstPredictedKW is the predicted block demand at the block's first
	// tick with a request: what the block was heading for before the cut.
	FirstPredictedKW float64 `json:"first_predicted_kw"`
	// RequestKW is the largest request in the block.
	RequestKW float64 `json:"request_kw"`
	// LimitKW is the strictest limit at the first request; AnnualMaxKW the
	// 12-month maximum then (0: not recorded).
	LimitKW     float64 `json:"limit_kw"`
	AnnualMaxKW float64 `json:"annual_max_kw,omitempty"`
}

// ShedEstimate is the value of one shed block. Without a measured
// baseline it is an estimate on this basis:
//
//	achieved  = the block's metered demand (kWh / block length)
//	baseline  = min(FirstPredictedKW, achieved + RequestKW): the demand
//	            the block was heading for at the first shed tick, but no
//	            more above what it reached than was asked to be shed
//	line      = the 12-month maximum recorded at the first request, or the
//	            limit when none was recorded
//	kW kept   = baseline - max(achieved, line), whole kW (0 if negative)
//	kWh       = (baseline - achieved) x block length, at the band of the
//	            block's start
//
// and Contract.Value prices it with the contract in force at the block.
type ShedEstimate struct {
	ShedBlock
	AchievedKW float64 `json:"achieved_kw"`
	BaselineKW float64 `json:"baseline_kw"`
	LineKW     float64 `json:"line_kw"`
	AvoidedKWh float64 `json:"avoided_kwh"`
	Contract   string  `json:"contract"`
	Coverage   float64 `json:"coverage"`
	ShedValue
}

// ShedTotals sums shed estimates over a month or a season. Blocks kept
// under the same maximum protect the same bills: the basic-charge saving
// is that of the block that kept the most (the maximum that would have
// been set), not the sum; energy adds up.
type ShedTotals struct {
	Events     int     `json:"events"`
	KWKept     float64 `json:"kw_kept"` // the largest
	AvoidedKWh float64 `json:"avoided_kwh"`
	BasicYen   float64 `json:"basic_yen"`
	EnergyYen  float64 `json:"energy_yen"`
	TotalYen   float64 `json:"total_yen"`
}

// Add folds e into the totals.
func (t ShedTotals) Add(e ShedEstimate) ShedTotals {
	t.Events++
	t.KWKept = math.Max(t.KWKept, e.KWKept)
	t.AvoidedKWh += e.AvoidedKWh
	t.BasicYen = math.Max(t.BasicYen, e.BasicYen)
	t.EnergyYen += e.EnergyYen
	t.TotalYen = t.BasicYen + t.EnergyYen
	return t
}

// Merge folds the totals of another month into t (a season's).
func (t ShedTotals) Merge(o ShedTotals) ShedTotals {
	t.Events += o.Events
	t.KWKept = math.Max(t.KWKept, o.KWKept)
	t.AvoidedKWh += o.AvoidedKWh
	t.BasicYen = math.Max(t.BasicYen, o.BasicYen)
	t.EnergyYen += o.EnergyYen
	t.TotalYen = t.BasicYen + t.EnergyYen
	return t
}

// EstimateShed values the shed blocks against the metered blocks (same
// block length L) at power factor pfPct (the month's; 0: the contract's
// base). A shed block without metered data is left out with a warning.
func EstimateShed(sched Schedule, pfPct float64, cal Calendar, shed []ShedBlock, blocks []Block, L time.Duration) ([]ShedEstimate, ShedTotals, []string) {
	if L <= 0 {
		L = 30 * time.Minute
	}
	metered := make(map[int64]Block, len(blocks))
	for _, b := range blocks {
		metered[b.Start.UnixNano()] = b
	}
	sorted := append([]ShedBlock(nil), shed...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	var out []ShedEstimate
	var tot ShedTotals
	var warnings []string
	for _, s := range sorted {
		b, ok := metered[s.Start.UnixNano()]
		if !ok || b.Coverage <= 0 {
			warnings = append(warnings, fmt.Sprintf("shed block %s has no metered data: left out", s.Start.Format(time.RFC3339)))
			continue
		}
		c, ok := sched.At(s.Start)
		if !ok {
			warnings = append(warnings, fmt.Sprintf("shed block %s is before the first contract: left out", s.Start.Format(time.RFC3339)))
			continue
		}
		e := ShedEstimate{ShedBlock: s, AchievedKW: b.KWh / L.Hours(), Contract: c.Name, Coverage: b.Coverage}
		e.BaselineKW = math.Max(e.AchievedKW, math.Min(s.FirstPredictedKW, e.AchievedKW+s.RequestKW))
		e.LineKW = s.LimitKW
		if s.AnnualMaxKW > 0 {
			e.LineKW = s.AnnualMaxKW
		}
		e.AvoidedKWh = (e.BaselineKW - e.AchievedKW) * L.Hours()
		pf := pfPct
		if pf == 0 {
			pf = c.Defaults().PFBasePct
		}
		e.ShedValue = c.Value(ShedEvent{Start: s.Start, End: s.Start.Add(L), BaselineKW: e.BaselineKW, AchievedKW: e.AchievedKW,
			LineKW: e.LineKW, AvoidedKWh: e.AvoidedKWh}, pf, cal)
		if b.Coverage < 1 {
			warnings = append(warnings, fmt.Sprintf("shed block %s is %.0f%% covered: its achieved demand may be understated", s.Start.Format(time.RFC3339), 100*b.Coverage))
		}
		out = append(out, e)
		tot = tot.Add(e)
	}
	return out, tot, warnings
}

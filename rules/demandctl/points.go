package demandctl

import (
	"math"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/demand"
)

// Measurements written (docs/schema.md).
const (
	MeasurementDemand = "demand"
	MeasurementStage  = "demand_stage"
)

// points are the tick's demand point and a demand_stage point per
// transition.
func (c *Controller) points(d demand.Decision) []point.Point {
	pts := []point.Point{DemandPoint(c.cfg.Site, d)}
	for _, tr := range d.Transitions {
		pts = append(pts, StagePoint(c.cfg.Site, d, tr))
	}
	return pts
}

// DemandPoint is one tick's `demand` point: the headline figures of the
// decision (those of the strictest limit; the billing block's without
// one, and then no limit fields).
func DemandPoint(site string, d demand.Decision) point.Point {
	f := map[string]any{
		"block_start":  d.Block.Start.UTC().Format(time.RFC3339),
		"demand_kw":    finite(d.CurrentKW),
		"predicted_kw": finite(d.PredictedKW),
		"load_kw":      finite(d.LoadKW),
		"coverage":     finite(d.Coverage),
		"stage":        d.Stage.String(),
		"stage_level":  int64(d.Stage),
		"held":         d.Held,
	}
	if d.Limit != "" {
		f["limit"] = d.Limit
		f["limit_kw"] = finite(d.LimitKW)
		f["target_kw"] = finite(d.TargetRampKW)
		f["adjustment_kw"] = finite(d.AdjustmentKW)
	}
	if d.Request != nil {
		f["request_kw"] = finite(d.Request.ShedKW)
		f["request_protect"] = d.Request.Protect
	}
	if d.HeadroomKW > 0 {
		f["headroom_kw"] = finite(d.HeadroomKW)
	}
	f["formula_kw"] = finite(d.Billing.FormulaKW)
	if d.Unreachable {
		f["unreachable"] = true
		f["achievable_kw"] = finite(d.AchievableKW)
	}
	return point.Point{Measurement: MeasurementDemand, Tags: map[string]string{"site": site}, Fields: f, Time: d.Time}
}

// StagePoint is a `demand_stage` point for one transition.
func StagePoint(site string, d demand.Decision, tr demand.Transition) point.Point {
	f := map[string]any{
		"from":         tr.From.String(),
		"to":           tr.To.String(),
		"level":        int64(tr.To),
		"reason":       tr.Reason,
		"predicted_kw": finite(d.PredictedKW),
	}
	if d.Limit != "" {
		f["limit"] = d.Limit
		f["limit_kw"] = finite(d.LimitKW)
	}
	if tr.Cause != "" {
		f["cause"] = tr.Cause
	}
	if tr.Limit != "" {
		f["driven_by"] = tr.Limit
	}
	return point.Point{Measurement: MeasurementStage, Tags: map[string]string{"site": site}, Fields: f, Time: tr.At}
}

// finite maps NaN and ±Inf to 0: neither InfluxDB nor JSON takes them.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func round1(x float64) float64 { return math.Round(finite(x)*10) / 10 }

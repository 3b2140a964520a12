package sla

import (
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// Measurements written for SLA accounting (docs/schema.md).
const (
	// MeasurementProbe: one probe result. Tags service, probe, kind;
	// fields up (bool), response_ms (float), error (string, when failed).
	MeasurementProbe = "probe"
	// MeasurementStateChange: a service's state changed. Tag service;
	// fields state (UP, DOWN, UNKNOWN, PLANNED), cause (string), severity
	// (string, optional).
	MeasurementStateChange = "sla_state_change"
	// MeasurementProbeDaily: one probe's summary of one day (ProbeSummary).
	// Tags site, service, probe; fields samples, failed, within (int),
	// bound_ms, max_ms (float) and summary (string, all of it, for the
	// report's one-row read).
	MeasurementProbeDaily = "probe_daily"
	// MeasurementProbeRollup: a day's summaries were all written. Tag
	// site; fields span_s, services, summaries, samples (int).
	MeasurementProbeRollup = "probe_rollup"
)

// ProbePoint is the "probe" point of one check. The collector adds the
// site tag.
func ProbePoint(spec ProbeSpec, c Check) point.Point {
	fields := map[string]any{"up": c.OK, "response_ms": c.ResponseMs}
	if c.Error != "" {
		fields["error"] = c.Error
	}
	return point.Point{
		Measurement: MeasurementProbe,
		Tags:        map[string]string{"service": spec.Service, "probe": spec.Name, "kind": spec.Kind},
		Fields:      fields,
		Time:        c.At,
	}
}

// StateChangePoint is the "sla_state_change" point of one change of a
// service, tagged with site (the tracker runs outside the collector).
func StateChangePoint(site, service string, c StateChange) point.Point {
	fields := map[string]any{"state": c.State.String(), "cause": c.Cause}
	if c.Severity != SeverityUnset {
		fields["severity"] = c.Severity.String()
	}
	return point.Point{
		Measurement: MeasurementStateChange,
		Tags:        map[string]string{"site": site, "service": service},
		Fields:      fields,
		Time:        c.At,
	}
}

// ProbeSummaryPoint is the "probe_daily" point of one summary, at the
// start of its day. Written again, it overwrites the same point.
func ProbeSummaryPoint(site string, s ProbeSummary) point.Point {
	return point.Point{
		Measurement: MeasurementProbeDaily,
		Tags:        map[string]string{"site": site, "service": s.Service, "probe": s.Probe},
		Fields: map[string]any{
			"samples": int64(s.Samples), "failed": int64(s.Failed), "within": int64(s.Within),
			"bound_ms": s.BoundMs, "max_ms": s.MaxMs, "summary": s.Encode(),
		},
		Time: s.Start,
	}
}

// RollupStats describe the summaries written for one day.
type RollupStats struct {
	Services  int // services with at least one summary
	Summaries int
	Samples   int
}

// ProbeRollupPoint is the "probe_rollup" point that marks day as rolled
// up: written after all of its summaries, so a report may trust that a
// service without a summary that day had no probe samples.
func ProbeRollupPoint(site string, day Interval, st RollupStats) point.Point {
	return point.Point{
		Measurement: MeasurementProbeRollup,
		Tags:        map[string]string{"site": site},
		Fields: map[string]any{
			"span_s": int64(day.End.Sub(day.Start) / time.Second), "services": int64(st.Services),
			"summaries": int64(st.Summaries), "samples": int64(st.Samples),
		},
		Time: day.Start,
	}
}

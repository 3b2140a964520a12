package sla

import (
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

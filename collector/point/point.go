// Package point is the one measurement type that flows from the adapters
// through the collector into InfluxDB. Every source produces points; the
// write path only ever sees points. docs/schema.md lists the measurements.
package point

import (
	"fmt"
	"math"
	"time"
)

// Point is one InfluxDB point. Fields hold float64, int64, uint64, bool or
// string values only; units are part of the field name (kw, voltage_v, ...).
//
// A source may hand out the same Tags map with every sample (a Modbus meter
// builds its tags once: two maps fewer a sample at thousands of samples a
// second). Code after the source treats Tags as read-only, except the
// collector setting the site tag, which it writes only when missing or
// different, so after the first sample the map is only ever read.
type Point struct {
	Measurement string
	Tags        map[string]string
	Fields      map[string]any
	Time        time.Time
}

// Validate reports the first reason the point cannot be written.
func (p Point) Validate() error {
	if p.Measurement == "" {
		return fmt.Errorf("point has no measurement")
	}
	if len(p.Fields) == 0 {
		return fmt.Errorf("point %q has no fields", p.Measurement)
	}
	for k, v := range p.Fields {
		if k == "" {
			return fmt.Errorf("point %q has a field with an empty name", p.Measurement)
		}
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("point %q field %q is %v (expected a finite number)", p.Measurement, k, x)
			}
		case int64, uint64, bool, string:
		default:
			return fmt.Errorf("point %q field %q has unsupported type %T (want float64, int64, uint64, bool or string)", p.Measurement, k, v)
		}
	}
	if p.Time.IsZero() {
		return fmt.Errorf("point %q has no timestamp", p.Measurement)
	}
	return nil
}

// Counter names a field that is a cumulative counter (an energy register):
// the collector adds a monotonic "<Field>_total" that survives wrap-around
// at Modulus and meter resets, and flags resets in "<Field>_reset".
type Counter struct {
	Measurement string
	Field       string
	// Modulus is where the register wraps to zero, in the field's unit
	// after scaling (e.g. 42949672.96 kWh for a UINT32 of 0.01 kWh); 0 if
	// it never wraps.
	Modulus float64
	// RatedKW is the most power the meter can measure (kW): the counter
	// cannot rise faster, so a larger rise is a reset or a swapped meter
	// (collector.AdvanceCounter). 0 when unknown: rises are not bounded.
	RatedKW float64
}

// Number reads a numeric field value (float64, int64 or uint64, as stored
// and as read back from InfluxDB) as a float64; false for any other kind.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

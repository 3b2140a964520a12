package config

import (
	"fmt"
	"strings"
	"time"
)

// How a gateway's points are read when watch is false (obix.gateways[].reads).
const (
	// ObixReadsBatch reads every point with one request to the Lobby's
	// batch op, falling back to one read per point when the gateway
	// refuses batches (the default).
	ObixReadsBatch = "batch"
	// ObixReadsPerPoint reads the points one by one (a GET each).
	ObixReadsPerPoint = "per_point"
)

// ObixWatchLease is the lease asked of a gateway for a watch when
// watch_lease is not set: long enough to outlive a missed sample or two
// (research/collection.md §4.4).
func ObixWatchLease(g ObixGateway) time.Duration {
	if g.WatchLease > 0 {
		return g.WatchLease
	}
	return 4 * g.Interval
}

// obixReads checks the options of how one gateway's points are read.
func (v *validator) obixReads(p string, g ObixGateway) {
	v.oneOf(p+".reads", g.Reads, "a way to read points", ObixReadsBatch, ObixReadsPerPoint)
	if g.Watch && g.Reads == ObixReadsPerPoint {
		v.add(p+".reads", "%s is set together with watch: true (expected watch: false for per-point reads, or reads: batch)", g.Reads)
	}
	switch {
	case g.WatchLease < 0:
		v.add(p+".watch_lease", "%s is negative (expected a duration such as 2m, or 0 for 4 × interval)", g.WatchLease)
	case g.WatchLease > 0 && !g.Watch:
		v.add(p+".watch_lease", "%s is set but watch is false (expected watch: true, or no watch_lease)", g.WatchLease)
	case g.WatchLease > 0 && g.WatchLease < 2*g.Interval:
		v.add(p+".watch_lease", "%s is shorter than twice the interval %s (expected at least %s, so that one late sample does not lose the watch)", g.WatchLease, g.Interval, 2*g.Interval)
	}
}

// ObixDiscover takes every value point under an object of the gateway
// (obix.gateways[].discover), besides the listed points. It is on when
// Root is set.
type ObixDiscover struct {
	// Root is the object whose points are taken, e.g. /obix/config/Hall1/
	// ("/obix/" or the base URL's path for the whole Lobby).
	Root string `yaml:"root"`
	// Depth is how many refs below root are followed. Default 4.
	Depth int `yaml:"depth"`
	// Include and Exclude are patterns on the point's href path (* any
	// run of characters, ? one; case does not matter).
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// Tags are added to every discovered point.
	Tags map[string]string `yaml:"tags"`
	// Map maps units to measurements and fields before the built-in
	// defaults (docs/schema.md's facility points).
	Map []ObixUnitRule `yaml:"map"`
}

// ObixUnitRule maps the points of a unit (and a name pattern) to a
// measurement and field.
type ObixUnitRule struct {
	Unit        string            `yaml:"unit"`
	Name        string            `yaml:"name"`
	Measurement string            `yaml:"measurement"`
	Field       string            `yaml:"field"`
	Tags        map[string]string `yaml:"tags"`
}

const maxObixDiscoverDepth = 16

func (v *validator) obixDiscover(p string, d ObixDiscover) {
	if d.Root == "" {
		if len(d.Include) > 0 || len(d.Exclude) > 0 || len(d.Tags) > 0 || len(d.Map) > 0 {
			v.add(p+".root", "missing (required when discover has other settings: the object whose points are taken, e.g. /obix/config/)")
		}
		return
	}
	if d.Depth < 0 || d.Depth > maxObixDiscoverDepth {
		v.add(p+".depth", "%d is out of range (expected 0..%d refs below root)", d.Depth, maxObixDiscoverDepth)
	}
	for _, list := range []struct {
		key      string
		patterns []string
	}{{"include", d.Include}, {"exclude", d.Exclude}} {
		for i, pat := range list.patterns {
			if pat == "" {
				v.add(fmt.Sprintf("%s.%s[%d]", p, list.key, i), "empty pattern (expected e.g. */AHU*/* or *Setpoint*)")
			}
		}
	}
	v.tagsExcept(p+".tags", d.Tags, "meter")
	for i, r := range d.Map {
		rp := fmt.Sprintf("%s.map[%d]", p, i)
		if v.required(rp+".unit", r.Unit) && strings.Contains(r.Unit, "/") {
			v.add(rp+".unit", "%q is a unit URI (expected its last part, e.g. celsius for obix:units/celsius, or *)", r.Unit)
		}
		if v.required(rp+".measurement", r.Measurement) {
			v.name(rp+".measurement", r.Measurement)
		}
		if v.required(rp+".field", r.Field) {
			v.name(rp+".field", r.Field)
		}
		v.tagsExcept(rp+".tags", r.Tags, "meter")
	}
}

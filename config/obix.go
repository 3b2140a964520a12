package config

import "time"

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

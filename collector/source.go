// Package collector polls sources on their own schedules and hands the points
// to a sink (the durable InfluxDB write path). It depends only on the small
// interfaces below; the adapters implement them.
package collector

import (
	"context"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// Source is one device or host that can be polled: a Modbus meter, an oBIX
// point set, a libvirt host. Collect returns the points of one sample; an
// error marks the whole sample as failed (the collector records it, backs
// off and keeps every other source on its schedule).
type Source interface {
	// Name is unique within a site; it names the source in errors and metrics.
	Name() string
	Collect(ctx context.Context) ([]point.Point, error)
}

// DeadlineSource is a Source that bounds a sample by a deadline itself:
// its I/O carries the deadline (a Modbus meter sets it on the socket). The
// collector then calls CollectBy with the source's long-lived context and
// the sample's deadline instead of deriving a timer-backed context for every
// poll: at thousands of polls a second that context (a runtime timer, a
// child registered with its parent and removed again) was 9% of the
// collector's CPU (bench/collector profile, 2,000 meters at 1 s).
type DeadlineSource interface {
	Source
	// CollectBy is Collect that must finish by deadline; ctx still cancels.
	CollectBy(ctx context.Context, deadline time.Time) ([]point.Point, error)
}

// Sink accepts points for durable delivery. Write must not block on the
// database: it queues and returns.
type Sink interface {
	Write(ctx context.Context, pts []point.Point) error
}

// Backfiller is implemented by sources that keep their own history (oBIX
// History, a meter's load profile). When such a source recovers after
// failed polls, the collector asks it for the points of the gap
// (from the last good sample to the recovery, both exclusive) and writes
// them like any others, so an outage of the path leaves no hole.
type Backfiller interface {
	Backfill(ctx context.Context, from, to time.Time) ([]point.Point, error)
}

package demandctl

import (
	"context"
	"fmt"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/demand"
)

// Store reads a site's power and energy as the demand engine wants them
// (adapters/influx *Reader implements it; docs/schema.md "Demand input"):
// one sample per complete window of length every in [from, to).
type Store interface {
	SitePower(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, error)
	// SiteEnergy returns nil when some meter of the site has no energy
	// register; demand then integrates power.
	SiteEnergy(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.EnergySample, error)
}

// HistoryStore is a Store that reads power and energy in one query
// (adapters/influx *Reader); ReadHistory uses it when it can.
type HistoryStore interface {
	SiteHistory(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, []demand.EnergySample, error)
}

// PointWriter is the write path (adapters/influx *Writer): Write queues
// and returns, it does not wait for InfluxDB.
type PointWriter interface {
	Write(ctx context.Context, pts []point.Point) error
}

// Capabilities are the loads that can be shed now, each with its kW and
// action latency: the shedding planner (rules/shed) will implement it from
// its view of the hosts, VMs and facility loads. The controller caps every
// request at what they can remove before the block ends.
type Capabilities interface {
	Sheddable(ctx context.Context, at time.Time) ([]demand.Sheddable, error)
}

// StaticCapabilities is a fixed list (the configuration's).
type StaticCapabilities []demand.Sheddable

// Sheddable implements Capabilities.
func (s StaticCapabilities) Sheddable(context.Context, time.Time) ([]demand.Sheddable, error) {
	return s, nil
}

// Notifier posts events to the outside (adapters/webhook *Sender). Send
// must not block.
type Notifier interface {
	Send(event string, body []byte)
}

// History is a site's stored power and energy over a span.
type History struct {
	Power []demand.Sample
	// Energy is nil when some part of the span had a meter without an
	// energy register: demand then integrates Power throughout.
	Energy []demand.EnergySample
}

// ReadHistory reads [from, to) in chunks of about chunk (a multiple of
// every), so that a summer is many small queries rather than one huge one.
// Each chunk after the first starts one window early and that window's
// samples are dropped, so an energy sample's Reset flag is computed
// against the window before it, as in one query. progress, if not nil, is
// called after each chunk with the time read so far and the total.
func ReadHistory(ctx context.Context, s Store, site string, from, to time.Time, every, chunk time.Duration, progress func(done, total time.Duration)) (History, error) {
	if every < time.Second {
		return History{}, fmt.Errorf("history of %q: window %s: must be at least 1s", site, every)
	}
	if chunk < every {
		chunk = every
	}
	chunk -= chunk % every
	start := alignDown(from, every)
	total := to.Sub(start)
	var h History
	energyOK := true
	for a := start; a.Before(to); a = a.Add(chunk) {
		if err := ctx.Err(); err != nil {
			return History{}, fmt.Errorf("history of %q: %w", site, err)
		}
		b := a.Add(chunk)
		if b.After(to) {
			b = to
		}
		if b.Sub(a) < every {
			break // no whole window left
		}
		qa := a
		if a.After(start) {
			qa = a.Add(-every)
		}
		if hs, ok := s.(HistoryStore); ok {
			p, e, err := hs.SiteHistory(ctx, site, qa, b, every)
			if err != nil {
				return History{}, fmt.Errorf("history of %q, chunk %s..%s: %w", site, a.Format(time.RFC3339), b.Format(time.RFC3339), err)
			}
			h.Power = appendSamples(h.Power, p)
			if e == nil && len(p) > 0 {
				energyOK = false
			} else if energyOK {
				h.Energy = appendCounters(h.Energy, e)
			}
			if progress != nil {
				progress(b.Sub(start), total)
			}
			continue
		}
		p, err := s.SitePower(ctx, site, qa, b, every)
		if err != nil {
			return History{}, fmt.Errorf("history of %q, chunk %s..%s: %w", site, a.Format(time.RFC3339), b.Format(time.RFC3339), err)
		}
		h.Power = appendSamples(h.Power, p)
		if energyOK {
			e, err := s.SiteEnergy(ctx, site, qa, b, every)
			if err != nil {
				return History{}, fmt.Errorf("history of %q, chunk %s..%s: %w", site, a.Format(time.RFC3339), b.Format(time.RFC3339), err)
			}
			if e == nil && len(p) > 0 {
				energyOK = false
			} else {
				h.Energy = appendCounters(h.Energy, e)
			}
		}
		if progress != nil {
			progress(b.Sub(start), total)
		}
	}
	if !energyOK {
		h.Energy = nil
	}
	return h, nil
}

func appendSamples(dst, src []demand.Sample) []demand.Sample {
	for _, s := range src {
		if n := len(dst); n > 0 && !s.Time.After(dst[n-1].Time) {
			continue
		}
		dst = append(dst, s)
	}
	return dst
}

func appendCounters(dst, src []demand.EnergySample) []demand.EnergySample {
	for _, s := range src {
		if n := len(dst); n > 0 && !s.Time.After(dst[n-1].Time) {
			continue
		}
		dst = append(dst, s)
	}
	return dst
}

// alignDown rounds t down to a multiple of d since the Unix epoch (as the
// store's windows are).
func alignDown(t time.Time, d time.Duration) time.Time {
	n := t.UnixNano()
	r := n % int64(d)
	if r < 0 {
		r += int64(d)
	}
	return time.Unix(0, n-r).In(t.Location())
}

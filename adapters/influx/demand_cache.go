package influx

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// DemandCache serves SitePower and SiteEnergy (rules/demandctl.Store) from
// a Reader, reading each window of each meter once: a demand tick asks for
// everything since the block's start every 10 s, and re-reading it all
// costs InfluxDB and setsuden ~170 times what is new. A call whose range
// starts within what is cached queries only from the cached end less
// Reread (samples that arrive late are read again) up to its end, merges
// that into the cache and drops windows before its start; a call for
// exactly the range just read (SiteEnergy after SitePower in one tick,
// the query returns both) queries nothing; any other call reads its whole
// range. The result is the same as the Reader's (the selection and
// completeness rules run on the merged windows), except for a sample that
// arrives later than Reread after its window ended.
type DemandCache struct {
	R *Reader
	// Reread is how much of the cached end is read again; default 3
	// windows (the controller reads a tick behind the clock already).
	Reread time.Duration

	mu             sync.Mutex
	wc             windowCache
	readAt         time.Time
	queries, reads int64 // calls, and calls that read their whole range
	resums         int64 // reads that added up every window again
	gen            uint64
}

// windowCache is the windows of every series over [start, stop).
type windowCache struct {
	site        string
	every       time.Duration
	start, stop time.Time
	series      map[seriesKey]*meterWindows
	sorted      []*meterWindows
	sums        map[int64]*windowSums // by window start; nil: add up again
	power       []demand.Sample
	energy      []demand.EnergySample
}

type seriesKey struct{ meter, category, field string }

func (c *DemandCache) reread(every time.Duration) time.Duration {
	n := time.Duration(3)
	if c.Reread > 0 {
		n = max((c.Reread+every-1)/every, 1)
	}
	return n * every
}

// SitePower is Reader.SitePower through the cache.
func (c *DemandCache) SitePower(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	power, _, err := c.read(ctx, site, from, to, every)
	if err != nil {
		return nil, fmt.Errorf("site power of %q %s..%s: %w", site, fluxTime(from), fluxTime(to), err)
	}
	return power, nil
}

// SiteEnergy is Reader.SiteEnergy through the cache.
func (c *DemandCache) SiteEnergy(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.EnergySample, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, energy, err := c.read(ctx, site, from, to, every)
	if err != nil {
		return nil, fmt.Errorf("site energy of %q %s..%s: %w", site, fluxTime(from), fluxTime(to), err)
	}
	return energy, nil
}

// read brings wc up to [from, to) and returns the site's power and
// energy of it. c.mu must be held.
func (c *DemandCache) read(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, []demand.EnergySample, error) {
	start, stop, err := demandRange(site, from, to, every)
	if err != nil {
		return nil, nil, err
	}
	c.queries++
	wc := &c.wc
	if wc.series != nil && wc.site == site && wc.every == every && wc.start.Equal(start) && wc.stop.Equal(stop) &&
		time.Since(c.readAt) < time.Second {
		return slices.Clone(wc.power), slices.Clone(wc.energy), nil // the same tick's other read
	}
	qStart := start
	incremental := wc.series != nil && wc.site == site && wc.every == every &&
		!start.Before(wc.start) && start.Before(wc.stop) && !stop.Before(wc.stop)
	if incremental {
		if s := wc.stop.Add(-c.reread(every)); s.After(qStart) {
			qStart = s
		}
	} else {
		c.reads++
		*wc = windowCache{site: site, every: every, series: map[seriesKey]*meterWindows{}}
	}
	fresh, err := c.R.siteWindows(ctx, site, qStart, stop, every)
	if err != nil {
		wc.series = nil // start again from a whole read
		return nil, nil, err
	}
	c.readAt = time.Now()
	c.gen++
	// Windows are window starts on the grid of every, and each cached
	// series' first and last are right: prune and find the new ends by
	// walking the grid from them, not every window of every series
	// (10,000 meters x 170 windows a tick).
	lo, cut, step := start.UnixNano(), qStart.UnixNano(), int64(every)
	for _, s := range wc.sorted {
		for w := s.first; w < lo && w <= s.last; w += step {
			delete(s.values, w)
		}
		for w := max(cut, s.first); w <= s.last; w += step {
			delete(s.values, w)
		}
	}
	var added []*meterWindows
	for _, f := range fresh {
		key := seriesKey{f.meter, f.category, f.field}
		s := wc.series[key]
		if s == nil {
			wc.series[key] = f
			f.gen = c.gen
			added = append(added, f)
			continue
		}
		first, found := max(s.first, lo), false
		for ; first < cut && first <= s.last; first += step {
			if _, found = s.values[first]; found {
				break
			}
		}
		for w, v := range f.values {
			s.values[w] = v
		}
		if !found {
			first = f.first
		}
		s.first, s.last = first, f.last
		s.gen = c.gen
	}
	// The previous order, less the series with nothing left, plus the new
	// ones (sorted only when there are new ones).
	out := make([]*meterWindows, 0, len(wc.series))
	for _, s := range wc.sorted {
		if s.gen != c.gen {
			// Nothing new: its ends are within the pruned windows.
			first, last, found := max(s.first, lo), min(s.last, cut-step), false
			for ; first <= last; first += step {
				if _, found = s.values[first]; found {
					break
				}
			}
			for ; found && last > first; last -= step {
				if _, ok := s.values[last]; ok {
					break
				}
			}
			if !found {
				delete(wc.series, seriesKey{s.meter, s.category, s.field})
				continue
			}
			s.first, s.last = first, last
		}
		out = append(out, s)
	}
	if len(added) > 0 {
		out = append(out, added...)
		sortWindows(out)
	}
	wc.start, wc.stop, wc.sorted = start, stop, out
	wc.power, wc.energy = c.site(out, lo, cut, step)
	return slices.Clone(wc.power), slices.Clone(wc.energy), nil
}

// site applies the Demand input rule to the cached series, adding up only
// the windows at or after cut (the re-read ones) when the selection kept
// every series that has a value before cut in the same role; otherwise
// (a whole read, the facility meters appearing or leaving, a meter's
// register appearing) every window is added up again.
func (c *DemandCache) site(series []*meterWindows, lo, cut, step int64) ([]demand.Sample, []demand.EnergySample) {
	wc := &c.wc
	sel := selectSite(series)
	for _, s := range series {
		s.newRoles = 0
	}
	for _, s := range sel.power {
		s.newRoles |= rolePower
	}
	for _, s := range sel.energy {
		s.newRoles |= roleEnergy
	}
	for _, s := range sel.resets {
		s.newRoles |= roleReset
	}
	kept := wc.sums != nil
	for _, s := range series {
		if s.newRoles != s.roles && s.first < cut {
			kept = false
		}
		s.roles = s.newRoles
	}
	if kept {
		for w := range wc.sums {
			if w < lo || w >= cut {
				delete(wc.sums, w)
			}
		}
		addSums(wc.sums, sel, cut, step, false)
	} else {
		wc.sums = map[int64]*windowSums{}
		addSums(wc.sums, sel, lo, step, true)
		c.resums++
	}
	return siteOfSums(sel, wc.sums, wc.every)
}

// Stats returns the calls served and how many of them read their whole
// range (the others read only what was new).
func (c *DemandCache) Stats() (calls, wholeReads int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queries, c.reads
}

// Resums returns how many reads added up every cached window again (a
// whole read, or the site selection changing for a series with settled
// windows); the other reads added up only the re-read windows.
func (c *DemandCache) Resums() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resums
}

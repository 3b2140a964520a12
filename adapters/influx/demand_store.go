package influx

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// Demand input (docs/schema.md, "Demand input"): the demand engine wants
// one site power series and, when every meter has an energy register, one
// site energy series. Which meters make the site:
//
//   - the meters tagged category=facility, when the site has any in the
//     range: a whole-facility meter (utility incomer, main switchboard)
//     already includes IT and cooling, and it is what the utility bills;
//   - otherwise all of the site's power meters, added up (it + cooling +
//     anything else metered). Sub-meters must then not nest.
//
// Meters are sampled at their own moments, so the sum is taken per window
// of length every (aligned to the Unix epoch, as Flux windows are): each
// meter's mean kW (or last kwh_total) in the window. A window in which a
// meter that reports before and after it is missing is left out, so the
// sum is never silently short of a meter: a missing window is a gap,
// which the demand engine treats as missing rather than bridging it.

// SitePower returns the site's power in [from, to) as one sample per
// complete window of length every: the sum over the site's meters (rule
// above) of each meter's mean kW in the window, stamped at the window's
// middle (the mean of a linear load is its value at the middle, so
// trapezoid integration of these samples is unbiased). from is rounded
// down and to rounded down to multiples of every, so only whole windows
// are returned.
func (r *Reader) SitePower(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, error) {
	start, stop, err := demandRange(site, from, to, every)
	if err != nil {
		return nil, err
	}
	series, err := r.siteWindows(ctx, site, start, stop, every)
	if err != nil {
		return nil, fmt.Errorf("site power of %q %s..%s: %w", site, fluxTime(start), fluxTime(stop), err)
	}
	return sitePowerOf(series, every), nil
}

// sitePowerOf sums the selected meters' mean kW per complete window.
func sitePowerOf(series []*meterWindows, every time.Duration) []demand.Sample {
	sel := siteMeters(series, "kw")
	var out []demand.Sample
	forCompleteWindows(sel, func(w int64, vals []any, _ bool) {
		var kw float64
		for _, v := range vals {
			x, _ := v.(float64)
			kw += x
		}
		out = append(out, demand.Sample{Time: time.Unix(0, w).Add(every / 2).UTC(), KW: kw})
	})
	return out
}

// SiteEnergy returns the site's energy register in [from, to): per
// complete window, the sum of each selected meter's last kwh_total in the
// window, stamped at the window's end (the register was read up to one
// sampling interval earlier; demand splits at block boundaries with that
// uncertainty). Reset is set when a meter flagged kwh_reset in the window,
// and when the set of meters in the sum changed since the previous sample
// (a meter added or removed would otherwise look like a jump of its whole
// register). It returns nil when some selected meter has no kwh_total in
// the range: the caller then integrates SitePower instead.
func (r *Reader) SiteEnergy(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.EnergySample, error) {
	start, stop, err := demandRange(site, from, to, every)
	if err != nil {
		return nil, err
	}
	series, err := r.siteWindows(ctx, site, start, stop, every)
	if err != nil {
		return nil, fmt.Errorf("site energy of %q %s..%s: %w", site, fluxTime(start), fluxTime(stop), err)
	}
	return siteEnergyOf(series, every), nil
}

// siteEnergyOf sums the selected meters' last kwh_total per complete
// window; nil when a selected meter has no register.
func siteEnergyOf(series []*meterWindows, every time.Duration) []demand.EnergySample {
	power := siteMeters(series, "kw")
	totals := map[string]*meterWindows{}
	for _, s := range series {
		if s.field == "kwh_total" {
			totals[s.meter] = s
		}
	}
	var sel []*meterWindows
	for _, p := range power {
		t, ok := totals[p.meter]
		if !ok {
			return nil
		}
		sel = append(sel, t)
	}
	resets := map[int64]bool{}
	for _, s := range series {
		if s.field != "kwh_reset" || !isSelected(power, s.meter) {
			continue
		}
		for w, v := range s.values {
			if b, _ := v.(bool); b {
				resets[w] = true
			}
		}
	}
	var out []demand.EnergySample
	forCompleteWindows(sel, func(w int64, vals []any, changed bool) {
		var kwh float64
		for _, v := range vals {
			x, _ := v.(float64)
			kwh += x
		}
		out = append(out, demand.EnergySample{Time: time.Unix(0, w).Add(every).UTC(), KWhTotal: kwh, Reset: resets[w] || (changed && len(out) > 0)})
	})
	return out
}

func demandRange(site string, from, to time.Time, every time.Duration) (time.Time, time.Time, error) {
	if site == "" {
		return time.Time{}, time.Time{}, fmt.Errorf("site power: no site given")
	}
	if every < time.Second || every%time.Second != 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("site power of %q: window %s: must be whole seconds, at least 1s", site, every)
	}
	// Truncate aligns to the zero time; Flux windows align to the Unix
	// epoch. They agree for any window that divides a day, and for whole
	// seconds in general the difference is corrected here.
	start := alignDown(from, every)
	stop := alignDown(to, every)
	if !stop.After(start) {
		return time.Time{}, time.Time{}, fmt.Errorf("site power of %q: %s..%s holds no whole %s window", site, fluxTime(from), fluxTime(to), every)
	}
	return start, stop, nil
}

// alignDown rounds t down to a multiple of d since the Unix epoch.
func alignDown(t time.Time, d time.Duration) time.Time {
	n := t.UnixNano()
	r := n % int64(d)
	if r < 0 {
		r += int64(d)
	}
	return time.Unix(0, n-r).UTC()
}

func fluxTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func fluxDuration(d time.Duration) string { return fmt.Sprintf("%ds", int64(d/time.Second)) }

// meterWindows is one meter's windowed values of one field.
type meterWindows struct {
	meter, category, field string
	values                 map[int64]any // window start (Unix ns) → value
	first, last            int64
}

func sortWindows(out []*meterWindows) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.meter+"\x00"+a.category+"\x00"+a.field < b.meter+"\x00"+b.category+"\x00"+b.field
	})
}

// siteMeters applies the Demand input rule to the series of one field:
// the facility meters if there are any, else all.
func siteMeters(series []*meterWindows, field string) []*meterWindows {
	var all, facility []*meterWindows
	for _, s := range series {
		if s.field != field {
			continue
		}
		all = append(all, s)
		if s.category == "facility" {
			facility = append(facility, s)
		}
	}
	if len(facility) > 0 {
		return facility
	}
	return all
}

func isSelected(sel []*meterWindows, meter string) bool {
	for _, s := range sel {
		if s.meter == meter {
			return true
		}
	}
	return false
}

// forCompleteWindows calls f, in time order, for each window in which
// every selected series that has data before and after it (first <= w <=
// last) has a value. changed says whether that set of series differs from
// the previous complete window's.
func forCompleteWindows(sel []*meterWindows, f func(w int64, vals []any, changed bool)) {
	seen := map[int64]bool{}
	var windows []int64
	for _, s := range sel {
		for w := range s.values {
			if !seen[w] {
				seen[w] = true
				windows = append(windows, w)
			}
		}
	}
	sort.Slice(windows, func(i, j int) bool { return windows[i] < windows[j] })
	// The set of series in a window, as their indexes in sel (compared
	// with the previous complete window's; no strings: 10,000 meters).
	var prev, set []int
	vals := make([]any, 0, len(sel))
	for _, w := range windows {
		vals, set = vals[:0], set[:0]
		complete := true
		for i, s := range sel {
			if w < s.first || w > s.last {
				continue
			}
			v, ok := s.values[w]
			if !ok {
				complete = false
				break
			}
			vals = append(vals, v)
			set = append(set, i)
		}
		if !complete || len(vals) == 0 {
			continue
		}
		f(w, vals, !slices.Equal(set, prev))
		prev, set = set, prev
	}
}

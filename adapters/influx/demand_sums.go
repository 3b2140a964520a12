package influx

import (
	"slices"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// The DemandCache keeps, per window, the sums of the selected series (the
// Demand input rule of demand_store.go) so that a tick adds up only the
// windows it re-read: a window before the re-read span never changes in
// the cache (its values are not read again), so its sums are those it had
// when it left the span. Completeness is not kept per window: it depends
// on every series' first and last window, which move as meters come and
// go, so it is counted again every tick from those ends alone (a grid of
// windows, O(meters + windows)): a window is complete when the number of
// selected series with a value in it equals the number of selected series
// whose [first, last] holds it, which is the rule of forCompleteWindows.
// The sums are added in the selection's order, as the Reader adds them,
// so the floats are the same to the bit.

// Roles of a series in the site selection.
const (
	rolePower uint8 = 1 << iota
	roleEnergy
	roleReset
)

// siteSelection is what sitePowerOf and siteEnergyOf select from the
// series, in the same order.
type siteSelection struct {
	power  []*meterWindows // kw: the facility meters or all
	energy []*meterWindows // kwh_total of power's meters; nil when one has none
	resets []*meterWindows // kwh_reset of power's meters
}

func selectSite(series []*meterWindows) siteSelection {
	var sel siteSelection
	sel.power = siteMeters(series, "kw")
	totals := map[string]*meterWindows{}
	for _, s := range series {
		if s.field == "kwh_total" {
			totals[s.meter] = s
		}
	}
	meters := make(map[string]bool, len(sel.power))
	noEnergy := false
	for _, p := range sel.power {
		meters[p.meter] = true
		t, ok := totals[p.meter]
		if !ok {
			noEnergy = true
			continue
		}
		sel.energy = append(sel.energy, t)
	}
	if noEnergy {
		sel.energy = nil
	}
	for _, s := range series {
		if s.field == "kwh_reset" && meters[s.meter] {
			sel.resets = append(sel.resets, s)
		}
	}
	return sel
}

// windowSums is one window's sums over the selected series with a value
// in it (within the series' first and last).
type windowSums struct {
	kwN, kwhN int
	kw, kwh   float64
	reset     bool
}

// addSums adds the selection's values of windows at or after from into
// sums. With all it walks every value (a whole read); otherwise it walks
// each series' grid from max(first, from) to last (the re-read span).
func addSums(sums map[int64]*windowSums, sel siteSelection, from, step int64, all bool) {
	at := func(w int64) *windowSums {
		s := sums[w]
		if s == nil {
			s = &windowSums{}
			sums[w] = s
		}
		return s
	}
	each := func(s *meterWindows, f func(w int64, v any)) {
		if all {
			for w, v := range s.values {
				if w >= from {
					f(w, v)
				}
			}
			return
		}
		for w := max(s.first, from); w <= s.last; w += step {
			if v, ok := s.values[w]; ok {
				f(w, v)
			}
		}
	}
	for _, s := range sel.power {
		each(s, func(w int64, v any) {
			if w < s.first || w > s.last {
				return
			}
			x, _ := v.(float64)
			ws := at(w)
			ws.kwN++
			ws.kw += x
		})
	}
	for _, s := range sel.energy {
		each(s, func(w int64, v any) {
			if w < s.first || w > s.last {
				return
			}
			x, _ := v.(float64)
			ws := at(w)
			ws.kwhN++
			ws.kwh += x
		})
	}
	for _, s := range sel.resets {
		if all {
			for w, v := range s.values {
				if b, _ := v.(bool); b && w >= from {
					at(w).reset = true
				}
			}
			continue
		}
		// A reset flag may lie outside the series' ends only when it is
		// false (first and last span every value), so the grid walk holds.
		each(s, func(w int64, v any) {
			if b, _ := v.(bool); b {
				at(w).reset = true
			}
		})
	}
}

// rangeCount counts, per window of a grid, the series whose [first, last]
// holds it, and says whether that set changed between two windows.
type rangeCount struct {
	base, step int64
	firsts     []int // series whose first is at or before the index
	lasts      []int // series whose last is at or before the index
}

func newRangeCount(sel []*meterWindows, step int64) rangeCount {
	rc := rangeCount{step: step}
	if len(sel) == 0 {
		return rc
	}
	lo, hi := sel[0].first, sel[0].last
	for _, s := range sel {
		lo, hi = min(lo, s.first), max(hi, s.last)
	}
	n := int((hi-lo)/step) + 1
	rc.base, rc.firsts, rc.lasts = lo, make([]int, n), make([]int, n)
	for _, s := range sel {
		rc.firsts[(s.first-lo)/step]++
		rc.lasts[(s.last-lo)/step]++
	}
	for i := 1; i < n; i++ {
		rc.firsts[i] += rc.firsts[i-1]
		rc.lasts[i] += rc.lasts[i-1]
	}
	return rc
}

// upTo returns the counts at index i (0 before the grid, the totals after).
func upTo(c []int, i int) int {
	if i < 0 || len(c) == 0 {
		return 0
	}
	return c[min(i, len(c)-1)]
}

func (rc rangeCount) index(w int64) int {
	if w < rc.base {
		return -1
	}
	return int((w - rc.base) / rc.step)
}

// in is the number of series with first <= w <= last.
func (rc rangeCount) in(w int64) int {
	i := rc.index(w)
	return upTo(rc.firsts, i) - upTo(rc.lasts, i-1)
}

// changed says whether a series entered (first in (a, b]) or left (last in
// [a, b)) between windows a < b.
func (rc rangeCount) changed(a, b int64) bool {
	i, j := rc.index(a), rc.index(b)
	return upTo(rc.firsts, j)-upTo(rc.firsts, i)+upTo(rc.lasts, j-1)-upTo(rc.lasts, i-1) > 0
}

// siteOfSums is sitePowerOf and siteEnergyOf from the window sums.
func siteOfSums(sel siteSelection, sums map[int64]*windowSums, every time.Duration) ([]demand.Sample, []demand.EnergySample) {
	windows := make([]int64, 0, len(sums))
	for w := range sums {
		windows = append(windows, w)
	}
	slices.Sort(windows)
	step := int64(every)
	var power []demand.Sample
	rc := newRangeCount(sel.power, step)
	for _, w := range windows {
		if s := sums[w]; s.kwN > 0 && s.kwN == rc.in(w) {
			power = append(power, demand.Sample{Time: time.Unix(0, w).Add(every / 2).UTC(), KW: s.kw})
		}
	}
	if sel.energy == nil {
		return power, nil
	}
	var energy []demand.EnergySample
	rc = newRangeCount(sel.energy, step)
	prev := int64(0)
	for _, w := range windows {
		s := sums[w]
		if s.kwhN == 0 || s.kwhN != rc.in(w) {
			continue
		}
		changed := len(energy) > 0 && rc.changed(prev, w)
		energy = append(energy, demand.EnergySample{Time: time.Unix(0, w).Add(every).UTC(), KWhTotal: s.kwh, Reset: s.reset || changed})
		prev = w
	}
	return power, energy
}

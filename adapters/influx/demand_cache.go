package influx

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
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
//
// The windows are kept as arrays indexed by window (one float64 and one
// kind byte per window and series), the response is decoded straight into
// them, and the site's per-window sums are kept too: a window before the
// re-read span never changes, so a tick adds up only the re-read windows
// (unless the site selection changed for a series with settled windows:
// then every window is added up again). Completeness is counted again
// every tick from the selected series' first and last windows alone (a
// window is complete when the number of selected series with a value in
// it equals the number whose [first, last] holds it: forCompleteWindows'
// rule). Sums are added in the selection's order, as the Reader adds
// them, so the floats are the same to the bit.
type DemandCache struct {
	R *Reader
	// Reread is how much of the cached end is read again; default 3
	// windows (the controller reads a tick behind the clock already).
	Reread time.Duration

	mu                     sync.Mutex
	g                      grid
	valid                  bool
	readAt                 time.Time
	queries, reads, resums int64
	buf                    bytes.Buffer
	sink                   gridSink
}

// Fields the site rule reads, as indexes into gridMeter.fields.
const (
	fieldKW = iota
	fieldKWhTotal
	fieldKWhReset
	nFields
)

var fieldNames = [nFields]string{"kw", "kwh_total", "kwh_reset"}

// Roles of a series in the site selection.
const (
	rolePower uint8 = 1 << iota
	roleEnergy
	roleReset
)

// grid is the windows of every series over the window numbers [base, end)
// (window k starts k*every after the Unix epoch), at index k-base of each
// array.
type grid struct {
	site       string
	every      time.Duration
	step       int64
	base, end  int64
	meters     map[string]*gridMeter // by meter + "\x00" + category
	series     []*gridSeries         // in sortWindows' order
	added      bool                  // a series added since the last sort
	removed    bool                  // a series removed since the selection
	sel        gridSelection
	sums       gridSums
	sumsOK     bool
	power      []demand.Sample
	energy     []demand.EnergySample
	cntF, cntL []int32 // scratch: selected series with first (last) at or before each window
}

type gridMeter struct {
	meter, category string
	fields          [nFields]*gridSeries
}

type gridSeries struct {
	m           *gridMeter
	field       int
	key         string    // meter \x00 category \x00 field, the sort key
	val         []float64 // the value (0 for a boolean)
	kind        []uint8   // 0: no value, else valNum, valTrue or valFalse
	first, last int64     // window numbers of the first and last value
	role        uint8     // in the selection the sums were added for
	newRole     uint8     // in the current selection
}

type gridSelection struct {
	power, energy, resets []*gridSeries // energy nil when a meter has no register
}

type gridSums struct {
	kw, kwh   []float64
	kwN, kwhN []int32
	reset     []bool
}

// resize makes a hold n windows, zero beyond its old length.
func resize[T any](a []T, n int) []T {
	if n <= cap(a) {
		old := len(a)
		a = a[:n]
		if n > old {
			clear(a[old:])
		}
		return a
	}
	b := make([]T, n, n+n/4+16)
	copy(b, a)
	return b
}

// drop removes the first d windows of a.
func drop[T any](a []T, d int) []T {
	if d >= len(a) {
		return a[:0]
	}
	return a[d:]
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (c *DemandCache) rereadWindows(every time.Duration) int64 {
	if c.Reread > 0 {
		return int64(max((c.Reread+every-1)/every, 1))
	}
	return 3
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

// read brings the grid up to [from, to) and returns the site's power and
// energy of it. c.mu must be held.
func (c *DemandCache) read(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, []demand.EnergySample, error) {
	start, stop, err := demandRange(site, from, to, every)
	if err != nil {
		return nil, nil, err
	}
	c.queries++
	g := &c.g
	step := int64(every)
	sb, se := floorDiv(start.UnixNano(), step), floorDiv(stop.UnixNano(), step)
	same := c.valid && g.site == site && g.every == every
	if same && sb == g.base && se == g.end && time.Since(c.readAt) < time.Second {
		return slices.Clone(g.power), slices.Clone(g.energy), nil // the same tick's other read
	}
	cut := sb
	if same && sb >= g.base && sb < g.end && se >= g.end {
		cut = max(sb, g.end-c.rereadWindows(every))
	} else {
		c.reads++
		*g = grid{site: site, every: every, step: step, base: sb, end: sb, meters: map[string]*gridMeter{}}
	}
	c.valid = false // until the read is merged
	g.move(sb, se)
	g.clearFrom(cut)
	body, err := c.R.influxQLBody(ctx, siteStatement(site, time.Unix(0, cut*step), stop, every), &c.buf)
	if err != nil {
		return nil, nil, err
	}
	c.sink.g, c.sink.from = g, cut
	if err := decodeWindowsInto(body, &c.sink); err != nil {
		// Another form (or an error): decodeWindows reads it or names
		// the error.
		g.clearFrom(cut)
		series, err := decodeWindows(bytes.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		for _, s := range series {
			c.sink.beginSeries([]byte(s.meter), []byte(s.category), [][]byte{[]byte("time"), []byte(s.field)})
			for w, v := range s.values {
				switch x := v.(type) {
				case float64:
					c.sink.value(1, w, x, valNum)
				case bool:
					kind := valFalse
					if x {
						kind = valTrue
					}
					c.sink.value(1, w, 0, kind)
				}
			}
		}
	}
	c.readAt = time.Now()
	c.valid = true
	g.bounds(cut)
	if g.added {
		slices.SortFunc(g.series, func(a, b *gridSeries) int { return strings.Compare(a.key, b.key) })
	}
	kept := g.sumsOK
	if g.added || g.removed || !g.sumsOK {
		g.selectSite()
		for _, s := range g.series {
			if s.newRole != s.role && s.first < cut {
				kept = false
			}
			s.role = s.newRole
		}
		g.added, g.removed = false, false
	}
	if !kept {
		cut = g.base
		c.resums++
	}
	g.addSums(cut)
	g.sumsOK = true
	g.power, g.energy = g.siteOf()
	return slices.Clone(g.power), slices.Clone(g.energy), nil
}

// move drops the windows before sb and extends the grid to se.
func (g *grid) move(sb, se int64) {
	if d := int(sb - g.base); d > 0 {
		for _, s := range g.series {
			s.val, s.kind = drop(s.val, d), drop(s.kind, d)
		}
		g.sums.kw, g.sums.kwh = drop(g.sums.kw, d), drop(g.sums.kwh, d)
		g.sums.kwN, g.sums.kwhN = drop(g.sums.kwN, d), drop(g.sums.kwhN, d)
		g.sums.reset = drop(g.sums.reset, d)
		g.base = sb
	}
	n := int(se - g.base)
	for _, s := range g.series {
		s.val, s.kind = resize(s.val, n), resize(s.kind, n)
	}
	g.sums.kw, g.sums.kwh = resize(g.sums.kw, n), resize(g.sums.kwh, n)
	g.sums.kwN, g.sums.kwhN = resize(g.sums.kwN, n), resize(g.sums.kwhN, n)
	g.sums.reset = resize(g.sums.reset, n)
	g.end = se
}

// clearFrom forgets every series' values of windows at or after k (they
// are read again).
func (g *grid) clearFrom(k int64) {
	i := int(k - g.base)
	for _, s := range g.series {
		clear(s.kind[i:])
	}
}

// bounds finds each series' first and last window again after values at
// or after cut were read (and windows before base dropped), and removes
// the series left without a value.
func (g *grid) bounds(cut int64) {
	n := g.end - g.base
	out := g.series[:0]
	for _, s := range g.series {
		i := max(min(s.first, cut), g.base) - g.base
		for i < n && s.kind[i] == 0 {
			i++
		}
		if i == n {
			g.meters[s.m.meter+"\x00"+s.m.category].fields[s.field] = nil
			g.removed = true
			continue
		}
		j := n - 1
		for j >= cut-g.base && s.kind[j] == 0 {
			j--
		}
		if j < cut-g.base {
			j = min(s.last-g.base, j)
			for s.kind[j] == 0 {
				j--
			}
		}
		s.first, s.last = g.base+i, g.base+j
		out = append(out, s)
	}
	clear(g.series[len(out):])
	g.series = out
	for k, m := range g.meters {
		if m.fields == [nFields]*gridSeries{} {
			delete(g.meters, k)
		}
	}
}

// selectSite applies the Demand input rule (demand_store.go) to the
// series, in the Reader's order.
func (g *grid) selectSite() {
	var sel gridSelection
	var all, facility []*gridSeries
	totals := map[string]*gridSeries{}
	for _, s := range g.series {
		switch s.field {
		case fieldKW:
			all = append(all, s)
			if s.m.category == "facility" {
				facility = append(facility, s)
			}
		case fieldKWhTotal:
			totals[s.m.meter] = s
		}
	}
	sel.power = all
	if len(facility) > 0 {
		sel.power = facility
	}
	meters := make(map[string]bool, len(sel.power))
	noEnergy := false
	for _, p := range sel.power {
		meters[p.m.meter] = true
		t, ok := totals[p.m.meter]
		if !ok {
			noEnergy = true
			continue
		}
		sel.energy = append(sel.energy, t)
	}
	if noEnergy {
		sel.energy = nil
	}
	for _, s := range g.series {
		if s.field == fieldKWhReset && meters[s.m.meter] {
			sel.resets = append(sel.resets, s)
		}
	}
	for _, s := range g.series {
		s.newRole = 0
	}
	for _, s := range sel.power {
		s.newRole |= rolePower
	}
	for _, s := range sel.energy {
		s.newRole |= roleEnergy
	}
	for _, s := range sel.resets {
		s.newRole |= roleReset
	}
	g.sel = sel
}

// addSums adds up the selection's values of the windows at or after from.
func (g *grid) addSums(from int64) {
	b := int(from - g.base)
	sm := &g.sums
	clear(sm.kw[b:])
	clear(sm.kwh[b:])
	clear(sm.kwN[b:])
	clear(sm.kwhN[b:])
	clear(sm.reset[b:])
	for _, s := range g.sel.power {
		for i := int(max(s.first, from) - g.base); i <= int(s.last-g.base); i++ {
			if s.kind[i] != 0 {
				sm.kwN[i]++
				sm.kw[i] += s.val[i]
			}
		}
	}
	for _, s := range g.sel.energy {
		for i := int(max(s.first, from) - g.base); i <= int(s.last-g.base); i++ {
			if s.kind[i] != 0 {
				sm.kwhN[i]++
				sm.kwh[i] += s.val[i]
			}
		}
	}
	for _, s := range g.sel.resets {
		for i := int(max(s.first, from) - g.base); i <= int(s.last-g.base); i++ {
			if s.kind[i] == valTrue {
				sm.reset[i] = true
			}
		}
	}
}

// counts fills g.cntF and g.cntL: per window, the series of sel whose
// first (last) is at or before it.
func (g *grid) counts(sel []*gridSeries) {
	n := int(g.end - g.base)
	g.cntF, g.cntL = resize(g.cntF[:0], n), resize(g.cntL[:0], n)
	for _, s := range sel {
		g.cntF[s.first-g.base]++
		g.cntL[s.last-g.base]++
	}
	for i := 1; i < n; i++ {
		g.cntF[i] += g.cntF[i-1]
		g.cntL[i] += g.cntL[i-1]
	}
}

func at(c []int32, i int) int32 {
	if i < 0 {
		return 0
	}
	return c[i]
}

// siteOf is sitePowerOf and siteEnergyOf from the sums.
func (g *grid) siteOf() ([]demand.Sample, []demand.EnergySample) {
	n := int(g.end - g.base)
	sm := &g.sums
	every := g.every
	var power []demand.Sample
	g.counts(g.sel.power)
	for i := 0; i < n; i++ {
		if sm.kwN[i] > 0 && sm.kwN[i] == g.cntF[i]-at(g.cntL, i-1) {
			w := (g.base + int64(i)) * g.step
			power = append(power, demand.Sample{Time: time.Unix(0, w).Add(every / 2).UTC(), KW: sm.kw[i]})
		}
	}
	if g.sel.energy == nil {
		return power, nil
	}
	var energy []demand.EnergySample
	g.counts(g.sel.energy)
	prev := 0
	for i := 0; i < n; i++ {
		if sm.kwhN[i] == 0 || sm.kwhN[i] != g.cntF[i]-at(g.cntL, i-1) {
			continue
		}
		// A series entered (first in (prev, i]) or left (last in [prev, i)).
		changed := len(energy) > 0 && g.cntF[i]-g.cntF[prev]+at(g.cntL, i-1)-at(g.cntL, prev-1) > 0
		w := (g.base + int64(i)) * g.step
		energy = append(energy, demand.EnergySample{Time: time.Unix(0, w).Add(every).UTC(), KWhTotal: sm.kwh[i], Reset: sm.reset[i] || changed})
		prev = i
	}
	return power, energy
}

// gridSink decodes a response into the grid's windows at or after from.
type gridSink struct {
	g    *grid
	from int64
	key  []byte
	m    *gridMeter
	cols []int8 // column → field, -1 for a column the site rule does not read
}

func (s *gridSink) beginSeries(meter, category []byte, columns [][]byte) {
	s.key = append(append(append(s.key[:0], meter...), 0), category...)
	s.m = s.g.meters[string(s.key)]
	if s.m == nil {
		s.m = &gridMeter{meter: string(meter), category: string(category)}
		s.g.meters[string(s.key)] = s.m
	}
	s.cols = s.cols[:0]
	for _, c := range columns {
		f := int8(-1)
		for i, name := range fieldNames {
			if string(c) == name {
				f = int8(i)
			}
		}
		s.cols = append(s.cols, f)
	}
}

func (s *gridSink) value(col int, w int64, num float64, kind uint8) {
	f := s.cols[col]
	g := s.g
	k := floorDiv(w, g.step)
	if f < 0 || k < s.from || k >= g.end {
		return
	}
	sr := s.m.fields[f]
	if sr == nil {
		n := int(g.end - g.base)
		sr = &gridSeries{m: s.m, field: int(f), key: s.m.meter + "\x00" + s.m.category + "\x00" + fieldNames[f],
			val: make([]float64, n, n+n/4+16), kind: make([]uint8, n, n+n/4+16), first: k, last: k}
		s.m.fields[f] = sr
		g.series = append(g.series, sr)
		g.added = true
	}
	sr.val[k-g.base], sr.kind[k-g.base] = num, kind
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

package sla

import (
	"sort"
	"time"
)

// An evaluation can take a day's probe samples from that day's summaries
// (ProbeSummary) instead of the samples themselves, where that gives the
// same figures:
//
//   - a day whose samples all count (in service time, UP or DOWN) adds its
//     summaries whole;
//   - a day whose samples all are excluded adds their number to Excluded;
//   - a day with both: if its excluded stretches are the shorter part, the
//     summaries are added and the samples of those stretches are read and
//     taken out again ("subtract"); else the samples of the counted
//     stretches are read and the summaries only give the number excluded
//     ("additive"). Taking out keeps every count and the histogram exact;
//     only the day's maximum can be lost with a removed sample, and then
//     the counted stretches are read once more for it (MaxReads);
//   - days without complete summaries, parts of days at the period's ends
//     and at a provisional report's cut-off are read whole.
//
// A summary made with another response bound than the SLA's (or of
// another length than its day) cannot be used: the service's whole
// period is then read from samples. Counts, the maximum and the histogram
// (ResponseFigures.Histogram) equal those from the samples; P50, P95 and
// P99 become estimates from the summed fine histograms, at most 0.96%
// above the exact values (ResponseFigures.Estimated).

type dayKind uint8

const (
	dayUnused dayKind = iota // not inside the period up to the cut-off: read raw
	dayCounted
	dayExcluded
	daySubtract
	dayAdditive
)

// mixedDay is a day with counted and excluded stretches.
type mixedDay struct {
	subtract bool
	// pieces are the stretches read: excluded ones (subtract) or counted
	// ones (additive); counted are those of a subtract day.
	pieces, counted []Interval
	has             bool    // a summary was added
	max             float64 // subtract: the summaries' maximum
	ambiguous       bool    // subtract: a removed sample was that maximum
	maxRead         float64 // the counted stretches' maximum, read again
}

type readMode uint8

const (
	readPlain    readMode = iota // classify as usual
	readAdditive                 // a counted sample of an additive day
	readSubtract                 // an excluded sample the summary counted
	readMax                      // only the maximum of a subtract day
)

type rawRead struct {
	Interval
	mode readMode
	day  *mixedDay
}

// summaryPlan is what an evaluation took from summaries.
type summaryPlan struct {
	days     []Interval // rolled-up days, sorted (shared between evaluations)
	kinds    []dayKind  // per day
	mixed    map[int]*mixedDay
	gaps     []Interval // period parts no used day covers
	fallback bool       // a summary did not fit: everything is read raw
	fig      ResponseFigures
	hist     ResponseHistogram
	max      float64 // of counted days
	reads    []rawRead
}

// UseSummaries prepares the evaluation to take probe summaries of days,
// the days whose summaries are complete (a rollup finished them), sorted
// by start. Call it once, after Begin and before AddSummary and
// AddProbes; then AddSummary for the summaries, AddProbes for the samples
// of RawReads, and if MaxReads returns any, AddProbes for those too. The
// evaluation keeps days (read only).
func (e *Evaluation) UseSummaries(days []Interval) {
	p := &summaryPlan{days: days, kinds: make([]dayKind, len(days)), mixed: map[int]*mixedDay{}}
	start, end := e.in.Period.Start, e.cutoff
	covered := start
	for i, d := range days {
		if d.Start.Before(start) || d.End.After(end) || d.Start.Before(covered) || !d.End.After(d.Start) {
			continue // outside, or overlapping a day already used
		}
		if d.Start.After(covered) {
			p.gaps = append(p.gaps, Interval{covered, d.Start})
		}
		covered = d.End
		p.kinds[i] = e.classifyDay(d, p, i)
	}
	if covered.Before(end) {
		p.gaps = append(p.gaps, Interval{covered, end})
	}
	e.plan = p
}

// classifyDay says how day i's summaries can be used.
func (e *Evaluation) classifyDay(d Interval, p *summaryPlan, i int) dayKind {
	var counted, excluded []Interval
	var countedDur, excludedDur time.Duration
	e.forSegments(d.Start, d.End, func(s Segment, dur time.Duration) {
		a := maxTime(s.Start, d.Start)
		iv := Interval{a, a.Add(dur)}
		list, total := &excluded, &excludedDur
		if s.InService && (s.State == StateUp || s.State == StateDown) {
			list, total = &counted, &countedDur
		}
		*total += dur
		if n := len(*list); n > 0 && (*list)[n-1].End.Equal(iv.Start) {
			(*list)[n-1].End = iv.End
		} else {
			*list = append(*list, iv)
		}
	})
	switch {
	case excludedDur == 0:
		return dayCounted
	case countedDur == 0:
		return dayExcluded
	case excludedDur <= countedDur:
		p.mixed[i] = &mixedDay{subtract: true, pieces: excluded, counted: counted}
		return daySubtract
	}
	p.mixed[i] = &mixedDay{pieces: counted}
	return dayAdditive
}

// AddSummary adds one probe summary of a day given to UseSummaries; those
// of other days are ignored (their samples are read). Any order.
func (e *Evaluation) AddSummary(s ProbeSummary) {
	p := e.plan
	if p == nil || p.fallback {
		return
	}
	i := sort.Search(len(p.days), func(i int) bool { return !p.days[i].Start.Before(s.Start) })
	if i == len(p.days) || !p.days[i].Start.Equal(s.Start) || p.kinds[i] == dayUnused {
		return
	}
	kind := p.kinds[i]
	if !s.End.Equal(p.days[i].End) || (kind != dayExcluded && s.BoundMs != e.resp.boundMs) {
		// Made for another day length or response bound: read it all.
		*p = summaryPlan{fallback: true}
		return
	}
	switch kind {
	case dayExcluded:
		p.fig.Excluded += s.Samples
		return
	case dayAdditive:
		p.fig.Excluded += s.Samples
		p.mixed[i].has = true
		return
	case daySubtract:
		m := p.mixed[i]
		m.has, m.max = true, max(m.max, s.MaxMs)
	case dayCounted:
		p.max = max(p.max, s.MaxMs)
	}
	p.fig.Valid += s.Samples
	p.fig.Failed += s.Failed
	p.fig.Within += s.Within
	p.hist.Merge(s.Hist)
}

// RawReads returns, after the summaries, the stretches whose samples
// AddProbes needs, sorted; without UseSummaries, the whole period up to
// the cut-off.
func (e *Evaluation) RawReads() []Interval {
	whole := []Interval{{e.in.Period.Start, e.cutoff}}
	p := e.plan
	if p == nil {
		return whole
	}
	p.reads = p.reads[:0]
	if p.fallback {
		p.reads = append(p.reads, rawRead{Interval: whole[0]})
		return whole
	}
	for _, g := range p.gaps {
		p.reads = append(p.reads, rawRead{Interval: g})
	}
	for _, m := range p.mixed {
		if !m.has {
			continue // rolled up without a sample of this service
		}
		mode := readAdditive
		if m.subtract {
			mode = readSubtract
		}
		for _, iv := range m.pieces {
			p.reads = append(p.reads, rawRead{Interval: iv, mode: mode, day: m})
		}
	}
	return p.sortedReads()
}

// MaxReads returns, after the samples of RawReads, the counted stretches
// of days whose maximum was among the samples taken out, sorted; usually
// none. Their samples go to AddProbes like the others.
func (e *Evaluation) MaxReads() []Interval {
	p := e.plan
	if p == nil || p.fallback {
		return nil
	}
	p.reads = p.reads[:0]
	for _, m := range p.mixed {
		if m.ambiguous {
			for _, iv := range m.counted {
				p.reads = append(p.reads, rawRead{Interval: iv, mode: readMax, day: m})
			}
		}
	}
	return p.sortedReads()
}

func (p *summaryPlan) sortedReads() []Interval {
	sort.Slice(p.reads, func(i, j int) bool { return p.reads[i].Start.Before(p.reads[j].Start) })
	out := make([]Interval, len(p.reads))
	for i, r := range p.reads {
		out[i] = r.Interval
	}
	return out
}

// addPlanned takes a sample of one of the plan's reads.
func (e *Evaluation) addPlanned(s ProbeSample) {
	p := e.plan
	i := sort.Search(len(p.reads), func(i int) bool { return p.reads[i].End.After(s.At) })
	if i == len(p.reads) || s.At.Before(p.reads[i].Start) {
		return // a summary has it
	}
	r := p.reads[i]
	switch r.mode {
	case readPlain:
		e.resp.add(s, e.valid(s.At))
	case readAdditive:
		p.fig.Excluded--
		e.resp.add(s, e.valid(s.At))
	case readSubtract:
		p.fig.Valid--
		p.fig.Excluded++
		if !s.Up {
			p.fig.Failed--
			return
		}
		if s.ResponseMs <= e.resp.boundMs {
			p.fig.Within--
		}
		p.hist.remove(s.ResponseMs)
		if s.ResponseMs >= r.day.max {
			r.day.ambiguous = true
		}
	case readMax:
		if s.Up {
			r.day.maxRead = max(r.day.maxRead, s.ResponseMs)
		}
	}
}

// summed adds the plan's part to the figures of the samples.
func (p *summaryPlan) summed(f ResponseFigures) (ResponseFigures, ResponseHistogram, float64) {
	f.Valid += p.fig.Valid
	f.Failed += p.fig.Failed
	f.Within += p.fig.Within
	f.Excluded += p.fig.Excluded
	top := p.max
	for _, m := range p.mixed {
		switch {
		case !m.has || !m.subtract:
		case m.ambiguous:
			top = max(top, m.maxRead)
		default:
			top = max(top, m.max)
		}
	}
	return f, p.hist, top
}

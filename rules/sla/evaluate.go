package sla

import (
	"fmt"
	"sort"
	"time"
)

// maxLookback bounds how far before the period a timeline reaches to find
// where a carried-over incident began.
const maxLookback = 366 * 24 * time.Hour

// Input is everything one service's evaluation over one period needs. It
// is data only: the caller's store fetched it, and the caller's clock (or
// a replay) chose EvalTime.
type Input struct {
	Service Service
	SLA     SLA
	// Location of SLA.TimeZone; nil loads it.
	Location *time.Location
	Policy   Policy
	Period   Period
	// EvalTime cuts a provisional report short (the current month); zero
	// or after Period.End means the whole period.
	EvalTime time.Time
	// DataUntil is how far Changes are known, at or after the cut-off;
	// time after the period only serves to find when incidents ended.
	DataUntil time.Time
	// Changes of the service's state: every change from some time before
	// the period (to find carried-over incidents and merges across the
	// boundary) up to DataUntil, plus the last change before them.
	Changes     []StateChange
	Maintenance []MaintenanceWindow
	// Probes may also be given later, in batches, with AddProbes.
	Probes []ProbeSample
}

// Evaluation is one service's evaluation in progress: the timeline is
// built by Begin, probe samples are streamed in with AddProbes, and Finish
// returns the figures. It does no I/O and reads no clock.
type Evaluation struct {
	in     Input
	sla    SLA
	pol    Policy
	loc    *time.Location
	cutoff time.Time
	tl     Timeline
	resp   responseAcc
	plan   *summaryPlan // set by UseSummaries
}

// Evaluate is Begin, AddProbes(in.Probes), Finish.
func Evaluate(in Input) (Figures, error) {
	e, err := Begin(in)
	if err != nil {
		return Figures{}, err
	}
	e.AddProbes(in.Probes)
	return e.Finish(), nil
}

// Begin validates the input and builds the service's timeline.
func Begin(in Input) (*Evaluation, error) {
	e := &Evaluation{in: in, sla: in.SLA.WithDefaults(), pol: in.Policy.WithDefaults()}
	if !in.Period.End.After(in.Period.Start) {
		return nil, fmt.Errorf("service %q: empty period %q", in.Service.Name, in.Period.Label)
	}
	e.loc = in.Location
	if e.loc == nil {
		var err error
		if e.loc, err = time.LoadLocation(e.sla.TimeZone); err != nil {
			return nil, fmt.Errorf("service %q: sla %q: %w", in.Service.Name, e.sla.Name, err)
		}
	}
	e.cutoff = in.Period.End
	if !in.EvalTime.IsZero() && in.EvalTime.Before(e.cutoff) {
		e.cutoff = in.EvalTime
	}
	if !e.cutoff.After(in.Period.Start) {
		return nil, fmt.Errorf("service %q: evaluation time %s is not after the start of %s", in.Service.Name, e.cutoff, in.Period.Label)
	}
	from := in.Period.Start
	for _, c := range in.Changes {
		if c.At.Before(from) {
			from = c.At
		}
	}
	if lim := in.Period.Start.Add(-maxLookback); from.Before(lim) {
		from = lim
	}
	to := e.cutoff
	if in.DataUntil.After(to) {
		to = in.DataUntil
	}
	tl, err := BuildTimeline(TimelineInput{
		Service: in.Service, SLA: e.sla, Location: e.loc, Policy: e.pol,
		Changes: in.Changes, Maintenance: in.Maintenance, From: from, To: to,
	})
	if err != nil {
		return nil, err
	}
	e.tl = tl
	e.resp.boundMs = float64(e.sla.ResponseBound) / float64(time.Millisecond)
	return e, nil
}

// Timeline is the classified timeline the evaluation works on.
func (e *Evaluation) Timeline() Timeline { return e.tl }

// AddProbes classifies probe samples: inside the period and service time,
// outside PLANNED and UNKNOWN they are valid. Any order. After
// UseSummaries, only samples inside RawReads (or MaxReads) are taken.
func (e *Evaluation) AddProbes(samples []ProbeSample) {
	for _, s := range samples {
		if s.At.Before(e.in.Period.Start) || !s.At.Before(e.cutoff) {
			continue
		}
		if e.plan != nil {
			e.addPlanned(s)
			continue
		}
		e.resp.add(s, e.valid(s.At))
	}
}

// valid says whether a sample at t counts: in service time, UP or DOWN.
func (e *Evaluation) valid(t time.Time) bool {
	segs := e.tl.Segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].End.After(t) })
	return i < len(segs) && segs[i].InService && (segs[i].State == StateUp || segs[i].State == StateDown)
}

// Finish computes the figures.
func (e *Evaluation) Finish() Figures {
	in, p := e.in, e.in.Period
	f := Figures{
		Service: in.Service.Name, Customer: in.Service.Customer, SLA: e.sla.Name,
		Objective: e.sla.Objective, ServiceHours: e.sla.ServiceHours.String(),
		Period: p, Provisional: e.cutoff.Before(p.End),
		Partial:     in.Service.Created.After(p.Start) || (!in.Service.Deleted.IsZero() && in.Service.Deleted.Before(p.End)),
		MinCoverage: e.pol.MinCoverage, MaxFailures: e.sla.MaxFailures, RTO: e.sla.RTO, Months: 1,
	}
	tally := e.tl.Tally(p.Start, e.cutoff)
	f.ServiceTime = tally.Service()
	f.Up, f.Down, f.Unknown, f.Planned, f.Degraded = tally.Up, tally.Down, tally.Unknown, tally.Planned, tally.Degraded

	byWindow := map[string]*MaintenanceOutcome{}
	for _, w := range in.Maintenance {
		if !w.covers(in.Service.Name) || w.Cancelled || !w.Start.Before(e.cutoff) || !w.End.After(p.Start) {
			continue
		}
		class, notice := w.Classify(e.sla, e.pol)
		_, back := w.NoticeFrom(e.pol)
		f.Maintenance = append(f.Maintenance, MaintenanceOutcome{Window: w, Class: class, Notice: notice, Backdated: back})
	}
	for i := range f.Maintenance {
		byWindow[f.Maintenance[i].Window.ID] = &f.Maintenance[i]
	}
	e.forSegments(p.Start, e.cutoff, func(s Segment, d time.Duration) {
		if !s.InService {
			return
		}
		if s.State == StateDown {
			switch s.Cause {
			case CauseEnergyAction:
				f.EnergyActionDown += d
			case CauseShortNotice:
				f.ShortNoticeDown += d
			case CauseOverrun:
				f.OverrunDown += d
			case CauseUnannounced:
				f.UnannouncedDown += d
			}
		}
		if m := byWindow[s.Maintenance]; m != nil {
			switch {
			case s.State == StatePlanned:
				m.Excluded += d
			case s.Cause == CauseShortNotice:
				m.CountedDown += d
			case s.Cause == CauseOverrun:
				m.Overrun += d
			}
		}
	})

	for _, inc := range e.incidents() {
		switch {
		case !inc.Start.Before(p.Start) && inc.Start.Before(e.cutoff):
			f.Incidents = append(f.Incidents, inc)
		case inc.Start.Before(p.Start) && inc.End.After(p.Start):
			f.CarriedOver = append(f.CarriedOver, inc)
		}
	}

	for _, day := range p.Days(e.loc) {
		if !day.Start.Before(e.cutoff) {
			break
		}
		t := e.tl.Tally(day.Start, minTime(day.End, e.cutoff))
		f.Daily = append(f.Daily, DayFigures{
			Date: day.Start.In(e.loc).Format("2006-01-02"),
			Up:   t.Up, Down: t.Down, Unknown: t.Unknown, Planned: t.Planned,
		})
	}

	e.resp.fig.Bound, e.resp.fig.Objective = e.sla.ResponseBound, e.sla.ResponseObjective
	f.Response = e.resp.finish(e.plan)
	f.derive()
	return f
}

// forSegments calls fn for each segment's part inside [from, to).
func (e *Evaluation) forSegments(from, to time.Time, fn func(Segment, time.Duration)) {
	segs := e.tl.Segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].End.After(from) })
	for ; i < len(segs) && segs[i].Start.Before(to); i++ {
		a, b := segs[i].Start, segs[i].End
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		fn(segs[i], b.Sub(a))
	}
}

// incidents finds every incident on the whole timeline (research §5a):
// maximal DOWN stretches with in-service downtime, merged while the UP
// service time between them is shorter than the merge gap. Time that is
// not UP (unknown, planned, outside service hours) does not separate
// incidents. The caller assigns each to the period it started in.
func (e *Evaluation) incidents() []Incident {
	type stretch struct {
		start, end time.Time
		first      time.Time // first in-service DOWN instant
		down       time.Duration
		causes     []string
		maint      string
		upBefore   time.Duration // in-service UP since the previous kept stretch
	}
	var kept []stretch
	var cur *stretch
	var upGap time.Duration
	haveKept := false
	closeCur := func() {
		if cur != nil && cur.down > 0 {
			cur.upBefore = upGap
			if !haveKept {
				cur.upBefore = e.pol.MergeGap // nothing to merge with
			}
			kept = append(kept, *cur)
			haveKept, upGap = true, 0
		}
		cur = nil
	}
	for _, s := range e.tl.Segments {
		if s.State != StateDown {
			closeCur()
			if s.State == StateUp && s.InService {
				upGap += s.Duration()
			}
			continue
		}
		if cur == nil {
			cur = &stretch{start: s.Start}
		}
		cur.end = s.End
		if s.InService {
			if cur.down == 0 {
				cur.first = s.Start
			}
			cur.down += s.Duration()
		}
		if s.Cause != "" && (len(cur.causes) == 0 || cur.causes[len(cur.causes)-1] != s.Cause) {
			cur.causes = append(cur.causes, s.Cause)
		}
		if cur.maint == "" {
			cur.maint = s.Maintenance
		}
	}
	closeCur()

	var out []Incident
	for _, st := range kept {
		if n := len(out); n > 0 && st.upBefore < e.pol.MergeGap {
			last := &out[n-1]
			last.End = st.end
			last.Downtime += st.down
			last.Stretches++
			for _, c := range st.causes {
				last.Causes = appendUnique(last.Causes, c)
			}
			if last.Maintenance == "" {
				last.Maintenance = st.maint
			}
			continue
		}
		inc := Incident{Start: st.first, End: st.end, Downtime: st.down, Maintenance: st.maint, Stretches: 1}
		for _, c := range st.causes {
			inc.Causes = appendUnique(inc.Causes, c)
		}
		out = append(out, inc)
	}
	for i := range out {
		inc := &out[i]
		inc.Ongoing = !inc.End.Before(e.tl.To)
		t := e.tl.Tally(inc.Start, inc.End)
		inc.TTR = t.Service() - t.Planned
		inc.DowntimeInPeriod = e.tl.Tally(maxTime(inc.Start, e.in.Period.Start), minTime(inc.End, e.cutoff)).Down
		inc.Failure = len(inc.Causes) == 0
		for _, c := range inc.Causes {
			if c != CauseShortNotice {
				inc.Failure = true
			}
			if c == CauseEnergyAction {
				inc.EnergyAction = true
			}
		}
		inc.RTOBreach = inc.Failure && e.sla.RTO > 0 && inc.TTR > e.sla.RTO
	}
	return out
}

func appendUnique(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

package sla

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Segment is a stretch of a service's time with one class.
type Segment struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// State is the class after maintenance, precedence and severity.
	State State  `json:"state"`
	Cause string `json:"cause,omitempty"`
	// Maintenance is the ID of the window that made the stretch PLANNED,
	// short-notice DOWN or an overrun.
	Maintenance string `json:"maintenance,omitempty"`
	// InService: inside service hours and the service's existence.
	InService bool `json:"in_service"`
	// Degraded: observed DOWN below the SLA's DownSeverity, counted as UP.
	Degraded bool `json:"degraded,omitempty"`
}

// Duration of the segment.
func (s Segment) Duration() time.Duration { return s.End.Sub(s.Start) }

// Timeline is a service's classified time over [From, To): contiguous
// segments in time order.
type Timeline struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Segments []Segment `json:"segments"`
}

// TimelineInput is what BuildTimeline classifies.
type TimelineInput struct {
	Service Service
	SLA     SLA
	// Location of the SLA's time zone; nil loads SLA.TimeZone.
	Location *time.Location
	Policy   Policy
	// Changes of the service, any order. The state at From is the last
	// change at or before From, or UNKNOWN if there is none.
	Changes []StateChange
	// Maintenance records; those not naming the service are ignored.
	Maintenance []MaintenanceWindow
	From, To    time.Time
}

// BuildTimeline classifies [From, To) for one service with precedence
// PLANNED > short-notice maintenance (DOWN) > UNKNOWN > DOWN > UP, marks
// overruns and service hours. Short-notice maintenance outranks UNKNOWN:
// the operator declared the outage, so it is known (mission.md: announced
// < 30 days ahead is not excluded). Cost: O((changes + windows + days) x
// log) for the sort, then linear.
func BuildTimeline(in TimelineInput) (Timeline, error) {
	if !in.To.After(in.From) {
		return Timeline{}, fmt.Errorf("service %q: timeline from %s to %s is empty", in.Service.Name, in.From, in.To)
	}
	loc := in.Location
	if loc == nil {
		var err error
		if loc, err = time.LoadLocation(in.SLA.WithDefaults().TimeZone); err != nil {
			return Timeline{}, fmt.Errorf("service %q: %w", in.Service.Name, err)
		}
	}
	sla := in.SLA.WithDefaults()
	pol := in.Policy.WithDefaults()

	obs := observedSteps(in.Changes, in.From, in.To)

	// Maintenance windows of this service, classified under its SLA.
	type mwin struct {
		Interval
		id      string
		planned bool
	}
	var wins []mwin
	for _, w := range in.Maintenance {
		if !w.covers(in.Service.Name) || w.Cancelled || !w.Start.Before(in.To) || !w.End.After(in.From) {
			continue
		}
		class, _ := w.Classify(sla, pol)
		wins = append(wins, mwin{Interval{w.Start, w.End}, w.ID, class == MaintenancePlanned})
	}
	sort.SliceStable(wins, func(i, j int) bool { return wins[i].Start.Before(wins[j].Start) })

	// Service time: service hours within the service's existence.
	exist := Interval{in.From, in.To}
	if in.Service.Created.After(exist.Start) {
		exist.Start = in.Service.Created
	}
	if !in.Service.Deleted.IsZero() && in.Service.Deleted.Before(exist.End) {
		exist.End = in.Service.Deleted
	}
	var hours []Interval
	if exist.End.After(exist.Start) {
		hours = sla.ServiceHours.Intervals(exist.Start, exist.End, loc)
	}

	bounds := []time.Time{in.From, in.To}
	for _, o := range obs {
		bounds = append(bounds, o.At)
	}
	for _, w := range wins {
		bounds = append(bounds, w.Start, w.End)
	}
	for _, h := range hours {
		bounds = append(bounds, h.Start, h.End)
	}
	bounds = sortedUnique(bounds, in.From, in.To)

	tl := Timeline{From: in.From, To: in.To}
	oi, hi := 0, 0
	for i := 0; i+1 < len(bounds); i++ {
		a, b := bounds[i], bounds[i+1]
		for oi+1 < len(obs) && !obs[oi+1].At.After(a) {
			oi++
		}
		for hi < len(hours) && !hours[hi].End.After(a) {
			hi++
		}
		o := obs[oi]
		seg := Segment{Start: a, End: b, InService: hi < len(hours) && !hours[hi].Start.After(a)}
		var inPlanned, inShort *mwin
		var lastEnded *mwin // the latest window that ended at or before a
		for k := range wins {
			w := &wins[k]
			switch {
			case w.Contains(a):
				if w.planned && inPlanned == nil {
					inPlanned = w
				} else if !w.planned && inShort == nil {
					inShort = w
				}
			case !w.End.After(a):
				if lastEnded == nil || w.End.After(lastEnded.End) {
					lastEnded = w
				}
			}
		}
		switch {
		case inPlanned != nil:
			seg.State, seg.Maintenance = StatePlanned, inPlanned.id
		case inShort != nil:
			seg.State, seg.Cause, seg.Maintenance = StateDown, CauseShortNotice, inShort.id
		default:
			seg.State, seg.Cause = o.State, o.Cause
			if o.State == StatePlanned {
				seg.State = StateDown
				if seg.Cause == "" {
					seg.Cause = CauseUnannounced
				}
			}
			if seg.State == StateDown && o.Severity != SeverityUnset && sla.DownSeverity != SeverityUnset && o.Severity < sla.DownSeverity {
				seg.State, seg.Degraded = StateUp, true
			}
			// Down that began before a window ended and is still going
			// on after it: the maintenance overran (research §5a).
			if seg.State == StateDown && !seg.Degraded && lastEnded != nil && o.At.Before(lastEnded.End) {
				seg.Cause, seg.Maintenance = CauseOverrun, lastEnded.id
			}
		}
		tl.appendSegment(seg)
	}
	return tl, nil
}

// observedSteps returns the observed state as steps: the first at from
// (the state in force then), then every change inside (from, to).
func observedSteps(changes []StateChange, from, to time.Time) []StateChange {
	sorted := changes
	if !sort.SliceIsSorted(changes, func(i, j int) bool { return changes[i].At.Before(changes[j].At) }) {
		sorted = make([]StateChange, len(changes))
		copy(sorted, changes)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	}
	first := StateChange{At: from, State: StateUnknown, Cause: CauseNoData}
	i := 0
	for ; i < len(sorted) && !sorted[i].At.After(from); i++ {
		first = sorted[i]
	}
	out := []StateChange{first}
	for ; i < len(sorted) && sorted[i].At.Before(to); i++ {
		if sorted[i].same(out[len(out)-1]) {
			continue
		}
		out = append(out, sorted[i])
	}
	return out
}

func sortedUnique(ts []time.Time, from, to time.Time) []time.Time {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	out := ts[:0]
	for _, t := range ts {
		if t.Before(from) || t.After(to) {
			continue
		}
		if len(out) > 0 && out[len(out)-1].Equal(t) {
			continue
		}
		out = append(out, t)
	}
	return out
}

func (tl *Timeline) appendSegment(s Segment) {
	if n := len(tl.Segments); n > 0 {
		p := &tl.Segments[n-1]
		if p.State == s.State && p.Cause == s.Cause && p.Maintenance == s.Maintenance &&
			p.InService == s.InService && p.Degraded == s.Degraded && p.End.Equal(s.Start) {
			p.End = s.End
			return
		}
	}
	tl.Segments = append(tl.Segments, s)
}

// Tally is in-service time by class.
type Tally struct {
	Up, Down, Unknown, Planned, Degraded time.Duration
}

// Service is all in-service time (T_E).
func (t Tally) Service() time.Duration { return t.Up + t.Down + t.Unknown + t.Planned }

// Known is T_up + T_down, the known agreed service time (AST, §5a).
func (t Tally) Known() time.Duration { return t.Up + t.Down }

func (t *Tally) add(s State, d time.Duration, degraded bool) {
	switch s {
	case StateUp:
		t.Up += d
		if degraded {
			t.Degraded += d
		}
	case StateDown:
		t.Down += d
	case StatePlanned:
		t.Planned += d
	default:
		t.Unknown += d
	}
}

// Tally sums in-service time by class over [from, to).
func (tl Timeline) Tally(from, to time.Time) Tally {
	var t Tally
	if !to.After(from) {
		return t
	}
	i := sort.Search(len(tl.Segments), func(i int) bool { return tl.Segments[i].End.After(from) })
	for ; i < len(tl.Segments) && tl.Segments[i].Start.Before(to); i++ {
		s := tl.Segments[i]
		if !s.InService {
			continue
		}
		a, b := s.Start, s.End
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		t.add(s.State, b.Sub(a), s.Degraded)
	}
	return t
}

// At returns the segment holding t.
func (tl Timeline) At(t time.Time) (Segment, error) {
	i := sort.Search(len(tl.Segments), func(i int) bool { return tl.Segments[i].End.After(t) })
	if i == len(tl.Segments) || t.Before(tl.From) {
		return Segment{}, errors.New("time outside the timeline")
	}
	return tl.Segments[i], nil
}

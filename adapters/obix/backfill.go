package obix

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// pointFacts is what a Source has learnt about one point for Backfill.
type pointFacts struct {
	// unit is the unit of the point's value when it was last read (by a
	// good Collect, or by Backfill looking for the history link); "" when
	// it has none or was not read yet.
	unit string
	// history is the history the point links to, "" for none; valid once
	// linkRead is set.
	history  string
	linkRead bool
}

// Backfill implements collector.Backfiller. When a sample succeeds after
// failed ones, the collector asks for the gap: from is the last good
// sample, to the one after the outage, both exclusive. Backfill reads each
// point's history for that window (Client.History: one query, or several
// when the server caps its answers) and returns the records as points
// assembled as Collect assembles a sample: the mapping's measurement, tags
// and field, the same unit check and conversion, one point per record
// timestamp, measurement and tag set, stamped with the record's timestamp.
// Records of different points share a point only when their timestamps are
// equal.
//
// Which history belongs to a point:
//
//   - PointMapping.History, when set (Niagara keeps its histories under
//     /obix/histories/, apart from the points);
//   - else the history the point links to: its child named "history" (a ref
//     or an obj with an href), else its first child that implements
//     obix:History, as the oBIX convention and IoTSyS have it. Finding it
//     costs one read of the point, once for the Source's lifetime: a link,
//     or the lack of one, is kept until the Source is made again;
//   - else none: the point is not backfilled, and its fields are absent
//     from the backfilled points.
//
// A record that holds no reading (a null value, a status such as fault or
// down, NaN or ±INF) is skipped: there was no value then, as a failed sample
// would have had none. A record that names no unit (none, or
// obix:units/null) is taken in the unit of the point's value as last read,
// so a watt point's history still feeds a kw field in kW.
//
// When a point's history cannot be read (the point or the history is
// missing, the query fails, a record does not fit the field), Backfill
// carries on with the other points and returns their points together with
// an error naming the failing hrefs. The timestamps are the server's: a
// gateway clock that is off by more than the poll interval can drop records
// at the edges of the gap or repeat the samples next to it.
func (s *Source) Backfill(ctx context.Context, from, to time.Time) ([]point.Point, error) {
	if from.IsZero() || to.IsZero() {
		return nil, fmt.Errorf("obix source %q: backfill needs both ends of the gap", s.cfg.Name)
	}
	if !to.After(from) {
		return nil, nil
	}
	// History takes both ends as inclusive and sends them with millisecond
	// precision, truncated: round the end up, so that the query cannot stop
	// short of to. The exclusive ends are applied to the records below.
	end := to.Truncate(time.Millisecond)
	if end.Before(to) {
		end = end.Add(time.Millisecond)
	}
	set := newPointSet()
	var (
		fails  []string
		failed int
		read   = map[string]historyRead{} // per history URL: each is read once
	)
	for i, p := range s.cfg.Points {
		href, unit, err := s.historyOf(ctx, i)
		if err == nil && href == "" {
			continue
		}
		var fields []timedField
		if err == nil {
			h, done := read[href]
			if !done {
				h.recs, h.err = s.cfg.Client.History(ctx, href, from, end, 0)
				read[href] = h
			}
			fields, err = gapFields(p, href, unit, h, from, to)
		}
		if err != nil {
			failed++
			if msg := fmt.Sprintf("point %s: %v", s.abs[i], err); !slices.Contains(fails, msg) {
				fails = append(fails, msg)
			}
			continue
		}
		for _, f := range fields {
			set.add(f.t, p, f.x)
		}
	}
	pts := set.points()
	if failed > 0 {
		return pts, fmt.Errorf("obix source %q: backfill %s to %s: %d of %d points failed: %s",
			s.cfg.Name, FormatAbstime(from), FormatAbstime(to), failed, len(s.cfg.Points), joinFailures(fails))
	}
	return pts, nil
}

// historyRead is the answer of one history query.
type historyRead struct {
	recs []Sample
	err  error
}

// timedField is one field value of a backfilled point.
type timedField struct {
	t time.Time
	x any
}

// gapFields turns the records of mapping p's history that lie strictly
// between from and to into field values.
func gapFields(p PointMapping, href, pointUnit string, h historyRead, from, to time.Time) ([]timedField, error) {
	if h.err != nil {
		return nil, h.err
	}
	var fields []timedField
	for _, r := range h.recs {
		if !r.Time.After(from) || !r.Time.Before(to) {
			continue
		}
		x, ok, err := historyField(p, r, pointUnit)
		if err != nil {
			return nil, fmt.Errorf("history %s: record %s: %w", href, FormatAbstime(r.Time), err)
		}
		if ok {
			fields = append(fields, timedField{r.Time, x})
		}
	}
	return fields, nil
}

// historyOf returns the history of mapping i (see Backfill), "" for none,
// and the unit of the point's value as last read.
func (s *Source) historyOf(ctx context.Context, i int) (href, unit string, err error) {
	key := s.keys[i]
	s.knownMu.Lock()
	f := s.known[key]
	s.knownMu.Unlock()
	if h := s.cfg.Points[i].History; h != "" {
		u, err := s.cfg.Client.resolve(h)
		if err != nil {
			return "", "", err
		}
		return u.String(), f.unit, nil
	}
	if f.linkRead {
		return f.history, f.unit, nil
	}
	o, err := s.cfg.Client.Read(ctx, s.abs[i])
	if err != nil {
		return "", "", err
	}
	s.knownMu.Lock()
	f = s.known[key]
	f.history, f.linkRead = historyLink(o), true
	if o.IsValue() {
		f.unit = o.Unit
	}
	s.known[key] = f
	s.knownMu.Unlock()
	return f.history, f.unit, nil
}

// historyLink is the href of the history a point links to: its child named
// "history", else its first child that implements obix:History; "" when it
// has neither. Niagara's history extensions
// (history:NumericIntervalHistoryExt) configure a history but are none.
func historyLink(o *Obj) string {
	link := func(c *Obj) bool {
		return c != nil && c.Href != "" && !c.Null && (c.Kind == KindRef || c.Kind == KindObj)
	}
	if c := o.Child("history"); link(c) {
		return c.AbsHref()
	}
	for _, c := range o.Children {
		if link(c) && c.Implements(ContractHistory) {
			return c.AbsHref()
		}
	}
	return ""
}

// historyField is fieldValue for a history record. ok is false for a
// record that holds no reading (null, not a value object, a bad status, NaN
// or ±INF); an error means the record does not fit the field (a unit that
// does not convert). pointUnit stands in for a record that names no unit.
func historyField(p PointMapping, r Sample, pointUnit string) (x any, ok bool, err error) {
	if r.Value == nil {
		return nil, false, nil
	}
	for _, st := range strings.Split(r.Status, ",") {
		if badStatuses[strings.TrimSpace(st)] {
			return nil, false, nil
		}
	}
	if f, isFloat := r.Value.(float64); isFloat && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return nil, false, nil
	}
	unit := r.Unit
	if unit == "" || strings.HasSuffix(unit, "/null") {
		unit = pointUnit
	}
	x, _, err = fieldValue(p, Value{Kind: r.Kind, Unit: unit, Value: r.Value, Time: r.Time, Status: r.Status})
	if err != nil {
		return nil, false, err
	}
	return x, true, nil
}

package obix

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/setsuden/setsuden/collector/point"
)

// PointMapping maps one oBIX point to one field of a setsuden measurement.
type PointMapping struct {
	// Href is the point: an absolute URL or a path relative to the client's
	// BaseURL ("/obix/config/PDU1/ActivePower/").
	Href string
	// Measurement and Field name where the value goes (docs/schema.md):
	// "power" and "kw". A field whose name ends in a unit suffix (kw, kwh,
	// v, a, c, ... see UnitSuffix) is checked against the point's unit and
	// converted where the table allows (W to kW, °F to °C).
	Measurement string
	Field       string
	// Tags of the point (meter, room, rack, category); points with the same
	// measurement and tags form one InfluxDB point.
	Tags map[string]string
	// History is the point's obix:History (or its query op), read by
	// Backfill to fill the gap of an outage: an absolute URL or a path
	// relative to the client's BaseURL. Niagara keeps histories apart from
	// their points ("/obix/histories/Station/PDU1_ActivePower/"), so set it
	// there. Left empty, Backfill uses the history the point links to (its
	// child named "history", else a child that is an obix:History, as the
	// oBIX convention and IoTSyS have it); a point with neither is not
	// backfilled.
	History string
}

// SourceConfig configures a Source.
type SourceConfig struct {
	// Name identifies the source in errors and metrics.
	Name   string
	Client *Client
	Points []PointMapping
	// UseWatch reads through a server-side watch (pollChanges) instead of a
	// batch read per sample.
	UseWatch bool
	// WatchLease is the lease asked for when UseWatch is set (0: the
	// server's default). Ask for more than the collection interval, or the
	// server drops the watch between samples and every sample has to make
	// it again (notes §4.4: Niagara's default is 4 minutes, IoTSyS's 60 s).
	WatchLease time.Duration
}

// badStatuses are point statuses whose value is not a current reading
// (notes §4.1 lists the oBIX statuses; "stale" is Niagara's).
var badStatuses = map[string]bool{"disabled": true, "fault": true, "down": true, "stale": true, "null": true}

// Source reads a set of oBIX points and implements collector.Source.
type Source struct {
	cfg   SourceConfig
	hrefs []string // distinct absolute hrefs, in the order of cfg.Points
	abs   []string // absolute href of each mapping
	keys  []string // pointKey of each mapping

	// known is what Backfill needs to know of the points: the unit of each
	// as last read (Collect keeps it) and the history it links to.
	knownMu sync.Mutex
	known   map[string]pointFacts // per pointKey

	mu      sync.Mutex
	watch   *Watch
	cache   map[string]Value // watch mode: latest value per pointKey
	refresh bool             // the last poll failed: its changes may be lost
}

// NewSource validates the configuration. It does not connect: the first
// Collect does.
func NewSource(cfg SourceConfig) (*Source, error) {
	if cfg.Name == "" {
		return nil, errors.New("obix source: missing name")
	}
	wrap := func(format string, args ...any) error {
		return fmt.Errorf("obix source %q: %s", cfg.Name, fmt.Sprintf(format, args...))
	}
	if cfg.Client == nil {
		return nil, wrap("missing client")
	}
	if _, err := cfg.Client.base(); err != nil {
		return nil, wrap("%v", err)
	}
	if len(cfg.Points) == 0 {
		return nil, wrap("no points")
	}
	if cfg.WatchLease < 0 {
		return nil, wrap("negative watch lease %v", cfg.WatchLease)
	}
	if cfg.WatchLease > 0 && !cfg.UseWatch {
		return nil, wrap("watch lease %v set but watches are not used", cfg.WatchLease)
	}
	s := &Source{cfg: cfg, known: map[string]pointFacts{}}
	seenHref := map[string]bool{}
	seenField := map[string]string{}
	for i, p := range cfg.Points {
		switch {
		case p.Href == "":
			return nil, wrap("point %d: missing href", i+1)
		case p.Measurement == "":
			return nil, wrap("point %d (%s): missing measurement", i+1, p.Href)
		case p.Field == "":
			return nil, wrap("point %d (%s): missing field", i+1, p.Href)
		}
		u, err := cfg.Client.resolve(p.Href)
		if err != nil {
			return nil, wrap("point %d: %v", i+1, err)
		}
		if p.History != "" {
			if _, err := cfg.Client.resolve(p.History); err != nil {
				return nil, wrap("point %d (%s): history: %v", i+1, p.Href, err)
			}
		}
		series := seriesKey(p.Measurement, p.Tags) + " " + p.Field
		if prev, dup := seenField[series]; dup {
			return nil, wrap("point %d (%s): field %q of %s is already mapped to %s", i+1, p.Href, p.Field, seriesKey(p.Measurement, p.Tags), prev)
		}
		seenField[series] = p.Href
		k := pointKey(u)
		s.keys = append(s.keys, k)
		s.abs = append(s.abs, u.String())
		if !seenHref[k] {
			seenHref[k] = true
			s.hrefs = append(s.hrefs, u.String())
		}
	}
	return s, nil
}

// Name implements collector.Source.
func (s *Source) Name() string { return s.cfg.Name }

// Collect reads every point, in one batch request or one watch poll, and
// returns one point per measurement and tag set, stamped when the reads
// completed. Any point that fails (an <err>, a null value, a bad status
// such as fault or down, a unit that does not fit its field) fails the whole
// sample with an error naming the failing hrefs, as a Modbus meter does.
func (s *Source) Collect(ctx context.Context) ([]point.Point, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		vals map[string]Value
		errs map[string]error // per pointKey
		err  error
	)
	if s.cfg.UseWatch {
		vals, err = s.readWatch(ctx)
	} else {
		vals, errs, err = s.readBatch(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("obix source %q: %w", s.cfg.Name, err)
	}
	now := time.Now()
	set := newPointSet()
	var fails []string
	failed := map[string]bool{}
	fail := func(i int, err error) {
		if failed[s.keys[i]] {
			return
		}
		failed[s.keys[i]] = true
		var oe *Error
		if errors.As(err, &oe) && oe.Href != "" {
			// The err names the href already.
			fails = append(fails, oe.Error())
			return
		}
		fails = append(fails, fmt.Sprintf("%s: %v", s.abs[i], err))
	}
	for i, p := range s.cfg.Points {
		if err := errs[s.keys[i]]; err != nil {
			fail(i, err)
			continue
		}
		v, ok := vals[s.keys[i]]
		if !ok {
			fail(i, errors.New("no value from the server"))
			continue
		}
		x, err := fieldValue(p, v)
		if err != nil {
			fail(i, err)
			continue
		}
		set.add(now, p, x)
	}
	if len(fails) > 0 {
		return nil, fmt.Errorf("obix source %q: %d of %d points failed: %s", s.cfg.Name, len(fails), len(s.cfg.Points), joinFailures(fails))
	}
	s.knownMu.Lock()
	for i := range s.cfg.Points {
		f := s.known[s.keys[i]]
		f.unit = vals[s.keys[i]].Unit
		s.known[s.keys[i]] = f
	}
	s.knownMu.Unlock()
	return set.points(), nil
}

// joinFailures lists the first three failures and counts the rest.
func joinFailures(fails []string) string {
	const show = 3
	msg := strings.Join(fails[:min(len(fails), show)], "; ")
	if len(fails) > show {
		msg += fmt.Sprintf("; and %d more", len(fails)-show)
	}
	return msg
}

// pointSet groups field values into InfluxDB points: one per timestamp,
// measurement and tag set.
type pointSet struct {
	groups map[pointSetKey]*point.Point
}

type pointSetKey struct {
	unixNano int64
	series   string // seriesKey
}

func newPointSet() *pointSet { return &pointSet{groups: map[pointSetKey]*point.Point{}} }

// add puts the value of mapping p, taken at t, into its point.
func (ps *pointSet) add(t time.Time, p PointMapping, x any) {
	k := pointSetKey{t.UnixNano(), seriesKey(p.Measurement, p.Tags)}
	g := ps.groups[k]
	if g == nil {
		tags := make(map[string]string, len(p.Tags))
		for tk, tv := range p.Tags {
			tags[tk] = tv
		}
		g = &point.Point{Measurement: p.Measurement, Tags: tags, Fields: map[string]any{}, Time: t}
		ps.groups[k] = g
	}
	g.Fields[p.Field] = x
}

// points returns the points, oldest first, then by measurement and tags.
func (ps *pointSet) points() []point.Point {
	keys := make([]pointSetKey, 0, len(ps.groups))
	for k := range ps.groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pointSetKey) int {
		if a.unixNano != b.unixNano {
			return cmp.Compare(a.unixNano, b.unixNano)
		}
		return strings.Compare(a.series, b.series)
	})
	pts := make([]point.Point, 0, len(keys))
	for _, k := range keys {
		pts = append(pts, *ps.groups[k])
	}
	return pts
}

// readBatch reads all points with one batch; results come in request order.
func (s *Source) readBatch(ctx context.Context) (map[string]Value, map[string]error, error) {
	objs, err := s.cfg.Client.Batch(ctx, s.hrefs)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	vals := make(map[string]Value, len(objs))
	errs := map[string]error{}
	for i, o := range objs {
		u, err := url.Parse(s.hrefs[i])
		if err != nil {
			return nil, nil, err
		}
		v, err := ValueOf(o, now)
		if err != nil {
			errs[pointKey(u)] = err
			continue
		}
		vals[pointKey(u)] = v
	}
	return vals, errs, nil
}

// readWatch makes the watch on first use and polls it afterwards; the cache
// holds the latest value of every point, as pollChanges only brings what
// changed.
func (s *Source) readWatch(ctx context.Context) (map[string]Value, error) {
	var (
		vals []Value
		err  error
	)
	if s.watch == nil {
		w, merr := s.cfg.Client.MakeWatch(ctx)
		if merr != nil {
			return nil, merr
		}
		if s.cfg.WatchLease > 0 {
			if lerr := w.SetLease(ctx, s.cfg.WatchLease); lerr != nil {
				_ = w.Delete(ctx)
				return nil, fmt.Errorf("watch lease %v: %w", s.cfg.WatchLease, lerr)
			}
		}
		s.watch, s.cache = w, map[string]Value{}
		vals, err = w.Add(ctx, s.hrefs...)
	} else if s.refresh {
		// A poll whose answer got lost took its changes with it: the
		// server will not send them again. Ask for everything.
		vals, err = s.watch.PollRefresh(ctx)
	} else {
		vals, err = s.watch.Poll(ctx)
	}
	for _, v := range vals {
		if u, perr := url.Parse(v.Href); perr == nil {
			s.cache[pointKey(u)] = v
		}
	}
	s.refresh = err != nil
	if err != nil {
		return nil, err
	}
	return s.cache, nil
}

// Close deletes the watch, if any.
func (s *Source) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watch == nil {
		return nil
	}
	err := s.watch.Delete(ctx)
	s.watch = nil
	if err != nil {
		return fmt.Errorf("obix source %q: %w", s.cfg.Name, err)
	}
	return nil
}

// fieldValue turns a point's value into a field value of an InfluxDB point.
// Fields named with a unit suffix are float64 (ints too: a kw field must not
// change type between sources); reltimes become seconds, abstimes RFC 3339
// strings.
func fieldValue(p PointMapping, v Value) (any, error) {
	if v.Value == nil {
		return nil, fmt.Errorf("value is null")
	}
	for _, st := range strings.Split(v.Status, ",") {
		if st = strings.TrimSpace(st); badStatuses[st] {
			return nil, fmt.Errorf("status %s", v.Status)
		}
	}
	fs, hasSuffix := fieldSuffix(p.Field)
	var f float64
	switch x := v.Value.(type) {
	case float64:
		f = x
	case int64:
		if !hasSuffix {
			return x, nil
		}
		f = float64(x)
	case bool, string:
		return x, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case time.Duration:
		f = x.Seconds()
	default:
		return nil, fmt.Errorf("unsupported value %T", v.Value)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("value %v cannot be stored", f)
	}
	if us, ok := UnitSuffix(v.Unit); ok && hasSuffix && us != fs {
		c, ok := convertUnit(f, us, fs)
		if !ok {
			return nil, fmt.Errorf("unit %s (%s) does not fit field %q (%s)", v.Unit, us, p.Field, fs)
		}
		f = c
	}
	return f, nil
}

// pointKey identifies a point across the forms servers write its URL in:
// Niagara answers with absolute URLs naming itself ("https://localhost/…")
// where the client asked for a path (notes §4.5 item 5), and trailing
// slashes come and go. The path, without a trailing slash, is the key.
func pointKey(u *url.URL) string {
	p := strings.TrimSuffix(u.Path, "/")
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}

// seriesKey identifies a measurement with its tags.
func seriesKey(measurement string, tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(measurement)
	for _, k := range keys {
		fmt.Fprintf(&b, ",%s=%s", k, tags[k])
	}
	return b.String()
}

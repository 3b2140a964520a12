package obix

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// ReadEach reads the points one by one (a GET each) instead of with the
	// lobby's batch op; for gateways whose batch op misbehaves in ways the
	// automatic fallback (see Client.Batch) does not catch. Not with
	// UseWatch.
	ReadEach bool
	// Interval is the time between samples. In watch mode it decides
	// whether the watch needs keeping alive between samples: when the
	// lease the server grants is not at least twice the interval, the
	// source polls the watch in between (and warns once), so that the
	// server does not drop it.
	Interval time.Duration
	// Logger hears of what a sample survives without failing: a point that
	// lost its value (logged when that starts and when it ends), a lease
	// the server would not grant, a watch made again. nil: not logged.
	Logger *slog.Logger
	// OnWatchRecreated, when set, is called each time the watch had to be
	// made again because the server had dropped it (a metric).
	OnWatchRecreated func()
	// Discover, when set, adds the points discovery finds under its root
	// (DiscoverPoints) to Points at the first sample; a discovery that
	// fails fails the sample and is tried again at the next.
	Discover *DiscoverRules
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

	mu        sync.Mutex
	watch     *Watch
	cache     map[string]Value  // watch mode: latest value per pointKey
	cacheErr  map[string]error  // watch mode: the point's last answer was an err
	refresh   bool              // the last poll failed: its changes may be lost
	recreated int               // watch re-creations already reported
	keepStop  func()            // stops the keep-alive of a short lease
	bad       map[string]string // pointKey -> status of a point without value, for logging changes
	discover  bool              // discovery is still to run
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
	if len(cfg.Points) == 0 && cfg.Discover == nil {
		return nil, wrap("no points")
	}
	if cfg.WatchLease < 0 {
		return nil, wrap("negative watch lease %v", cfg.WatchLease)
	}
	if cfg.WatchLease > 0 && !cfg.UseWatch {
		return nil, wrap("watch lease %v set but watches are not used", cfg.WatchLease)
	}
	if cfg.ReadEach && cfg.UseWatch {
		return nil, wrap("per-point reads and a watch are exclusive")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(discardHandler{})
	}
	s := &Source{cfg: cfg, known: map[string]pointFacts{}}
	if err := s.setPoints(cfg.Points); err != nil {
		return nil, wrap("%v", err)
	}
	s.discover = cfg.Discover != nil
	return s, nil
}

// setPoints checks the mappings and takes them as the source's points.
func (s *Source) setPoints(points []PointMapping) error {
	var keys, abs, hrefs []string
	seenHref := map[string]bool{}
	seenField := map[string]string{}
	for i, p := range points {
		switch {
		case p.Href == "":
			return fmt.Errorf("point %d: missing href", i+1)
		case p.Measurement == "":
			return fmt.Errorf("point %d (%s): missing measurement", i+1, p.Href)
		case p.Field == "":
			return fmt.Errorf("point %d (%s): missing field", i+1, p.Href)
		}
		u, err := s.cfg.Client.resolve(p.Href)
		if err != nil {
			return fmt.Errorf("point %d: %v", i+1, err)
		}
		if p.History != "" {
			if _, err := s.cfg.Client.resolve(p.History); err != nil {
				return fmt.Errorf("point %d (%s): history: %v", i+1, p.Href, err)
			}
		}
		series := seriesKey(p.Measurement, p.Tags) + " " + p.Field
		if prev, dup := seenField[series]; dup {
			return fmt.Errorf("point %d (%s): field %q of %s is already mapped to %s", i+1, p.Href, p.Field, seriesKey(p.Measurement, p.Tags), prev)
		}
		seenField[series] = p.Href
		k := pointKey(u)
		keys = append(keys, k)
		abs = append(abs, u.String())
		if !seenHref[k] {
			seenHref[k] = true
			hrefs = append(hrefs, u.String())
		}
	}
	s.cfg.Points, s.keys, s.abs, s.hrefs = points, keys, abs, hrefs
	return nil
}

// runDiscovery discovers the points under the rules and adds them to the
// configured ones (which win for an href or a field they both name).
func (s *Source) runDiscovery(ctx context.Context) error {
	found, err := s.cfg.Client.DiscoverPoints(ctx, *s.cfg.Discover)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	points := append([]PointMapping{}, s.cfg.Points...)
	fields := map[string]bool{}
	hrefs := map[string]bool{}
	for _, p := range points {
		fields[seriesKey(p.Measurement, p.Tags)+" "+p.Field] = true
		if u, err := s.cfg.Client.resolve(p.Href); err == nil {
			hrefs[pointKey(u)] = true
		}
	}
	taken := 0
	for _, d := range found {
		if d.Skipped != "" {
			continue
		}
		u, err := s.cfg.Client.resolve(d.Mapping.Href)
		if err != nil || hrefs[pointKey(u)] || fields[seriesKey(d.Mapping.Measurement, d.Mapping.Tags)+" "+d.Mapping.Field] {
			continue
		}
		points = append(points, d.Mapping)
		taken++
	}
	if len(points) == 0 {
		return fmt.Errorf("discovery under %q found no point to take (%d value points seen; see setsuden collect --dry-run)", s.cfg.Discover.Root, len(found))
	}
	if err := s.setPoints(points); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	s.cfg.Logger.Info("oBIX discovery", "source", s.cfg.Name, "root", s.cfg.Discover.Root, "value_points", len(found), "taken", taken, "points", len(points))
	s.discover = false
	return nil
}

// Name implements collector.Source.
func (s *Source) Name() string { return s.cfg.Name }

// Collect reads every point, in one batch request (or one read per point,
// or one watch poll), and returns one point per measurement and tag set,
// stamped when the reads completed.
//
// A point that has no value loses only its own field: an <err> in its
// place, a malformed answer, a null value, a status of down, fault,
// disabled or stale, NaN or ±INF, a unit that does not fit its field. The
// field is then missing from the sample and its status is stored instead,
// as the string field <field>_status (docs/schema.md); a stored value
// whose status is not ok (overridden, alarm, ...) gets that field too. The
// sample fails as a whole only when the server cannot be read at all or no
// point has a value; the error names the failing hrefs.
func (s *Source) Collect(ctx context.Context) ([]point.Point, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discover {
		if err := s.runDiscovery(ctx); err != nil {
			return nil, fmt.Errorf("obix source %q: %w", s.cfg.Name, err)
		}
	}
	var (
		vals map[string]Value
		errs map[string]error // per pointKey
		err  error
	)
	switch {
	case s.cfg.UseWatch:
		vals, errs, err = s.readWatch(ctx)
	default:
		vals, errs, err = s.readBatch(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("obix source %q: %w", s.cfg.Name, err)
	}
	now := time.Now()
	set := newPointSet()
	var fails []string
	failed := map[string]bool{}
	stored := 0
	bad := map[string]string{}
	fail := func(i int, status string, err error) {
		set.add(now, PointMapping{Measurement: s.cfg.Points[i].Measurement, Tags: s.cfg.Points[i].Tags,
			Field: s.cfg.Points[i].Field + StatusSuffix}, status)
		bad[s.keys[i]] = status
		if failed[s.keys[i]] {
			return
		}
		failed[s.keys[i]] = true
		msg := fmt.Sprintf("%s: %v", s.abs[i], err)
		var oe *Error
		if errors.As(err, &oe) && oe.Href != "" {
			msg = oe.Error() // the err names the href already
		}
		fails = append(fails, msg)
		if s.bad[s.keys[i]] != status {
			s.cfg.Logger.Warn("oBIX point has no value; its field is missing from the samples until it has one",
				"source", s.cfg.Name, "href", s.abs[i], "status", status, "err", msg)
		}
	}
	for i, p := range s.cfg.Points {
		if err := errs[s.keys[i]]; err != nil {
			fail(i, StatusError, err)
			continue
		}
		v, ok := vals[s.keys[i]]
		if !ok {
			fail(i, StatusError, errors.New("no value from the server"))
			continue
		}
		x, status, err := fieldValue(p, v)
		if err != nil {
			fail(i, status, err)
			continue
		}
		set.add(now, p, x)
		if st := normalStatus(v.Status); st != "ok" {
			set.add(now, PointMapping{Measurement: p.Measurement, Tags: p.Tags, Field: p.Field + StatusSuffix}, st)
		}
		stored++
	}
	for k, st := range s.bad {
		if _, still := bad[k]; !still {
			s.cfg.Logger.Info("oBIX point has a value again", "source", s.cfg.Name, "href", k, "was", st)
		}
	}
	s.bad = bad
	if stored == 0 {
		return nil, fmt.Errorf("obix source %q: all %d points failed: %s", s.cfg.Name, len(s.cfg.Points), joinFailures(fails))
	}
	s.knownMu.Lock()
	for i := range s.cfg.Points {
		if v, ok := vals[s.keys[i]]; ok {
			f := s.known[s.keys[i]]
			f.unit = v.Unit
			s.known[s.keys[i]] = f
		}
	}
	s.knownMu.Unlock()
	return set.points(), nil
}

// StatusSuffix ends the name of the string field that carries a point's
// status next to its value field ("supply_air_c" -> "supply_air_c_status").
const StatusSuffix = "_status"

// StatusError is the status stored for a point the server did not give a
// value for: an <err> in its place, a malformed answer, a value that
// cannot be stored (NaN, ±INF) or does not fit its field's unit.
const StatusError = "error"

// normalStatus is a status list as stored: without spaces, "ok" for none.
func normalStatus(st string) string {
	var parts []string
	for _, p := range strings.Split(st, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "ok"
	}
	return strings.Join(parts, ",")
}

// discardHandler is a slog handler that drops everything (slog.DiscardHandler
// arrives with Go 1.24).
type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }

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

// readBatch reads all points with one batch (or one by one); results come
// in request order.
func (s *Source) readBatch(ctx context.Context) (map[string]Value, map[string]error, error) {
	var (
		objs []*Obj
		err  error
	)
	if s.cfg.ReadEach {
		objs, err = s.cfg.Client.ReadEach(ctx, s.hrefs)
	} else {
		objs, err = s.cfg.Client.Batch(ctx, s.hrefs)
	}
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
func (s *Source) readWatch(ctx context.Context) (map[string]Value, map[string]error, error) {
	var (
		vals []Value
		bad  []itemError
		err  error
	)
	if s.watch == nil {
		w, merr := s.cfg.Client.MakeWatch(ctx)
		if merr != nil {
			return nil, nil, merr
		}
		if s.cfg.WatchLease > 0 {
			if lerr := w.SetLease(ctx, s.cfg.WatchLease); lerr != nil {
				// The server decides its leases; a refusal costs nothing
				// as long as the watch is polled inside the lease it has.
				s.cfg.Logger.Warn("oBIX gateway refused the watch lease asked for; using its own",
					"source", s.cfg.Name, "asked", s.cfg.WatchLease, "granted", w.Lease(), "err", lerr.Error())
			}
		}
		s.watch, s.cache, s.cacheErr, s.recreated = w, map[string]Value{}, map[string]error{}, 0
		s.checkLease(w)
		vals, bad, err = w.add(ctx, s.hrefs)
	} else if s.refresh {
		// A poll whose answer got lost took its changes with it: the
		// server will not send them again. Ask for everything.
		vals, bad, err = s.watch.poll(ctx, "pollRefresh")
	} else {
		vals, bad, err = s.watch.poll(ctx, "pollChanges")
	}
	s.noteRecreated()
	s.merge(vals, bad)
	s.refresh = err != nil
	var pe *ParseError
	if errors.As(err, &pe) {
		// The watch answered with a broken document: read the points one
		// by one for this sample, so that only the broken ones are lost;
		// the next poll asks for everything again.
		s.cfg.Logger.Warn("oBIX watch answer is not a valid document; reading points one by one for this sample",
			"source", s.cfg.Name, "err", err.Error())
		objs, rerr := s.cfg.Client.ReadEach(ctx, s.hrefs)
		if rerr != nil {
			return nil, nil, fmt.Errorf("%w; reading the points one by one: %w", err, rerr)
		}
		now := time.Now()
		for _, o := range objs {
			if v, verr := ValueOf(o, now); verr != nil {
				s.merge(nil, []itemError{{href: o.AbsHref(), err: verr}})
			} else {
				s.merge([]Value{v}, nil)
			}
		}
		return s.cache, s.cacheErr, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return s.cache, s.cacheErr, nil
}

// merge puts a watch answer into the cache.
func (s *Source) merge(vals []Value, bad []itemError) {
	for _, v := range vals {
		if u, perr := url.Parse(v.Href); perr == nil {
			s.cache[pointKey(u)] = v
			delete(s.cacheErr, pointKey(u))
		}
	}
	for _, b := range bad {
		if u, perr := url.Parse(b.href); perr == nil && b.href != "" {
			s.cacheErr[pointKey(u)] = b.err
			delete(s.cache, pointKey(u))
		}
	}
}

// noteRecreated logs and counts the re-creations of the watch since the
// last call.
func (s *Source) noteRecreated() {
	if s.watch == nil {
		return
	}
	n := s.watch.Recreated()
	for ; s.recreated < n; s.recreated++ {
		s.cfg.Logger.Warn("oBIX watch had expired on the gateway; made it again", "source", s.cfg.Name, "watch", s.watch.Href())
		if s.cfg.OnWatchRecreated != nil {
			s.cfg.OnWatchRecreated()
		}
	}
}

// checkLease warns when the samples come too far apart for the lease the
// server granted and keeps the watch alive in between: a poll at a third
// of the lease, its changes kept for the next sample.
func (s *Source) checkLease(w *Watch) {
	granted := w.Lease()
	if granted <= 0 || s.cfg.Interval <= 0 || s.cfg.Interval*2 <= granted {
		return
	}
	every := granted / 3
	s.cfg.Logger.Warn("oBIX watch lease is not well beyond the sample interval; polling the watch in between to keep it",
		"source", s.cfg.Name, "lease", granted, "interval", s.cfg.Interval, "keepalive_every", every)
	ctx, cancel := context.WithCancel(context.Background())
	s.keepStop = cancel
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s.mu.Lock()
			if s.watch == w && time.Until(w.LeaseEnds()) < granted-every/2 {
				op := "pollChanges"
				if s.refresh {
					op = "pollRefresh"
				}
				vals, bad, err := w.poll(ctx, op)
				s.noteRecreated()
				s.merge(vals, bad)
				s.refresh = err != nil
			}
			s.mu.Unlock()
		}
	}()
}

// Close deletes the watch, if any.
func (s *Source) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keepStop != nil {
		s.keepStop()
		s.keepStop = nil
	}
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
// strings. A value that cannot be stored comes back as an error with the
// status to store instead: "null", the point's bad status (down, fault,
// disabled, stale) or StatusError.
func fieldValue(p PointMapping, v Value) (any, string, error) {
	for _, st := range strings.Split(v.Status, ",") {
		if st = strings.TrimSpace(st); badStatuses[st] && st != "null" {
			return nil, normalStatus(v.Status), fmt.Errorf("status %s", v.Status)
		}
	}
	if v.Value == nil {
		return nil, "null", fmt.Errorf("value is null")
	}
	fs, hasSuffix := fieldSuffix(p.Field)
	var f float64
	switch x := v.Value.(type) {
	case float64:
		f = x
	case int64:
		if !hasSuffix {
			return x, "", nil
		}
		f = float64(x)
	case bool, string:
		return x, "", nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), "", nil
	case time.Duration:
		f = x.Seconds()
	default:
		return nil, StatusError, fmt.Errorf("unsupported value %T", v.Value)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, StatusError, fmt.Errorf("value %v cannot be stored", f)
	}
	if us, ok := UnitSuffix(v.Unit); ok && hasSuffix && us != fs {
		c, ok := convertUnit(f, us, fs)
		if !ok {
			return nil, StatusError, fmt.Errorf("unit %s (%s) does not fit field %q (%s)", v.Unit, us, p.Field, fs)
		}
		f = c
	}
	return f, "", nil
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

package server

import (
	"context"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// SeriesQuery asks the store for one field, downsampled in the store.
type SeriesQuery struct {
	Measurement, Field string
	Site               string
	// Tags filter the series: meter, host, vm, room, rack.
	Tags     map[string]string
	From, To time.Time
	// Every is the window; Fn mean, max or spread (a counter's increase).
	Every time.Duration
	Fn    string
}

// Series is one series' windows (times are window ends).
type Series struct {
	Tags   map[string]string
	Times  []time.Time
	Values []float64
}

// SeriesReader runs a downsampled query (adapters/influx: aggregateWindow).
type SeriesReader interface {
	Series(ctx context.Context, q SeriesQuery) ([]Series, error)
}

func (s *Server) seriesRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/series", Need: RoleViewer, Tag: "series",
			Summary: "a field over any range, downsampled in InfluxDB to about ?points= windows; ?sum=true adds the series up (site power)",
			Query:   []string{"measurement", "field", "from", "to", "points", "fn", "sum", "meter", "host", "vm", "room", "rack"}, Handler: s.series},
	}
}

// SeriesView is the body of GET /api/v1/series: columns, as charts want them.
type SeriesView struct {
	Measurement string       `json:"measurement"`
	Field       string       `json:"field"`
	From        time.Time    `json:"from"`
	To          time.Time    `json:"to"`
	EveryS      int64        `json:"every_s"`
	Fn          string       `json:"fn"`
	Series      []SeriesCols `json:"series"`
}

// SeriesCols is one series: T in Unix seconds, V the values.
type SeriesCols struct {
	Tags map[string]string `json:"tags"`
	T    []int64           `json:"t"`
	V    []float64         `json:"v"`
}

var seriesName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// windows are the downsampling steps: a range is split into the first
// that gives at most the points asked for.
var windows = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// SeriesWindow is the window that splits span into at most points.
func SeriesWindow(span time.Duration, points int) time.Duration {
	for _, w := range windows {
		if span/w <= time.Duration(points) {
			return w
		}
	}
	return windows[len(windows)-1]
}

// maxSeriesRange bounds a query: ten years.
const maxSeriesRange = 10 * 366 * 24 * time.Hour

func (s *Server) series(c *fiber.Ctx) error {
	if s.cfg.Series == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "no time-series store is configured")
	}
	now := s.cfg.Now()
	q := SeriesQuery{Measurement: c.Query("measurement", "power"), Field: c.Query("field", "kw"), Site: s.cfg.Site,
		From: now.Add(-24 * time.Hour), To: now, Fn: c.Query("fn", "mean"), Tags: map[string]string{}}
	var probs problems
	if !seriesName.MatchString(q.Measurement) {
		probs.add("measurement", "%q is not a measurement (expected e.g. power, temperature, host, vm)", q.Measurement)
	}
	if !seriesName.MatchString(q.Field) {
		probs.add("field", "%q is not a field (expected e.g. kw, inlet_c, cpu_util)", q.Field)
	}
	if q.Fn != "mean" && q.Fn != "max" && q.Fn != "spread" {
		probs.add("fn", "%q (expected mean, max or spread)", q.Fn)
	}
	queryTime(c, "from", &q.From, &probs)
	queryTime(c, "to", &q.To, &probs)
	points := 600
	if v := c.Query("points"); v != "" {
		points = c.QueryInt("points", -1)
		if points < 10 || points > 5000 {
			probs.add("points", "%q (expected a number from 10 to 5000)", v)
		}
	}
	sum := false
	switch c.Query("sum") {
	case "", "false":
	case "true":
		sum = true
	default:
		probs.add("sum", "%q (expected true or false)", c.Query("sum"))
	}
	for _, tag := range []string{"meter", "host", "vm", "room", "rack"} {
		if v := c.Query(tag); v != "" {
			if len(v) > 128 {
				probs.add(tag, "longer than 128 characters")
			}
			q.Tags[tag] = v
		}
	}
	if len(probs) == 0 {
		switch {
		case !q.To.After(q.From):
			probs.add("to", "%s is not after from %s", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
		case q.To.Sub(q.From) > maxSeriesRange:
			probs.add("from", "the range is longer than ten years")
		}
	}
	if len(probs) > 0 {
		return badRequest(c, probs...)
	}
	q.Every = SeriesWindow(q.To.Sub(q.From), points)
	// Align to the window so that repeated asks hit the same windows.
	q.From, q.To = q.From.Truncate(q.Every), q.To.Truncate(q.Every).Add(q.Every)
	out, err := s.seriesCache(c.UserContext(), q)
	if err != nil {
		return err
	}
	if sum {
		out = sumSeries(out)
	}
	v := SeriesView{Measurement: q.Measurement, Field: q.Field, From: q.From, To: q.To, EveryS: int64(q.Every / time.Second), Fn: q.Fn, Series: []SeriesCols{}}
	for _, ser := range out {
		col := SeriesCols{Tags: ser.Tags, T: make([]int64, len(ser.Times)), V: ser.Values}
		for i, t := range ser.Times {
			col.T[i] = t.Unix()
		}
		v.Series = append(v.Series, col)
	}
	return c.JSON(v)
}

// sumSeries adds series up window by window (a window some series lack
// counts what the others have).
func sumSeries(in []Series) []Series {
	if len(in) == 0 {
		return in
	}
	acc := map[int64]float64{}
	for _, s := range in {
		for i, t := range s.Times {
			acc[t.Unix()] += s.Values[i]
		}
	}
	keys := make([]int64, 0, len(acc))
	for k := range acc {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := Series{Tags: map[string]string{"sum": "true"}, Times: make([]time.Time, len(keys)), Values: make([]float64, len(keys))}
	for i, k := range keys {
		out.Times[i], out.Values[i] = time.Unix(k, 0), acc[k]
	}
	return []Series{out}
}

// seriesCache: the same query within seconds (every browser on the
// overview) runs once; the ones asked while it runs wait for its result.
// An answer older than seriesTTL is still served while one refresh runs in
// the background (up to seriesKeep), so no request queues behind the store.
type seriesEntry struct {
	done       chan struct{}
	at         time.Time
	out        []Series
	err        error
	refreshing bool // guarded by seriesMemo.mu
}

func (e *seriesEntry) finished() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

type seriesMemo struct {
	mu sync.Mutex
	m  map[string]*seriesEntry
}

const (
	seriesTTL  = 10 * time.Second
	seriesKeep = 6 * seriesTTL
)

func seriesKey(q SeriesQuery) string {
	key := q.Measurement + "\x00" + q.Field + "\x00" + q.Fn + "\x00" + q.From.String() + "\x00" + q.To.String() + "\x00" + q.Every.String()
	tags := make([]string, 0, len(q.Tags))
	for k, v := range q.Tags {
		tags = append(tags, k+"="+v)
	}
	sort.Strings(tags)
	for _, t := range tags {
		key += "\x00" + t
	}
	return key
}

func (s *Server) seriesCache(ctx context.Context, q SeriesQuery) ([]Series, error) {
	key := seriesKey(q)
	m := &s.seriesMemo
	now := time.Now()
	m.mu.Lock()
	if m.m == nil {
		m.m = map[string]*seriesEntry{}
	}
	for k, e := range m.m {
		if e.finished() && now.Sub(e.at) > seriesKeep {
			delete(m.m, k)
		}
	}
	e, ok := m.m[key]
	if !ok {
		e = &seriesEntry{done: make(chan struct{})}
		m.m[key] = e
		m.mu.Unlock()
		e.out, e.err = s.cfg.Series.Series(context.WithoutCancel(ctx), q)
		e.at = time.Now()
		close(e.done)
		if e.err != nil {
			m.mu.Lock()
			delete(m.m, key)
			m.mu.Unlock()
		}
		return e.out, e.err
	}
	if e.finished() && now.Sub(e.at) > seriesTTL && !e.refreshing {
		e.refreshing = true
		go s.refreshSeries(key, q, e)
	}
	m.mu.Unlock()
	select {
	case <-e.done:
		return e.out, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// refreshSeries replaces an old answer with a new one.
func (s *Server) refreshSeries(key string, q SeriesQuery, old *seriesEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.cfg.Series.Series(ctx, q)
	m := &s.seriesMemo
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		old.refreshing = false
		s.log.Warn("series refresh failed; serving the previous answer", "measurement", q.Measurement, "field", q.Field, "err", err)
		return
	}
	e := &seriesEntry{done: make(chan struct{}), at: time.Now(), out: out}
	close(e.done)
	m.m[key] = e
}

package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/server"
)

// rolledSeries are the fields the console charts over long ranges: their
// hourly sums, counts and means are kept as MEASUREMENT_1h so that a year
// is 8,760 points a series, not 525,600.
var rolledSeries = []struct{ measurement, field string }{
	{"power", "kw"}, {"temperature", "inlet_c"}, {"host", "cpu_util"},
}

// rollupLookback is how far back a first run rolls up; rollupChunk the
// range of one query; rollupEvery the time between runs.
const (
	rollupLookback = 400 * 24 * time.Hour
	rollupChunk    = 30 * 24 * time.Hour
	rollupEvery    = 10 * time.Minute
	// rollupSettle: an hour is rolled up this long after it ended, when
	// late samples (a meter's queue after an outage) are in.
	rollupSettle = 5 * time.Minute
)

// seriesRollup keeps the hourly rollups up to date and says how far they go.
type seriesRollup struct {
	reader *influx.Reader
	writer *influx.Writer
	site   string
	log    *slog.Logger

	mu    sync.Mutex
	until map[string]time.Time
}

func newSeriesRollup(r *influx.Reader, w *influx.Writer, site string, log *slog.Logger, reg prometheus.Registerer) *seriesRollup {
	s := &seriesRollup{reader: r, writer: w, site: site, log: log, until: map[string]time.Time{}}
	for _, rs := range rolledSeries {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "setsuden_series_rollup_until_timestamp_seconds", Help: "End of the last hour rolled up into MEASUREMENT_1h (0: not yet).",
			ConstLabels: prometheus.Labels{"measurement": rs.measurement, "field": rs.field}},
			func() float64 {
				t := s.Until(rs.measurement, rs.field)
				if t.IsZero() {
					return 0
				}
				return float64(t.Unix())
			}))
	}
	return s
}

// Until is the end of the last hour rolled up (zero: read the samples).
func (s *seriesRollup) Until(measurement, field string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.until[measurement+"."+field]
}

func (s *seriesRollup) run(ctx context.Context) {
	t := time.NewTicker(rollupEvery)
	defer t.Stop()
	for {
		s.step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *seriesRollup) step(ctx context.Context) {
	end := time.Now().Add(-rollupSettle).Truncate(time.Hour)
	write := func(ctx context.Context, pts []point.Point) error {
		if err := s.writer.Write(ctx, pts); err != nil {
			return err
		}
		return s.writer.Flush(ctx) // in the store before Until moves on
	}
	for _, rs := range rolledSeries {
		from := s.Until(rs.measurement, rs.field)
		if from.IsZero() {
			from = end.Add(-rollupLookback)
			last, err := s.reader.Last(ctx, rs.measurement+influx.RollupSuffix, s.site, rollupLookback)
			if err != nil {
				s.log.Warn("series rollup: reading the last hour rolled up", "measurement", rs.measurement, "err", err)
				continue
			}
			// An hour counts as rolled up once it has its count (rollups
			// of means only, from before the sums and counts, are rolled
			// up again: a day's mean is its sums over its counts).
			for _, v := range last {
				if v.Field == rs.field+"_count" && !v.Time.Add(time.Hour).Before(from) {
					from = v.Time.Add(time.Hour)
				}
			}
		}
		started, n := time.Now(), 0
		for from.Before(end) && ctx.Err() == nil {
			to := from.Add(rollupChunk)
			if to.After(end) {
				to = end
			}
			next, k, err := s.reader.RollupHours(ctx, write, s.site, rs.measurement, rs.field, from, to)
			if err != nil {
				s.log.Warn("series rollup", "measurement", rs.measurement, "field", rs.field, "from", from, "err", err)
				break
			}
			n += k
			from = next
			s.mu.Lock()
			s.until[rs.measurement+"."+rs.field] = from
			s.mu.Unlock()
		}
		if n > 0 {
			s.log.Info("series rollup", "measurement", rs.measurement, "field", rs.field, "hours_written", n, "until", from, "took", time.Since(started).Round(time.Millisecond))
		}
	}
}

// seriesReader adapts the InfluxDB reader to the server's interface: long
// ranges of a rolled-up field read the hourly rollup.
type seriesReader struct {
	r      *influx.Reader
	rollup *seriesRollup
}

func (s seriesReader) Series(ctx context.Context, q server.SeriesQuery) ([]server.Series, error) {
	iq := influx.SeriesQuery{Measurement: q.Measurement, Field: q.Field, Site: q.Site, Tags: q.Tags, From: q.From, To: q.To, Every: q.Every, Fn: q.Fn}
	var got []influx.Series
	var err error
	if s.rollup != nil {
		got, err = s.r.SeriesTiered(ctx, iq, s.rollup.Until(q.Measurement, q.Field))
	} else {
		got, err = s.r.Series(ctx, iq)
	}
	if err != nil {
		return nil, err
	}
	out := make([]server.Series, len(got))
	for i, g := range got {
		out[i] = server.Series{Tags: g.Tags, Times: g.Times, Values: g.Values}
	}
	return out, nil
}

// Package influx is setsuden's only talker to InfluxDB: the write path (a
// queue in front of influxdb-client-go so an outage loses nothing), Flux
// queries for the UI and rules, and a supervisor for a local influxd.
package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/setsuden/setsuden/collector/point"
)

// WriterConfig configures the write path.
type WriterConfig struct {
	URL    string
	Token  string // v2 token, or "user:pass" / "" for InfluxDB 1.8
	Org    string
	Bucket string // "db/rp" for InfluxDB 1.8
	// BatchSize is the most points sent in one request.
	BatchSize int
	// FlushInterval is how often queued points are sent.
	FlushInterval time.Duration
	// Timeout bounds one HTTP write.
	Timeout time.Duration
	// QueueDir, when set, keeps the queue on disk (a write-ahead queue:
	// outages and restarts lose nothing); QueueMaxBytes bounds it.
	QueueDir      string
	QueueMaxBytes int64
	// QueueMax bounds the in-memory queue (QueueDir empty), in points.
	// Past either bound the oldest points are dropped, counted and logged.
	QueueMax int
	Logger   *slog.Logger
	// Registerer receives the writer's metrics; nil means none.
	Registerer prometheus.Registerer
}

// Writer queues points and delivers them in order, in batches, retrying
// with backoff while InfluxDB is away. We do not use the client's own
// non-blocking WriteAPI: its retry buffer is counted in batches and lost
// ~100% of points in a 10-minute outage (shared/research/collection.md
// §0.1, §3.4). We use WriteAPIBlocking and own the queue and the retries.
type Writer struct {
	cfg    WriterConfig
	client influxdb2.Client
	api    api.WriteAPIBlocking
	log    *slog.Logger

	queue queue
	kick  chan struct{}
	mu    sync.Mutex // guards lastErr, lastOKAt

	queued   prometheus.Counter
	written  prometheus.Counter
	errs     prometheus.Counter
	dropped  prometheus.Counter
	depth    prometheus.GaugeFunc
	lastErr  error
	lastOKAt time.Time
}

// NewWriter validates cfg and returns a writer; call Run to deliver.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	if cfg.URL == "" {
		return nil, errors.New("influx writer: url is empty")
	}
	if cfg.Bucket == "" {
		return nil, errors.New("influx writer: bucket is empty")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.QueueMax <= 0 {
		cfg.QueueMax = 1_000_000
	}
	if cfg.QueueMaxBytes <= 0 {
		cfg.QueueMaxBytes = 1 << 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Nanosecond).
		SetHTTPRequestTimeout(uint(max(1, cfg.Timeout/time.Second)))
	var q queue = &memQueue{max: cfg.QueueMax}
	if cfg.QueueDir != "" {
		dq, err := openDiskQueue(cfg.QueueDir, cfg.QueueMaxBytes)
		if err != nil {
			return nil, fmt.Errorf("influx writer: %w", err)
		}
		q = dq
	}
	c := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	w := &Writer{
		cfg:    cfg,
		queue:  q,
		client: c,
		api:    c.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		log:    cfg.Logger.With("component", "influx-writer", "url", cfg.URL, "bucket", cfg.Bucket),
		kick:   make(chan struct{}, 1),
		queued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "setsuden_points_queued_total", Help: "Points accepted into the write queue (collected)."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "setsuden_points_written_total", Help: "Points accepted by InfluxDB."}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "setsuden_write_errors_total", Help: "Failed write requests to InfluxDB (the points stay queued)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "setsuden_points_dropped_total", Help: "Points dropped because the write queue hit its bound (oldest first)."}),
	}
	w.depth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "setsuden_write_queue_points", Help: "Points waiting to be written to InfluxDB."},
		func() float64 { return float64(w.QueueLen()) })
	if cfg.Registerer != nil {
		for _, m := range w.Metrics() {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("influx writer metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Write validates and queues points; it never blocks on the network. A point
// that cannot be encoded is rejected with an error naming it; the others in
// the same call are still queued.
func (w *Writer) Write(_ context.Context, pts []point.Point) error {
	lines := make([]string, 0, len(pts))
	var errs []error
	// On the stack: a sample's lines fit, so encoding allocates nothing
	// but the strings queued.
	var room [512]byte
	buf := room[:0]
	for _, p := range pts {
		if err := p.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		buf = AppendLineProtocol(buf[:0], p)
		lines = append(lines, string(buf))
	}
	drop, err := w.queue.Push(lines)
	if err != nil {
		errs = append(errs, fmt.Errorf("queue %d points: %w", len(lines), err))
	} else {
		w.queued.Add(float64(len(lines)))
	}
	if drop > 0 {
		w.dropped.Add(float64(drop))
		w.log.Error("write queue full: DROPPED oldest points", "dropped", drop,
			"queue_max_points", w.cfg.QueueMax, "queue_dir", w.cfg.QueueDir, "queue_max_bytes", w.cfg.QueueMaxBytes)
	}
	if w.queue.Len() >= w.cfg.BatchSize {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return errors.Join(errs...)
}

// QueueLen is the number of points not yet accepted by InfluxDB.
func (w *Writer) QueueLen() int { return w.queue.Len() }

// Run delivers queued points until ctx is cancelled, then tries once more
// (bounded by Timeout) to flush what is left.
func (w *Writer) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
			defer cancel()
			if err := w.Flush(fctx); err != nil && w.QueueLen() > 0 {
				w.log.Warn("stopping with points still queued", "points", w.QueueLen(), "err", err)
			}
			return nil
		case <-t.C:
		case <-w.kick:
		}
		if err := w.queue.Sync(); err != nil {
			w.log.Error("queue sync failed", "err", err)
		}
		if backoff > 0 {
			select {
			case <-ctx.Done():
				continue
			case <-time.After(backoff):
			}
		}
		if err := w.Flush(ctx); err != nil {
			backoff = min(max(2*backoff, w.cfg.FlushInterval), 30*time.Second)
			continue
		}
		backoff = 0
	}
}

// Flush sends every queued point, oldest first, in batches. It stops at the
// first failed batch, which stays at the head of the queue.
func (w *Writer) Flush(ctx context.Context) error {
	for {
		batch, first, err := w.queue.Peek(w.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("read write queue: %w", err)
		}
		n := len(batch)
		if n == 0 {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
		err = w.api.WriteRecord(wctx, strings.Join(batch, "\n"))
		cancel()
		if err != nil && rejected(err) {
			// InfluxDB refused the data itself (a parse error or a field
			// type conflict): sending it again can never succeed and would
			// block every later point. 1.8 and 2.x write the valid points
			// of a partial write, so dropping the batch loses only what
			// InfluxDB refused.
			w.errs.Inc()
			w.dropped.Add(float64(n))
			w.log.Error("InfluxDB rejected a batch; it is dropped, the queue goes on", "points", n, "err", err, "first_line", batch[0])
			if aerr := w.queue.Ack(first + uint64(n)); aerr != nil {
				return fmt.Errorf("acknowledge rejected batch: %w", aerr)
			}
			continue
		}
		if err != nil {
			w.errs.Inc()
			w.mu.Lock()
			first := w.lastErr == nil
			w.lastErr = err
			w.mu.Unlock()
			if first {
				w.log.Warn("InfluxDB write failed; points stay queued and are retried", "points", w.QueueLen(), "err", err)
			}
			return fmt.Errorf("write %d points to %s bucket %s: %w", n, w.cfg.URL, w.cfg.Bucket, err)
		}
		// The queue may have dropped from its head meanwhile; Ack removes
		// only what is still the batch we sent.
		if err := w.queue.Ack(first + uint64(n)); err != nil {
			return fmt.Errorf("acknowledge %d points in queue: %w", n, err)
		}
		w.mu.Lock()
		recovered := w.lastErr != nil
		w.lastErr, w.lastOKAt = nil, time.Now()
		w.mu.Unlock()
		w.written.Add(float64(n))
		if recovered {
			w.log.Info("InfluxDB writes recovered", "queued", w.QueueLen())
		}
	}
}

// Close releases the client and closes the queue (a disk queue keeps what
// is left for the next start).
func (w *Writer) Close() {
	w.client.Close()
	if err := w.queue.Close(); err != nil {
		w.log.Error("closing write queue", "err", err)
	}
}

// Metrics returns the writer's collectors: written, write errors, dropped,
// queue depth, queued (in that order).
func (w *Writer) Metrics() []prometheus.Collector {
	return []prometheus.Collector{w.written, w.errs, w.dropped, w.depth, w.queued}
}

// Stats are the writer's counters since it started.
type Stats struct{ Queued, Written, Dropped, Pending int64 }

// Stats returns the counters (logged at shutdown; the fault tests compare
// them with what InfluxDB holds).
func (w *Writer) Stats() Stats {
	return Stats{Queued: int64(counterValue(w.queued)), Written: int64(counterValue(w.written)),
		Dropped: int64(counterValue(w.dropped)), Pending: int64(w.QueueLen())}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// rejected reports whether InfluxDB refused the data itself (400 or 422),
// as opposed to auth, rate limits or being down, which are retried.
func rejected(err error) bool {
	var he *ihttp.Error
	if errors.As(err, &he) {
		return he.StatusCode == 400 || he.StatusCode == 422
	}
	return false
}

// Package influx is setsuden's only talker to InfluxDB: the write path (a
// queue in front of influxdb-client-go so an outage loses nothing), Flux
// queries for the UI and rules, and a supervisor for a local influxd.
package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// SyncInterval is the disk queue's group commit: points written to the
	// queue file are fsynced (and only then sent) at most this long after
	// their Write; a power cut loses at most this window. Default 10 ms.
	SyncInterval time.Duration
	Logger       *slog.Logger
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
	disk  *diskQueue // the queue when it is on disk, else nil
	kick  chan struct{}
	mu    sync.Mutex // guards lastErr, lastOKAt, recent

	queued  prometheus.Counter
	written prometheus.Counter
	errs    prometheus.Counter
	dropped *prometheus.CounterVec
	drops   map[string]prometheus.Counter
	// unanswered counts points a bound dropped after a write of them got
	// no answer (InfluxDB may hold them): not in dropped.
	unanswered prometheus.Counter
	depth      prometheus.GaugeFunc
	extra      []prometheus.Collector
	lastErr    error
	lastOKAt   time.Time
	// recent are the drops of the last minute (health) and when the last
	// drop log line was written (one a reason every 10 s).
	recent map[string]*dropWindow
}

type dropWindow struct {
	since, logged time.Time
	n, unlogged   int
}

// maxBackoff caps the wait between retries while InfluxDB is away, so
// delivery resumes within a few seconds of it answering again.
const maxBackoff = 2 * time.Second

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
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Nanosecond).
		SetHTTPRequestTimeout(uint(max(1, cfg.Timeout/time.Second)))
	w := &Writer{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "influx-writer", "url", cfg.URL, "bucket", cfg.Bucket),
		kick:   make(chan struct{}, 1),
		recent: map[string]*dropWindow{},
		queued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "setsuden_points_queued_total", Help: "Points accepted into the write queue (collected)."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "setsuden_points_written_total", Help: "Points accepted by InfluxDB."}),
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "setsuden_write_errors_total", Help: "Failed write requests to InfluxDB (the points stay queued)."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "setsuden_points_dropped_total",
			Help: "Points dropped, by reason: queue_full (the queue's bound, oldest first), disk (the queue's disk full or failing and memory at its bound), rejected (InfluxDB refused them)."},
			[]string{"reason"}),
		unanswered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "setsuden_points_unanswered_dropped_total",
			Help: "Points a bound dropped after a write of them to InfluxDB got no answer (a timeout, a reset connection, a 5xx): InfluxDB may hold them, so they are not in setsuden_points_dropped_total."}),
	}
	w.drops = map[string]prometheus.Counter{}
	for _, r := range []string{dropQueueFull, dropDisk, dropRejected} {
		w.drops[r] = w.dropped.WithLabelValues(r)
	}
	var q queue = &memQueue{max: cfg.QueueMax, drop: w.countDrop}
	if cfg.QueueDir != "" {
		dq, err := openDiskQueue(cfg.QueueDir, cfg.QueueMaxBytes, w.log, w.countDrop)
		if err != nil {
			return nil, fmt.Errorf("influx writer: %w", err)
		}
		q, w.disk = dq, dq
	}
	w.queue = q
	c := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	w.client, w.api = c, c.WriteAPIBlocking(cfg.Org, cfg.Bucket)
	w.depth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "setsuden_write_queue_points", Help: "Points waiting to be written to InfluxDB."},
		func() float64 { return float64(w.QueueLen()) })
	w.extra = []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "setsuden_write_path_degraded",
			Help: "1 while the write path is degraded (InfluxDB failing with points waiting, the queue's disk refusing writes, or points dropped in the last minute); /healthz says why."},
			func() float64 {
				if w.Degraded() != nil {
					return 1
				}
				return 0
			}),
	}
	if w.disk != nil {
		w.extra = append(w.extra,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "setsuden_write_queue_bytes", Help: "Bytes of the on-disk write queue's segment files."},
				func() float64 { return float64(w.disk.status().Bytes) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "setsuden_write_queue_limit_bytes",
				Help: "The on-disk write queue's bound: influx.queue_max_bytes, or less when its filesystem has less room."},
				func() float64 { return float64(w.disk.status().Limit) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "setsuden_write_queue_held_points",
				Help: "Points held in memory because the queue's disk refuses writes (retried every second)."},
				func() float64 { return float64(w.disk.status().Held) }))
	}
	if cfg.Registerer != nil {
		for _, m := range w.Metrics() {
			if err := cfg.Registerer.Register(m); err != nil {
				w.Close()
				return nil, fmt.Errorf("influx writer metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Write validates and queues points; it never blocks on the network. With a
// queue_dir the points are in the queue file when Write returns (a SIGKILL
// loses none), and fsynced within SyncInterval. A point that cannot be
// encoded is rejected with an error naming it; the others in the same call
// are still queued.
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
	if err := w.queue.Push(lines); err != nil {
		errs = append(errs, fmt.Errorf("queue %d points: %w", len(lines), err))
	} else {
		w.queued.Add(float64(len(lines)))
	}
	if w.queue.Len() >= w.cfg.BatchSize {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return errors.Join(errs...)
}

// countDrop counts dropped points and logs them loudly, once every 10 s a
// reason with the total since the last line.
func (w *Writer) countDrop(reason string, n int) {
	if n <= 0 {
		return
	}
	if reason == dropUnanswered {
		w.unanswered.Add(float64(n))
	} else {
		w.drops[reason].Add(float64(n))
	}
	now := time.Now()
	w.mu.Lock()
	d := w.recent[reason]
	if d == nil {
		d = &dropWindow{}
		w.recent[reason] = d
	}
	if now.Sub(d.since) > time.Minute {
		d.since, d.n = now, 0
	}
	d.n += n
	d.unlogged += n
	logNow := now.Sub(d.logged) >= 10*time.Second
	k := d.unlogged
	if logNow {
		d.logged, d.unlogged = now, 0
	}
	w.mu.Unlock()
	if !logNow {
		return
	}
	switch reason {
	case dropDisk:
		w.log.Error("write queue's disk full or failing: DROPPED points", "dropped", k, "reason", reason,
			"queue_dir", w.cfg.QueueDir, "queue_max_bytes", w.cfg.QueueMaxBytes)
	case dropQueueFull:
		w.log.Error("write queue full: DROPPED oldest points", "dropped", k, "reason", reason,
			"queue_max_points", w.cfg.QueueMax, "queue_dir", w.cfg.QueueDir, "queue_max_bytes", w.cfg.QueueMaxBytes)
	case dropUnanswered:
		w.log.Error("write queue at its bound: DROPPED points whose write got no answer (InfluxDB may hold them)", "dropped", k,
			"queue_dir", w.cfg.QueueDir, "queue_max_bytes", w.cfg.QueueMaxBytes)
	}
}

// Degraded says why the write path is not delivering as it should: InfluxDB
// failing while points wait, the queue's disk refusing writes, points
// dropped in the last minute, the head not saved, or a large backlog. Nil
// means healthy.
func (w *Writer) Degraded() error {
	var why []string
	n := w.QueueLen()
	w.mu.Lock()
	if w.lastErr != nil && n > 0 {
		why = append(why, fmt.Sprintf("InfluxDB writes failing with %d points waiting: %v", n, w.lastErr))
	}
	for _, r := range []string{dropQueueFull, dropDisk, dropRejected, dropUnanswered} {
		if d := w.recent[r]; d != nil && time.Since(d.since) <= time.Minute && d.n > 0 {
			why = append(why, fmt.Sprintf("%d points dropped in the last minute (reason %s)", d.n, r))
		}
	}
	w.mu.Unlock()
	if w.lastErrNil() && n > 100_000 {
		why = append(why, fmt.Sprintf("%d points waiting for InfluxDB", n))
	}
	if w.disk != nil {
		st := w.disk.status()
		if st.DiskErr != nil || st.Held > 0 {
			why = append(why, fmt.Sprintf("queue disk refuses writes (%v): %d points held in memory", st.DiskErr, st.Held))
		}
		if st.HeadErr != nil {
			why = append(why, fmt.Sprintf("queue head not saved: %v", st.HeadErr))
		}
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("write path degraded: %s", strings.Join(why, "; "))
}

func (w *Writer) lastErrNil() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr == nil
}

// QueueLen is the number of points not yet accepted by InfluxDB.
func (w *Writer) QueueLen() int { return w.queue.Len() }

// Run delivers queued points until ctx is cancelled, then tries once more
// (bounded by Timeout) to flush what is left.
func (w *Writer) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	if w.disk != nil {
		gctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); w.groupCommit(gctx) }()
		defer func() { stop(); <-done }()
	}
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
			defer cancel()
			if w.disk != nil {
				w.disk.giveUpHeld() // counted before the final stats are read
			}
			if err := w.Flush(fctx); err != nil && w.QueueLen() > 0 {
				w.log.Warn("stopping with points still queued", "points", w.QueueLen(), "err", err)
			}
			return nil
		case <-t.C:
		case <-w.kick:
		}
		if backoff > 0 {
			select {
			case <-ctx.Done():
				continue
			case <-time.After(backoff):
			}
		}
		if err := w.Flush(ctx); err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), maxBackoff)
			continue
		}
		backoff = 0
	}
}

// groupCommit fsyncs the disk queue at most SyncInterval after a write
// made it dirty (gathering the writes of that window into one fsync, and
// not waking at all while nothing is written), and retries its disk and
// re-reads its free space every second.
func (w *Writer) groupCommit(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	gather := time.NewTimer(0)
	<-gather.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.disk.tick()
			continue
		case <-w.disk.written:
		}
		gather.Reset(w.cfg.SyncInterval)
		select {
		case <-ctx.Done():
			gather.Stop()
			return
		case <-gather.C:
		}
		_ = w.disk.Sync() // logged by the queue
	}
}

// Flush sends every queued point, oldest first, in batches. It stops at the
// first failed batch, which stays at the head of the queue.
func (w *Writer) Flush(ctx context.Context) error {
	_ = w.queue.Sync() // deliverable only once durable
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
			w.countDrop(dropRejected, n)
			w.log.Error("InfluxDB rejected a batch; it is dropped, the queue goes on", "points", n, "err", err, "first_line", batch[0])
			if aerr := w.queue.Ack(first + uint64(n)); aerr != nil {
				return fmt.Errorf("acknowledge rejected batch: %w", aerr)
			}
			continue
		}
		if err != nil {
			w.queue.Unsent(mayBeStored(err))
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
		// only what is still the batch we sent, and counts none of it
		// dropped (it was delivered).
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
// is left for the next start, and releases its directory lock).
func (w *Writer) Close() {
	if w.client != nil {
		w.client.Close()
	}
	if err := w.queue.Close(); err != nil {
		w.log.Error("closing write queue", "err", err)
	}
}

// Metrics returns the writer's collectors: written, write errors, dropped
// (by reason), queue depth, queued, degraded, then the disk queue's gauges.
func (w *Writer) Metrics() []prometheus.Collector {
	return append([]prometheus.Collector{w.written, w.errs, w.dropped, w.unanswered, w.depth, w.queued}, w.extra...)
}

// Stats are the writer's counters since it started.
// Dropped are the points known lost; Unanswered those a bound dropped after
// a write of them got no answer (InfluxDB may hold them).
type Stats struct{ Queued, Written, Dropped, Unanswered, Pending int64 }

// Stats returns the counters (logged at shutdown; the fault tests compare
// them with what InfluxDB holds).
func (w *Writer) Stats() Stats {
	var dropped float64
	for _, c := range w.drops {
		dropped += counterValue(c)
	}
	return Stats{Queued: int64(counterValue(w.queued)), Written: int64(counterValue(w.written)),
		Dropped: int64(dropped), Unanswered: int64(counterValue(w.unanswered)), Pending: int64(w.QueueLen())}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// mayBeStored reports whether a failed write may still have been stored:
// anything but a refused connection or an answer in the 4xx range (a
// timeout or a reset after the request went out, a 5xx such as InfluxDB
// 1.8's "timeout", whose points can still be written).
func mayBeStored(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	var he *ihttp.Error
	if errors.As(err, &he) && he.StatusCode >= 400 && he.StatusCode < 500 {
		return false
	}
	return true
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

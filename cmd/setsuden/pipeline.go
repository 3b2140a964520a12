package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/libvirt"
	"github.com/setsuden/setsuden/adapters/modbus"
	"github.com/setsuden/setsuden/adapters/obix"
	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/executor"
	"github.com/setsuden/setsuden/server"
)

// pipeline is the running product: sources -> collector -> write queue ->
// InfluxDB -> live view -> web UI. `run` and `demo` build the same one.
type pipeline struct {
	cfg    *config.Config
	log    *slog.Logger
	reg    *prometheus.Registry
	writer *influx.Writer
	reader *influx.Reader
	coll   *collector.Collector
	hosts  []*libvirt.Host
	meters []*modbus.Meter
	obix   []*obix.Source // closed at the end: their watches are deleted
	srv    *server.Server
	live   *server.Live
	// demandAPI and slaAPI are the controllers the server's routes call
	// (nil without their sections); plansAPI the shedding executor's.
	demandAPI server.DemandController
	slaAPI    server.SLAController
	plansAPI  server.PlanController
	// shard is this process's part of the sources; only shard 1 runs the
	// site-wide rules (demand control).
	shard collector.Shard
	// role says whether this process runs the site-wide controllers
	// (shard.go): demand, SLA and the shedding executor check role.Controllers.
	role siteRole
	// sla is the SLA accounting (nil without an sla: section).
	sla *slaWiring
	// executor is the shedding executor (nil without shed.inventory, or
	// in a process that does not run the site controllers): the plans API
	// calls its List, Get, Events, Approve, Cancel, SetMode and Mode.
	executor *executor.Executor
	// shed is the shedding controller (shed_wiring.go); demandCtl the
	// demand controller it follows.
	shed      *shedWiring
	demandCtl *demandctl.Controller
	// cfgFile is the configuration file the pipeline was built from.
	cfgFile string
	// runners are the rules engine's loops (demand, SLA), run beside the
	// collector until the context ends.
	runners []func(ctx context.Context)
}

func newLogger(cfg config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func buildPipeline(ctx context.Context, cfg *config.Config, cfgFile string, log *slog.Logger, shard collector.Shard) (*pipeline, error) {
	return buildPipelineAs(ctx, cfg, cfgFile, log, defaultRole(shard))
}

// buildPipelineAs builds the pipeline of one process of the site (role).
func buildPipelineAs(ctx context.Context, cfg *config.Config, cfgFile string, log *slog.Logger, role siteRole) (*pipeline, error) {
	shard := role.Shard
	p := &pipeline{cfg: cfg, log: log, reg: prometheus.NewRegistry(), shard: shard, role: role}
	p.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.cfgFile = cfgFile

	token := cfg.Influx.Token
	var err error
	p.writer, err = influx.NewWriter(influx.WriterConfig{
		URL: cfg.Influx.URL, Token: token, Org: cfg.Influx.Org, Bucket: cfg.Influx.Bucket,
		BatchSize: cfg.Influx.BatchSize, FlushInterval: cfg.Influx.FlushInterval, Timeout: cfg.Influx.Timeout,
		QueueDir: cfg.Influx.QueueDir, QueueMaxBytes: cfg.Influx.QueueMaxBytes,
		Logger: log, Registerer: p.reg,
	})
	if err != nil {
		return nil, err
	}
	if cfg.Influx.QueueDir == "" {
		log.Warn("influx.queue_dir is not set: points wait for InfluxDB in memory only, and a restart during an outage loses them")
	}
	p.reader = influx.NewReader(cfg.Influx.URL, token, cfg.Influx.Org, cfg.Influx.Bucket)

	models, err := modbus.LoadModels(cfg.Modbus.ModelDirs...)
	if err != nil {
		return nil, fmt.Errorf("meter models: %w", err)
	}
	var sources []collector.Scheduled
	lines := modbus.NewLines()
	budget := modbus.NewConnBudget(connectionBudget(cfg.Modbus.MaxConnections))
	for _, d := range cfg.Modbus.Devices {
		if !shard.Owns(d.Name) {
			continue
		}
		m, err := modbus.NewMeter(modbus.MeterConfig{
			Name: d.Name, Model: models[d.Model], Transport: d.Transport, Address: d.Address,
			UnitID: byte(d.UnitID), Timeout: d.Timeout, Retries: d.Retries, Tags: d.Tags, Lines: lines, Budget: budget,
			RatedKW: d.RatedKW,
			Serial: modbus.SerialConfig{BaudRate: d.Serial.BaudRate, DataBits: d.Serial.DataBits,
				Parity: d.Serial.Parity, StopBits: d.Serial.StopBits},
		})
		if err != nil {
			p.close()
			return nil, fmt.Errorf("modbus device %q: %w", d.Name, err)
		}
		p.meters = append(p.meters, m)
		sources = append(sources, collector.Scheduled{Source: m, Interval: d.Interval, Kind: "modbus"})
	}
	p.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "setsuden_modbus_connections_kept",
		Help: "TCP connections to meters and gateways kept open between samples (modbus.max_connections bounds them)."},
		func() float64 { return float64(budget.Kept()) }))
	if n := len(p.meters); n > budget.KeepMax() {
		log.Info("more Modbus meters than connections to keep: the others connect for each sample",
			"meters", n, "kept_at_most", budget.KeepMax(), "max_connections", cfg.Modbus.MaxConnections)
	}
	obixM := newObixMetrics(p.reg)
	for _, g := range cfg.Obix.Gateways {
		if !shard.Owns(g.Name) {
			continue
		}
		src, err := obixSource(g, log, obixM)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("obix gateway %q: %w", g.Name, err)
		}
		p.obix = append(p.obix, src)
		sources = append(sources, collector.Scheduled{Source: src, Interval: g.Interval, Kind: "obix"})
	}
	var emit func(point.Point)
	for _, h := range cfg.Libvirt.Hosts {
		if !shard.Owns(h.Name) {
			continue
		}
		host := libvirt.NewHost(libvirt.HostConfig{Name: h.Name, URI: h.URI, Tags: h.Tags,
			OnEvent:          func(pt point.Point) { emit(pt) },
			ReconnectBackoff: h.ReconnectBackoff, ReconnectBackoffMax: h.ReconnectBackoffMax,
			KeepaliveInterval: h.KeepaliveInterval, KeepaliveCount: h.KeepaliveCount, Logger: log})
		p.hosts = append(p.hosts, host)
		sources = append(sources, collector.Scheduled{Source: host, Interval: h.Interval, Kind: "libvirt"})
	}
	if p.sla, err = newSLAWiring(cfg, cfgFile, p.writer, log, role); err != nil {
		p.close()
		return nil, err
	}
	sources = append(sources, p.sla.probeSources()...)
	p.coll, err = collector.New(collector.Config{Site: cfg.Site.Name, Sink: p.sla.tap(p.writer), Logger: log, Registerer: p.reg,
		Counters: counterStore{p.reader}}, sources)
	if err != nil {
		p.close()
		return nil, err
	}
	emit = func(pt point.Point) { p.coll.Emit(context.Background(), pt) }
	if err := p.addRules(cfg); err != nil {
		p.close()
		return nil, err
	}
	p.addPeerFeed(p.sla)
	p.logRole()
	p.live = server.NewLive(cfg.Site.Name, latestReader{p.reader}, p.coll.Statuses, 2*time.Second, log)
	if p.srv, err = newServer(p); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// serve runs everything until ctx ends; ready is called with the UI address
// once the listener is open.
func (p *pipeline) serve(ctx context.Context, ready func(addr string)) error {
	defer p.close()
	ln, err := net.Listen("tcp", p.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen %s: %w", p.cfg.Server.Listen, err)
	}
	if len(p.hosts) > 0 {
		if err := libvirt.StartEventLoop(ctx); err != nil {
			p.log.Warn("libvirt event loop unavailable; VM state changes are seen only at polls", "err", err)
		}
	}
	collCtx, stopColl := context.WithCancel(ctx)
	defer stopColl()
	writeCtx, stopWriter := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writerWG sync.WaitGroup
	writerWG.Add(1)
	go func() { defer writerWG.Done(); _ = p.writer.Run(writeCtx) }()
	wg.Add(1)
	go func() { defer wg.Done(); ensureInfluxDatabase(collCtx, p.cfg.Influx, p.log) }()
	wg.Add(2)
	go func() { defer wg.Done(); _ = p.coll.Run(collCtx) }()
	go func() { defer wg.Done(); p.live.Run(collCtx) }()
	for _, r := range p.runners {
		wg.Add(1)
		go func() { defer wg.Done(); r(collCtx) }()
	}
	for _, h := range p.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.WatchEvents(collCtx); err != nil && collCtx.Err() == nil {
				p.log.Warn("libvirt events", "host", h.Name(), "err", err)
			}
		}()
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- p.srv.Serve(collCtx, ln) }()
	ready(ln.Addr().String())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-srvErr:
		srvErr = nil
	}
	stopColl()
	if srvErr != nil {
		if err := <-srvErr; err != nil && !errors.Is(err, context.Canceled) {
			p.log.Warn("server shutdown", "err", err)
		}
	}
	wg.Wait()
	// The collector has stopped; give the writer its final flush.
	stopWriter()
	writerWG.Wait()
	st := p.writer.Stats()
	p.log.Info("stopped", "points_queued", st.Queued, "points_written", st.Written,
		"points_dropped", st.Dropped, "points_unanswered_dropped", st.Unanswered, "points_left_in_queue", st.Pending)
	return runErr
}

func (p *pipeline) close() {
	p.sla.close()
	if p.shed != nil {
		p.shed.close()
	}
	for _, m := range p.meters {
		_ = m.Close()
	}
	for _, h := range p.hosts {
		_ = h.Close()
	}
	closeObix(p.obix)
	if p.reader != nil {
		p.reader.Close()
	}
	if p.writer != nil {
		p.writer.Close()
	}
}

// latestReader adapts the InfluxDB reader to the server's small interface.
type latestReader struct{ r *influx.Reader }

func (l latestReader) Latest(ctx context.Context, measurement, site string, lookback time.Duration) ([]server.Sample, error) {
	vals, err := l.r.Last(ctx, measurement, site, lookback)
	if err != nil {
		return nil, err
	}
	out := make([]server.Sample, len(vals))
	for i, v := range vals {
		out[i] = server.Sample{Measurement: v.Measurement, Field: v.Field, Tags: v.Tags, Time: v.Time, Value: v.Value}
	}
	return out, nil
}

// counterStore restores energy-counter totals from InfluxDB after a restart.
type counterStore struct{ r *influx.Reader }

func (c counterStore) LastCounters(ctx context.Context, spec point.Counter) (map[string]collector.CounterState, error) {
	all, err := c.r.LastCounters(ctx, spec.Measurement, spec.Field)
	if err != nil {
		return nil, err
	}
	out := make(map[string]collector.CounterState, len(all))
	for _, s := range all {
		out[collector.SeriesKey(s.Tags)] = collector.CounterState{Raw: s.Raw, Total: s.Total, Time: s.Time}
	}
	return out, nil
}

// connectionBudget is modbus.max_connections, or when 0 the open-file
// limit (which Go raises to the hard limit at start) less 1,024 descriptors
// for everything else: InfluxDB, the UI, libvirt, oBIX, files.
func connectionBudget(configured int) int {
	if configured > 0 {
		return configured
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 1 << 30
	}
	return max(int(lim.Cur)-1024, 64)
}

// tuneRuntime applies the runtime: section unless the environment already
// sets GOGC or GOMEMLIMIT (which the Go runtime has read at start-up).
func tuneRuntime(cfg config.Runtime, log *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); !set {
		pct := cfg.GCPercent
		if pct == 0 {
			pct = config.Default().Runtime.GCPercent
		}
		debug.SetGCPercent(pct)
		log.Debug("go runtime", "gc_percent", pct)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && cfg.MemoryLimitMiB > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimitMiB) << 20)
		log.Debug("go runtime", "memory_limit_mib", cfg.MemoryLimitMiB)
	}
}

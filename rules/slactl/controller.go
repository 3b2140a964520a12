package slactl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
)

// Config wires a Controller.
type Config struct {
	// Site is the site tag of the points written and read.
	Site string
	// SLA is the decoded "sla:" section: catalog, check policy, probes,
	// where the records live, the report schedule and the alerts.
	SLA sla.Config
	// Location is the time zone of report months, of the schedule and of
	// the monthly re-assertion (the site's; default Asia/Tokyo).
	Location *time.Location
	// Points is the write path for sla_state_change points.
	Points PointWriter
	// Store reads what was written (adapters/influx SLAStore, with
	// Maintenance behind it): reports, and the alert window at start.
	Store report.Store
	// Maintenance is the maintenance log the API appends to.
	Maintenance sla.MaintenanceStore
	// Notifier receives alerts; nil: alerts are only logged.
	Notifier Notifier
	// BeforeIssue, if set, runs before a month's report is computed: the
	// daemon rolls up the daily probe summaries of the days not yet rolled
	// up (the month's last day, when the schedule fires), so a report and
	// its later recomputations read the same summaries. An error is logged
	// and the report computed anyway: it then reads those days' samples.
	BeforeIssue func(ctx context.Context) error
	// Energy, if set, is the month's energy section (kWh, PUE, peak block,
	// shed events and their yen, CO2, as setsuden report has it), put in
	// the report of all customers (a customer's has its services only: the
	// site's bill is the operator's). An error is logged and the report
	// issued without it, as setsuden report does.
	Energy func(ctx context.Context, month string) (*report.Energy, error)
	Logger *slog.Logger
	// Clock drives the schedules and stamps everything (default the real
	// clock; tests pass a clockwork fake).
	Clock clockwork.Clock
	// Tick is the time between Tracker.Advance calls (default 5s).
	Tick time.Duration
	// PDF adjusts downloaded PDFs (fonts).
	PDF report.PDFOptions
}

// Causes the controller writes itself.
const (
	// CauseStarted: the state before setsuden's first observation after it
	// started is not known.
	CauseStarted = "setsuden started: no data yet"
	// CauseStopped: setsuden stopped; nothing is known until it runs again.
	CauseStopped = "setsuden stopped"
)

// seedTimeout bounds the read of the alert window at start.
const seedTimeout = 15 * time.Second

// reportLookahead is how far after a month the report reads to see when
// incidents open at its end were resolved (report.Generator's default).
const reportLookahead = 7 * 24 * time.Hour

// Controller runs SLA accounting for one site. Build it with New, put Tap
// in front of the write path, add ProbeSources to the collector, then Run
// it; the API and every exported method are safe from any goroutine.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	clock   clockwork.Clock
	loc     *time.Location
	start   time.Time
	archive *report.Archive

	services []sla.Service
	slas     map[string]sla.SLA // by service, with defaults
	locs     map[string]*time.Location
	vms      map[string]bool // VMs the catalog depends on
	burn     []sla.BurnRateRule
	absent   sla.AbsentRule
	lookback time.Duration

	mu      sync.Mutex // guards the fields below
	tracker *sla.Tracker
	comp    map[string]sla.StateChange       // component ID -> latest observation
	vmOn    map[string]map[string]vmSighting // VM -> host -> what the host last said
	current map[string]sla.StateChange       // service -> last settled change
	history map[string][]sla.StateChange     // service -> changes in the alert window
	// recorded is the time of each service's last recorded change (see
	// sequence).
	recorded map[string]time.Time
	alerts   map[string][]sla.Alert // service -> last evaluation
	// alertsFile keeps alerts across restarts (state_dir/alerts.json), so
	// that a restart neither posts a firing alert again nor forgets to post
	// its resolution; "" when there is no state_dir.
	alertsFile  string
	alertsSaved []byte
	month       string // month of the horizon at the last tick

	reportMu sync.Mutex // one report computation at a time
}

// New validates cfg and returns a controller whose tracker starts now.
func New(cfg Config) (*Controller, error) {
	switch {
	case cfg.Site == "":
		return nil, errors.New("sla controller: no site")
	case cfg.Points == nil || cfg.Store == nil || cfg.Maintenance == nil:
		return nil, errors.New("sla controller: Points, Store and Maintenance are required")
	case cfg.SLA.Files.ReportsDir == "":
		return nil, errors.New("sla controller: no reports directory (sla.state_dir or sla.reports_dir)")
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation(sla.DefaultTimeZone)
		if err != nil {
			return nil, fmt.Errorf("sla controller: %w", err)
		}
		cfg.Location = loc
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 5 * time.Second
	}
	if cfg.SLA.Alerts.Interval <= 0 {
		cfg.SLA.Alerts.Interval = time.Minute
	}
	if cfg.SLA.Schedule.Day == 0 {
		cfg.SLA.Schedule = sla.ReportSchedule{Day: sla.DefaultReportDay, At: sla.DefaultReportAt, Grace: sla.DefaultReportGrace}
	}
	start := cfg.Clock.Now()
	tr, err := sla.NewTracker(cfg.SLA.Catalog, cfg.SLA.Checks, start)
	if err != nil {
		return nil, fmt.Errorf("sla controller: %w", err)
	}
	archive, err := report.OpenArchive(cfg.SLA.Files.ReportsDir)
	if err != nil {
		return nil, fmt.Errorf("sla controller: %w", err)
	}
	c := &Controller{
		cfg: cfg, log: cfg.Logger.With("component", "sla", "site", cfg.Site), clock: cfg.Clock, loc: cfg.Location,
		start: start, archive: archive,
		services: cfg.SLA.Catalog.Services, slas: map[string]sla.SLA{}, locs: map[string]*time.Location{},
		vms:  map[string]bool{},
		burn: sla.DefaultBurnRateRules(30 * 24 * time.Hour), absent: sla.DefaultAbsentRule(),
		tracker: tr, comp: map[string]sla.StateChange{}, vmOn: map[string]map[string]vmSighting{},
		current: map[string]sla.StateChange{}, history: map[string][]sla.StateChange{}, alerts: map[string][]sla.Alert{},
		month: start.In(cfg.Location).Format("2006-01"),
	}
	c.lookback = sla.AlertLookback(c.burn)
	if dir := cfg.SLA.Files.StateDir; dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sla controller: state_dir: %w", err)
		}
		c.alertsFile = filepath.Join(dir, "alerts.json")
		c.loadAlerts()
	}
	for _, s := range c.services {
		agreement, _ := cfg.SLA.Catalog.SLA(s.SLA)
		agreement = agreement.WithDefaults()
		c.slas[s.Name] = agreement
		if c.locs[agreement.TimeZone] == nil {
			if c.locs[agreement.TimeZone], err = time.LoadLocation(agreement.TimeZone); err != nil {
				return nil, fmt.Errorf("sla controller: sla %q: %w", agreement.Name, err)
			}
		}
		for _, v := range s.RunsOn.VMs {
			c.vms[v] = true
		}
	}
	return c, nil
}

// Run writes every service as UNKNOWN from the start (what was before is
// not known to this process), then ticks, evaluates alerts and issues the
// monthly reports until ctx ends; at the end it settles what it can and
// writes every service as UNKNOWN from there.
func (c *Controller) Run(ctx context.Context) error {
	c.seedHistory(ctx)
	c.write(ctx, c.everyService(c.start, sla.StateUnknown, CauseStarted))
	s, err := gocron.NewScheduler(gocron.WithClock(c.clock), gocron.WithLocation(c.loc),
		gocron.WithLogger(schedulerLogger{c.log}))
	if err != nil {
		return fmt.Errorf("sla scheduler: %w", err)
	}
	sched := c.cfg.SLA.Schedule
	jobs := []struct {
		name string
		def  gocron.JobDefinition
		task func()
	}{
		{"sla tick", gocron.DurationJob(c.cfg.Tick), func() { c.Tick(ctx) }},
		{"sla alerts", gocron.DurationJob(c.cfg.SLA.Alerts.Interval), func() { c.EvaluateAlerts(ctx) }},
		{"sla monthly report", gocron.MonthlyJob(1, gocron.NewDaysOfTheMonth(sched.Day),
			gocron.NewAtTimes(gocron.NewAtTime(uint(sched.At/time.Hour), uint(sched.At%time.Hour/time.Minute), 0))),
			func() { c.issueScheduled(ctx) }},
		{"sla report catch-up", gocron.OneTimeJob(gocron.OneTimeJobStartImmediately()), func() { c.catchUp(ctx) }},
	}
	for _, j := range jobs {
		if _, err := s.NewJob(j.def, gocron.NewTask(j.task), gocron.WithName(j.name),
			gocron.WithSingletonMode(gocron.LimitModeReschedule)); err != nil {
			_ = s.Shutdown()
			return fmt.Errorf("%s job: %w", j.name, err)
		}
	}
	s.Start()
	c.log.Info("SLA accounting running", "services", len(c.services), "probes", len(c.cfg.SLA.Probes),
		"tick", c.cfg.Tick, "alerts_every", c.cfg.SLA.Alerts.Interval,
		"monthly_report", fmt.Sprintf("day %d at %02d:%02d %s", sched.Day, sched.At/time.Hour, sched.At%time.Hour/time.Minute, c.loc))
	<-ctx.Done()
	err = s.Shutdown()
	final := context.WithoutCancel(ctx)
	c.Tick(final)
	c.mu.Lock()
	h := c.tracker.Horizon()
	c.mu.Unlock()
	c.write(final, c.everyService(h, sla.StateUnknown, CauseStopped))
	if err != nil {
		return fmt.Errorf("sla scheduler shutdown: %w", err)
	}
	return nil
}

// Tick advances the tracker to the clock's time, writes the service
// changes that became final (and, at the first tick of a month, every
// service's state again) and returns the changes.
func (c *Controller) Tick(ctx context.Context) []sla.ServiceChange {
	now := c.clock.Now()
	c.mu.Lock()
	changes := c.tracker.Advance(now)
	c.sequence(changes)
	for _, ch := range changes {
		c.current[ch.Service] = ch.StateChange
		c.history[ch.Service] = append(c.history[ch.Service], ch.StateChange)
	}
	h := c.tracker.Horizon()
	month := h.In(c.loc).Format("2006-01")
	var again []sla.ServiceChange
	if month != c.month {
		again = c.tracker.Reassert()
		known := map[string]bool{}
		for _, ch := range again {
			known[ch.Service] = true
		}
		for _, s := range c.services {
			if !known[s.Name] {
				again = append(again, sla.ServiceChange{Service: s.Name,
					StateChange: sla.StateChange{At: h, State: sla.StateUnknown, Cause: CauseStarted}})
			}
		}
		c.month = month
		c.sequence(again)
	}
	c.mu.Unlock()
	for _, ch := range changes {
		attrs := []any{"service", ch.Service, "state", ch.State.String(), "at", ch.At.Format(time.RFC3339)}
		if ch.Cause != "" {
			attrs = append(attrs, "cause", ch.Cause)
		}
		if ch.State == sla.StateDown {
			c.log.Warn("service down", attrs...)
		} else {
			c.log.Info("service state", attrs...)
		}
	}
	if len(again) > 0 {
		c.log.Info("service states re-asserted for the new month", "month", month, "services", len(again))
	}
	c.write(ctx, append(changes, again...))
	return changes
}

func (c *Controller) write(ctx context.Context, changes []sla.ServiceChange) {
	if len(changes) == 0 {
		return
	}
	pts := make([]point.Point, len(changes))
	for i, ch := range changes {
		pts[i] = sla.StateChangePoint(c.cfg.Site, ch.Service, ch.StateChange)
	}
	if err := c.cfg.Points.Write(ctx, pts); err != nil {
		c.log.Error("sla_state_change points not queued", "points", len(pts), "err", err)
	}
}

func (c *Controller) everyService(at time.Time, s sla.State, cause string) []sla.ServiceChange {
	out := make([]sla.ServiceChange, len(c.services))
	for i, svc := range c.services {
		out[i] = sla.ServiceChange{Service: svc.Name, StateChange: sla.StateChange{At: at, State: s, Cause: cause}}
	}
	c.mu.Lock()
	c.sequence(out)
	for _, ch := range out {
		c.history[ch.Service] = append(c.history[ch.Service], ch.StateChange)
	}
	c.mu.Unlock()
	return out
}

// sequence keeps each service's changes at strictly increasing times:
// InfluxDB keeps one point per series and time, so a change at the same
// instant as the service's previous one (the first observation landing on
// the start marker, a month's re-assertion on a change) would overwrite
// it. Such a change is recorded a nanosecond later and both are kept.
// c.mu must be held.
func (c *Controller) sequence(changes []sla.ServiceChange) {
	if c.recorded == nil {
		c.recorded = map[string]time.Time{}
	}
	for i := range changes {
		ch := &changes[i]
		if last, ok := c.recorded[ch.Service]; ok && !ch.At.After(last) {
			ch.At = last.Add(time.Nanosecond)
		}
		c.recorded[ch.Service] = ch.At
	}
}

// seedHistory reads the alert window before the start from the store, so
// that burn rates do not restart from nothing with every restart.
func (c *Controller) seedHistory(ctx context.Context) {
	names := make([]string, len(c.services))
	for i, s := range c.services {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return
	}
	// Bounded: an unreachable database must not hold up the first tick.
	ctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	changes, err := c.cfg.Store.StateChanges(ctx, c.cfg.Site, names, c.start.Add(-c.lookback), c.start)
	if err != nil {
		c.log.Warn("stored SLA states could not be read; burn rates start from no history", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for svc, cs := range changes {
		if _, ok := c.slas[svc]; ok {
			c.history[svc] = append(append([]sla.StateChange(nil), cs...), c.history[svc]...)
		}
	}
}

// ServiceState is a service's settled state.
type ServiceState struct {
	Service  string       `json:"service"`
	Customer string       `json:"customer,omitempty"`
	SLA      string       `json:"sla"`
	State    sla.State    `json:"state"`
	Since    time.Time    `json:"since"`
	Cause    string       `json:"cause,omitempty"`
	Severity sla.Severity `json:"severity,omitempty"`
	// Alerts are the rules that are pending or firing.
	Alerts []sla.Alert `json:"alerts,omitempty"`
}

// States returns every service's settled state, by name, and the horizon
// they are settled to.
func (c *Controller) States() ([]ServiceState, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ServiceState, 0, len(c.services))
	for _, s := range c.services {
		st := ServiceState{Service: s.Name, Customer: s.Customer, SLA: s.SLA,
			State: sla.StateUnknown, Since: c.start, Cause: CauseStarted}
		if ch, ok := c.current[s.Name]; ok {
			st.State, st.Since, st.Cause, st.Severity = ch.State, ch.At, ch.Cause, ch.Severity
		}
		for _, a := range c.alerts[s.Name] {
			if a.State != sla.Inactive {
				st.Alerts = append(st.Alerts, a)
			}
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out, c.tracker.Horizon()
}

// schedulerLogger passes gocron's messages to slog at debug level (its
// warnings and errors at their own).
type schedulerLogger struct{ l *slog.Logger }

func (s schedulerLogger) Debug(msg string, args ...any) { s.l.Debug("scheduler: "+msg, args...) }
func (s schedulerLogger) Info(msg string, args ...any)  { s.l.Debug("scheduler: "+msg, args...) }
func (s schedulerLogger) Warn(msg string, args ...any)  { s.l.Warn("scheduler: "+msg, args...) }
func (s schedulerLogger) Error(msg string, args ...any) { s.l.Error("scheduler: "+msg, args...) }

package influx_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
)

var slaTokyo = func() *time.Location {
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return l
}()

func slaJST(m time.Month, d, h, min int) time.Time {
	return time.Date(2025, m, d, h, min, 0, 0, slaTokyo)
}

func newSLAStore(t testing.TB, d *influx.Influxd, maint sla.MaintenanceStore) *influx.SLAStore {
	t.Helper()
	s, err := influx.NewSLAStore(influx.SLAStoreConfig{URL: d.URL, Bucket: d.Bucket(), Maintenance: maint})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSLAStoreQueries(t *testing.T) {
	d := testinflux.Start(t)
	ctx := context.Background()
	c := func(at time.Time, st sla.State, cause string, sev sla.Severity) sla.StateChange {
		return sla.StateChange{At: at.UTC(), State: st, Cause: cause, Severity: sev}
	}
	changes := map[string][]sla.StateChange{
		"a": {c(slaJST(3, 20, 0, 0), sla.StateUp, "", 0), c(slaJST(4, 2, 10, 0), sla.StateDown, "refused", sla.SeverityHigh), c(slaJST(4, 2, 10, 5), sla.StateUp, "", 0)},
		// Only a change long ago: found by the second, last() search.
		"b": {c(slaJST(1, 5, 0, 0), sla.StateDown, "old", 0), c(slaJST(1, 6, 0, 0), sla.StateUp, "", 0)},
		"c": {c(slaJST(4, 3, 0, 0), sla.StateUnknown, sla.CauseNoData, 0)},
	}
	var pts []point.Point
	for svc, cs := range changes {
		for _, ch := range cs {
			pts = append(pts, sla.StateChangePoint("dc1", svc, ch))
		}
	}
	// Another site's data must not leak in.
	pts = append(pts, sla.StateChangePoint("dc2", "a", c(slaJST(4, 2, 11, 0), sla.StateDown, "other site", 0)))
	spec := sla.ProbeSpec{Name: "a-http", Service: "a", Kind: sla.ProbeHTTP}
	for i := 0; i < 10; i++ {
		pt := sla.ProbePoint(spec, sla.Check{At: slaJST(4, 2, 10, i).UTC(), OK: i%4 != 1, ResponseMs: float64(100 + i), Error: "x"})
		pt.Tags["site"] = "dc1"
		pts = append(pts, pt)
	}
	// A failure written without response_ms still counts.
	pts = append(pts, point.Point{Measurement: "probe", Tags: map[string]string{"site": "dc1", "service": "a", "probe": "a-tcp", "kind": "tcp"},
		Fields: map[string]any{"up": false, "error": "refused"}, Time: slaJST(4, 2, 10, 3)})
	testinflux.Write(t, d, pts)

	s := newSLAStore(t, d, nil)
	from, to := slaJST(4, 1, 0, 0), slaJST(5, 1, 0, 0)
	want := map[string][]sla.StateChange{
		"a": changes["a"],
		"b": changes["b"][1:], // the state in force at from
		"c": changes["c"],
	}
	for _, services := range [][]string{{"a", "b", "c", "d"}, nil, slaManyNames("a", "b", "c")} {
		got, err := s.StateChanges(ctx, "dc1", services, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("services %d: state changes\n got %v\nwant %v", len(services), got, want)
		}
	}

	var samples []sla.ProbeSample
	err := s.Probes(ctx, "dc1", []string{"a"}, from, to, func(svc string, ps []sla.ProbeSample) error {
		if svc != "a" {
			t.Errorf("samples of %q", svc)
		}
		samples = append(samples, ps...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	down := 0
	for _, p := range samples {
		if !p.Up {
			down++
		}
	}
	if len(samples) != 11 || down != 4 {
		t.Errorf("%d samples, %d down; want 11, 4 (3 failed http + 1 tcp without a response time)", len(samples), down)
	}
	if samples[0].ResponseMs != 100 || samples[0].Probe != "a-http" || !samples[0].At.Equal(slaJST(4, 2, 10, 0)) {
		t.Errorf("first sample %+v", samples[0])
	}
	if _, err := s.StateChanges(ctx, "dc1", nil, to, from); err == nil {
		t.Error("empty range accepted")
	}
	bad, _ := influx.NewSLAStore(influx.SLAStoreConfig{URL: d.URL, Bucket: "nope/none"})
	if _, err := bad.StateChanges(ctx, "dc1", nil, from, to); err == nil {
		t.Error("query on a missing database succeeded")
	}
}

func slaManyNames(extra ...string) []string {
	out := append([]string(nil), extra...)
	for i := 0; len(out) <= 60; i++ {
		out = append(out, fmt.Sprintf("x%d", i))
	}
	return out
}

// slaMonthFixture is a month of state and probe data for three services, with
// maintenance in a JSON-lines log.
type slaMonthFixture struct {
	cat     sla.Catalog
	changes map[string][]sla.StateChange
	probes  map[string][]sla.ProbeSample
	specs   map[string]sla.ProbeSpec
	maint   *sla.FileMaintenanceStore
}

func newSLAMonthFixture(t *testing.T) slaMonthFixture {
	hours, _ := sla.ParseServiceHours([]string{"Mon-Fri 09:00-18:00"})
	f := slaMonthFixture{
		cat: sla.Catalog{
			SLAs: []sla.SLA{
				{Name: "core", Objective: 0.999, TimeZone: "Asia/Tokyo", RTO: time.Hour, MaxFailures: 1, ResponseObjective: 0.99},
				{Name: "office", Objective: 0.98, TimeZone: "Asia/Tokyo", ServiceHours: hours, RTO: 4 * time.Hour, MaxFailures: sla.NoLimit, DownSeverity: sla.SeverityHigh},
			},
			Services: []sla.Service{
				{Name: "web", SLA: "core", Customer: "ACME", RunsOn: sla.RunsOn{Probes: []string{"web-http"}}},
				{Name: "api", SLA: "core", Customer: "ACME", RunsOn: sla.RunsOn{Probes: []string{"api-http"}}},
				{Name: "crm", SLA: "office", Customer: "Globex", RunsOn: sla.RunsOn{Probes: []string{"crm-tcp"}}},
			},
		},
		changes: map[string][]sla.StateChange{},
		probes:  map[string][]sla.ProbeSample{},
		specs: map[string]sla.ProbeSpec{
			"web": {Name: "web-http", Service: "web", Kind: sla.ProbeHTTP},
			"api": {Name: "api-http", Service: "api", Kind: sla.ProbeHTTP},
			"crm": {Name: "crm-tcp", Service: "crm", Kind: sla.ProbeTCP},
		},
	}
	up := func(at time.Time) sla.StateChange { return sla.StateChange{At: at.UTC(), State: sla.StateUp} }
	down := func(at time.Time, cause string) sla.StateChange {
		return sla.StateChange{At: at.UTC(), State: sla.StateDown, Cause: cause}
	}
	f.changes["web"] = []sla.StateChange{up(slaJST(3, 28, 0, 0)),
		down(slaJST(4, 7, 14, 0), "connection refused"), up(slaJST(4, 7, 14, 50)),
		down(slaJST(4, 12, 2, 10), "maintenance work"), up(slaJST(4, 12, 3, 0)),
		down(slaJST(4, 18, 2, 0), sla.CauseEnergyAction), up(slaJST(4, 18, 2, 20)),
		down(slaJST(4, 25, 1, 0), "patching"), up(slaJST(4, 25, 1, 30)),
	}
	f.changes["api"] = []sla.StateChange{up(slaJST(1, 5, 0, 0)), // months back: the last() fallback
		{At: slaJST(4, 20, 8, 0).UTC(), State: sla.StateUnknown, Cause: sla.CauseNoData}, up(slaJST(4, 20, 16, 0))}
	crmDown := down(slaJST(4, 11, 17, 0), "db crash")
	crmDown.Severity = sla.SeverityHigh
	f.changes["crm"] = []sla.StateChange{up(slaJST(3, 25, 0, 0)), crmDown, up(slaJST(4, 14, 10, 0)),
		// a warning is degraded, not down, under down_severity high
		{At: slaJST(4, 16, 10, 0).UTC(), State: sla.StateDown, Cause: "slow disk", Severity: sla.SeverityWarning}, up(slaJST(4, 16, 11, 0))}

	failing := func(svc string, at time.Time) bool {
		for _, iv := range map[string][][2]time.Time{
			"web": {{slaJST(4, 7, 14, 0), slaJST(4, 7, 14, 50)}, {slaJST(4, 12, 2, 10), slaJST(4, 12, 3, 0)},
				{slaJST(4, 18, 2, 0), slaJST(4, 18, 2, 20)}, {slaJST(4, 25, 1, 0), slaJST(4, 25, 1, 30)}},
			"crm": {{slaJST(4, 11, 17, 0), slaJST(4, 14, 10, 0)}},
		}[svc] {
			if !at.Before(iv[0]) && at.Before(iv[1]) {
				return true
			}
		}
		return false
	}
	for svc := range f.specs {
		for at := slaJST(4, 1, 0, 0); at.Before(slaJST(5, 1, 0, 0)); at = at.Add(5 * time.Minute) {
			if svc == "api" && !at.Before(slaJST(4, 20, 8, 0)) && at.Before(slaJST(4, 20, 16, 0)) {
				continue // the monitor was down
			}
			ms := 120.0 + float64(at.Minute()%10)
			ok := !failing(svc, at)
			if !ok {
				ms = 10000
			}
			f.probes[svc] = append(f.probes[svc], sla.ProbeSample{At: at.UTC(), Probe: f.specs[svc].Name, Up: ok, ResponseMs: ms})
		}
	}

	// The maintenance log: one window announced 31 days ahead, one 5 days.
	var clock time.Time
	var err error
	f.maint, err = sla.OpenFileMaintenanceStore(filepath.Join(t.TempDir(), "maintenance.jsonl"), func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.maint.Close() })
	for _, w := range []sla.MaintenanceWindow{
		{ID: "m-planned", Services: []string{"web"}, Start: slaJST(4, 12, 2, 0), End: slaJST(4, 12, 4, 0), AnnouncedAt: slaJST(3, 12, 2, 0), AnnouncedBy: "ops@example.jp", Reason: "storage firmware"},
		{ID: "m-short", Services: []string{"web"}, Start: slaJST(4, 25, 1, 0), End: slaJST(4, 25, 1, 30), AnnouncedAt: slaJST(4, 20, 9, 0), AnnouncedBy: "ops@example.jp", Reason: "urgent patch"},
	} {
		clock = w.AnnouncedAt
		if _, err := f.maint.Append(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f slaMonthFixture) points() []point.Point {
	var pts []point.Point
	for svc, cs := range f.changes {
		for _, c := range cs {
			pts = append(pts, sla.StateChangePoint("dc1", svc, c))
		}
	}
	for svc, ps := range f.probes {
		for _, p := range ps {
			pt := sla.ProbePoint(f.specs[svc], sla.Check{At: p.At, OK: p.Up, ResponseMs: p.ResponseMs})
			pt.Tags["site"] = "dc1"
			pts = append(pts, pt)
		}
	}
	return pts
}

func TestSLAReportFromInfluxd(t *testing.T) {
	d := testinflux.Start(t)
	f := newSLAMonthFixture(t)
	testinflux.Write(t, d, f.points())
	ctx := context.Background()
	gen := report.Generator{Site: "dc1", Catalog: f.cat, AsOf: slaJST(5, 3, 0, 0)}
	m, err := gen.Generate(ctx, newSLAStore(t, d, f.maint), "2025-04", slaTokyo, report.Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, m); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	got := map[string][]string{}
	for _, r := range rows[1:] {
		got[r[col["service"]]] = r
	}
	// Expected figures, by hand:
	//   web: down 50 + 20 (energy) + 30 (short notice) min = 6000 s; the
	//        planned 2 h excluded; A = 2,578,800 / 2,584,800; 8,640
	//        five-minute probes less 24 in the planned window, 20 failed.
	//   api: 8 h without data: A 100%, A_min and coverage 1 - 8/720.
	//   crm: 22 weekdays x 9 h = 712,800 s; Fri 17:00 - Mon 10:00 is 2 h
	//        of service time down; the warning-level hour is degraded.
	want := map[string]map[string]string{
		"web": {"service_time_s": "2592000", "down_s": "6000", "planned_s": "7200", "unknown_s": "0",
			"availability_pct": "99.7679", "availability_min_pct": "99.7679", "coverage_pct": "100.0000", "verdict": "FAIL",
			"incidents": "3", "failures": "2", "rto_breaches": "0", "max_ttr_s": "3000", "mttr_s": "2100",
			"budget_total_s": "2584.8", "budget_spent_s": "6000", "budget_spent_pct": "232.1263", "budget_left_s": "-3415.2", "budget_left_pct": "-132.1263",
			"energy_action_down_s": "1200", "short_notice_down_s": "1800", "planned_windows": "1", "short_notice_windows": "1",
			"response_valid": "8616", "response_within_pct": "99.7679", "response_p50_ms": "120.0", "response_p99_ms": "125.0", "response_verdict": "PASS"},
		"api": {"unknown_s": "28800", "down_s": "0", "availability_pct": "100.0000", "availability_min_pct": "98.8889",
			"coverage_pct": "98.8889", "verdict": "INSUFFICIENT DATA", "incidents": "0", "response_valid": "8544"},
		"crm": {"service_time_s": "712800", "down_s": "7200", "availability_pct": "98.9899", "verdict": "PASS",
			"incidents": "1", "failures": "1", "max_ttr_s": "7200", "rto_breaches": "0", "max_failures": "",
			"budget_total_s": "14256", "budget_left_s": "7056", "budget_left_pct": "49.4949"},
	}
	for svc, fields := range want {
		for k, v := range fields {
			if g := got[svc][col[k]]; g != v {
				t.Errorf("%s %s = %q, want %q", svc, k, g, v)
			}
		}
	}
	for _, s := range m.Services {
		if s.Service.Name == "crm" && s.Figures.Degraded != time.Hour {
			t.Errorf("crm degraded %s, want 1h", s.Figures.Degraded)
		}
	}

	// The same data from memory gives the same report.
	ws, _ := f.maint.Windows(ctx, slaJST(3, 1, 0, 0), slaJST(6, 1, 0, 0))
	mem := &report.MemoryStore{Changes: f.changes, Samples: f.probes, Windows: ws}
	mm, err := gen.Generate(ctx, mem, "2025-04", slaTokyo, report.Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mbuf bytes.Buffer
	_ = report.WriteCSV(&mbuf, mm)
	if !bytes.Equal(buf.Bytes(), mbuf.Bytes()) {
		t.Errorf("influx and memory stores differ:\n%s\n%s", buf.String(), mbuf.String())
	}
}

// BenchmarkSLAReport10kServices measures a monthly report of 10,000
// services from the real influxd (run with -bench SLAReport -benchtime 1x).
// Every service has its state re-asserted at the month start plus 0-3
// outages, and a probe every SETSUDEN_BENCH_PROBE_EVERY (default 1h).
// changes-only leaves the probes out; raw-probes reads every probe
// sample; rollup makes the month's daily probe summaries (the daemon's
// once-a-day cost, times 30); with-probes is the report as the daemon and
// `setsuden report` make it, from those summaries.
func BenchmarkSLAReport10kServices(b *testing.B) {
	d := testinflux.Start(b)
	const n = 10000
	every := time.Hour
	if v := os.Getenv("SETSUDEN_BENCH_PROBE_EVERY"); v != "" {
		var err error
		if every, err = time.ParseDuration(v); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewSource(1))
	core := sla.SLA{Name: "core", Objective: 0.999, TimeZone: "Asia/Tokyo", RTO: time.Hour, MaxFailures: 1}
	cat := sla.Catalog{SLAs: []sla.SLA{core}}
	start := slaJST(4, 1, 0, 0)
	var pts []point.Point
	probes := 0
	setup := time.Now()
	flush := func() {
		testinflux.Write(b, d, pts)
		pts = pts[:0]
	}
	for i := 0; i < n; i++ {
		name := "svc-" + strconv.Itoa(i)
		cat.Services = append(cat.Services, sla.Service{Name: name, SLA: "core", Customer: fmt.Sprintf("cust-%d", i%50), RunsOn: sla.RunsOn{Probes: []string{name + "-http"}}})
		pts = append(pts, sla.StateChangePoint("dc1", name, sla.StateChange{At: start.Add(-3 * 24 * time.Hour), State: sla.StateUp}))
		for k := rng.Intn(4); k > 0; k-- {
			at := start.Add(time.Duration(rng.Int63n(int64(29 * 24 * time.Hour))))
			pts = append(pts, sla.StateChangePoint("dc1", name, sla.StateChange{At: at, State: sla.StateDown, Cause: "refused"}),
				sla.StateChangePoint("dc1", name, sla.StateChange{At: at.Add(time.Duration(1+rng.Intn(90)) * time.Minute), State: sla.StateUp}))
		}
		spec := sla.ProbeSpec{Name: name + "-http", Service: name, Kind: sla.ProbeHTTP}
		for at := start.Add(time.Duration(i) * time.Second % every); at.Before(start.AddDate(0, 1, 0)); at = at.Add(every) {
			pt := sla.ProbePoint(spec, sla.Check{At: at, OK: rng.Intn(500) != 0, ResponseMs: 50 + rng.Float64()*300})
			pt.Tags["site"] = "dc1"
			pts = append(pts, pt)
			probes++
		}
		if len(pts) > 500000 {
			flush()
		}
	}
	flush()
	written := time.Since(setup)
	// A report runs on data written over a month and long since compacted
	// into TSM files, not on a cache full of fresh writes: restart influxd
	// (it snapshots the replayed WAL at once) and wait until it is idle.
	settle := time.Now()
	_ = d.Stop()
	d, err := influx.StartInfluxd(context.Background(), influx.InfluxdConfig{Dir: d.Dir(), Database: d.Database})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Stop() })
	slaWaitIdle(b, d.Pid())
	setupNote := fmt.Sprintf("%d probe points (every %s) written in %s, restarted and compacted in %s", probes, every,
		written.Round(time.Second), time.Since(settle).Round(time.Second))
	store := newSLAStore(b, d, nil)
	gen := report.Generator{Site: "dc1", Catalog: cat, AsOf: slaJST(5, 2, 0, 0)}
	ctx := context.Background()
	roll := report.Rollup{Site: "dc1", Catalog: cat, Location: slaTokyo}
	month := roll.Days(start, start.AddDate(0, 1, 0))
	// rollup makes the month's daily probe summaries; like the samples,
	// they are read after influxd restarted and compacted them.
	rollup := func(rb *testing.B, metrics bool) {
		t0 := time.Now()
		if err := roll.Run(ctx, store, month, nil); err != nil {
			rb.Fatal(err)
		}
		took := time.Since(t0)
		rb.StopTimer()
		_ = d.Stop()
		if d, err = influx.StartInfluxd(context.Background(), influx.InfluxdConfig{Dir: d.Dir(), Database: d.Database}); err != nil {
			rb.Fatal(err)
		}
		dd := d
		b.Cleanup(func() { _ = dd.Stop() }) // the parent's: influxd serves the later sub-benchmarks
		slaWaitIdle(rb, d.Pid())
		store = newSLAStore(rb, d, nil)
		rb.StartTimer()
		if !metrics {
			return
		}
		rb.ReportMetric(took.Seconds(), "s/month-rollup")
		rb.ReportMetric(took.Seconds()/float64(len(month)), "s/day-rollup")
		rb.Logf("rollup of %d days in %s (%s a day)", len(month), took.Round(time.Millisecond), (took / time.Duration(len(month))).Round(time.Millisecond))
	}
	monthly := func(name string, store func() report.Store, raw bool) func(*testing.B) {
		return func(b *testing.B) {
			g := gen
			g.RawProbes = raw
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				m, err := g.Generate(ctx, store(), "2025-04", slaTokyo, report.Filter{}, nil)
				if err != nil {
					b.Fatal(err)
				}
				var buf bytes.Buffer
				if err := report.WriteCSV(&buf, m); err != nil {
					b.Fatal(err)
				}
				took := time.Since(t0)
				b.ReportMetric(took.Seconds(), "s/report")
				estimated := 0
				for _, s := range m.Services {
					if s.Figures.Response.Estimated {
						estimated++
					}
				}
				b.Logf("%s: %d services (%d with percentiles from summaries) in %s (CSV %d bytes); setup: %s", name, len(m.Services), estimated,
					took.Round(time.Millisecond), buf.Len(), setupNote)
			}
		}
	}
	b.Run("changes-only", monthly("changes-only", func() report.Store { return slaNoProbes{store} }, true))
	b.Run("raw-probes", monthly("raw-probes", func() report.Store { return store }, true))
	b.Run("rollup", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			rollup(b, true)
		}
	})
	b.Run("with-probes", func(b *testing.B) {
		if days, err := store.RolledUpDays(ctx, "dc1", start, start.AddDate(0, 1, 0)); err != nil || len(days) < len(month) {
			b.StopTimer()
			rollup(b, false) // the rollup sub-benchmark did not run
			b.StartTimer()
		}
		monthly("with-probes", func() report.Store { return store }, false)(b)
	})
}

// slaNoProbes hides the probe data, to measure the state-change part alone.
type slaNoProbes struct{ report.Store }

func (slaNoProbes) Probes(context.Context, string, []string, time.Time, time.Time, func(string, []sla.ProbeSample) error) error {
	return nil
}

// slaWaitIdle waits (at most 3 min) until process pid has used under 5% of
// a CPU for 3 seconds in a row.
func slaWaitIdle(b *testing.B, pid int) {
	cpu := func() int64 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return -1
		}
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		return utime + stime // clock ticks, 100 per second
	}
	quiet := 0
	for deadline := time.Now().Add(3 * time.Minute); quiet < 3 && time.Now().Before(deadline); {
		before := cpu()
		time.Sleep(time.Second)
		if before < 0 || cpu()-before < 5 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

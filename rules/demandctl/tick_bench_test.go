package demandctl_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
)

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is another process's user+system CPU time (/proc/PID/stat, in
// clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// timedStore times the store's calls (the Flux queries, wall clock).
type timedStore struct {
	demandctl.Store
	wall atomic.Int64
}

func (s *timedStore) SitePower(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, error) {
	t0 := time.Now()
	defer func() { s.wall.Add(int64(time.Since(t0))) }()
	return s.Store.SitePower(ctx, site, from, to, every)
}

func (s *timedStore) SiteEnergy(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.EnergySample, error) {
	t0 := time.Now()
	defer func() { s.wall.Add(int64(time.Since(t0))) }()
	return s.Store.SiteEnergy(ctx, site, from, to, every)
}

type discardPoints struct{}

func (discardPoints) Write(context.Context, []point.Point) error { return nil }

// BenchmarkTickOnInfluxd is the real demand tick end to end against a real
// influxd: the Flux reads of every meter's power and energy register since
// the block's start (10-second samples, 25 minutes into a 30-minute block)
// through the product's influx.DemandCache (after a first, whole read that
// is not timed, each tick reads the last minute again) and one evaluation
// of the site, as Controller.Tick does every 10 s. It
// reports setsuden's own CPU per tick (setsuden-cpu-ms/op: this process,
// which includes decoding the query results), influxd's CPU per tick
// (influxd-cpu-ms/op) and the wall time of the queries (query-wall-ms/op).
// Goal: setsuden-cpu-ms/op <= 10 for 10,000 meters.
//
//	go test -run '^$' -bench TickOnInfluxd -benchtime 3x ./rules/demandctl
func BenchmarkTickOnInfluxd(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("meters=%d", n), func(b *testing.B) { benchTick(b, n) })
	}
}

func benchTick(b *testing.B, meters int) {
	db := testinflux.Start(b)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2024, 7, 3, 14, 25, 0, 0, tokyo) // 25 minutes into a block
	from, to := at.Add(-29*time.Minute), at.Add(5*time.Minute)
	var pts []point.Point
	for m := 0; m < meters; m++ {
		kw := 3 + float64(m%7)
		total := 1000.0 * float64(m)
		tags := map[string]string{"site": "dc1", "meter": fmt.Sprintf("pdu-%05d", m)}
		for t := from; t.Before(to); t = t.Add(10 * time.Second) {
			pts = append(pts, point.Point{Measurement: "power", Tags: tags, Fields: map[string]any{"kw": kw, "kwh_total": total}, Time: t})
			total += kw * 10 / 3600
		}
	}
	testinflux.Write(b, db, pts)
	pts = nil
	reader := influx.NewReaderTimeout(db.URL, "", "", db.Bucket(), 10*time.Minute)
	defer reader.Close()
	store := &timedStore{Store: &influx.DemandCache{R: reader}} // as cmd/setsuden wires it
	clock := clockwork.NewFakeClockAt(at)
	engine := demand.DefaultConfig()
	engine.Location = tokyo
	ctl, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: engine, Tick: 10 * time.Second,
		Limits: []demandctl.LimitSpec{{Limit: demand.ContractLimit{KW: 40000, Block: 30 * time.Minute}}},
		Store:  store, Points: discardPoints{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if b.N > 25 {
		b.Fatalf("-benchtime %dx: the data covers 25 ticks", b.N)
	}
	d, err := ctl.Tick(ctx) // warm up: connection, influxd caches
	if err != nil {
		b.Fatal(err)
	}
	if want := float64(meters) * 6; d.LoadKW < want*0.9 || d.LoadKW > want*1.1 {
		b.Fatalf("site load %.0f kW, want about %.0f", d.LoadKW, want)
	}
	store.wall.Store(0)
	// TICK_CPUPROFILE=FILE profiles the timed ticks only (-cpuprofile
	// would be mostly the loading of the data).
	if path := os.Getenv("TICK_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	cpu0, icpu0 := selfCPU(), procCPU(db.Pid())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clock.Advance(10 * time.Second)
		if _, err := ctl.Tick(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d) / float64(b.N) / 1e6 }
	b.ReportMetric(per(selfCPU()-cpu0), "setsuden-cpu-ms/op")
	b.ReportMetric(per(procCPU(db.Pid())-icpu0), "influxd-cpu-ms/op")
	b.ReportMetric(per(time.Duration(store.wall.Load())), "query-wall-ms/op")
}

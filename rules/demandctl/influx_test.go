package demandctl_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/webhook"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
)

// writeScenario stores the scenario as a collector would: the site's
// facility meter every 10 s (kw and its kwh_total register) from 12:20 to
// 13:40, and another site's meter that must not count.
func writeScenario(t *testing.T, w *influx.Writer) {
	t.Helper()
	var pts []point.Point
	total := 100000.0
	for tt := at("12:20:00"); tt.Before(at("13:40:00")); tt = tt.Add(10 * time.Second) {
		kw := scenarioKW(tt)
		pts = append(pts, point.Point{Measurement: "power",
			Tags:   map[string]string{"site": "dc1", "meter": "incomer", "category": "facility"},
			Fields: map[string]any{"kw": kw, "kwh_total": total}, Time: tt})
		total += kw * 10 / 3600
		pts = append(pts, point.Point{Measurement: "power",
			Tags:   map[string]string{"site": "dc2", "meter": "other", "category": "facility"},
			Fields: map[string]any{"kw": 5000.0, "kwh_total": 1.0}, Time: tt})
	}
	ctx := context.Background()
	if err := w.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// hookReceiver records webhook requests.
type hookReceiver struct {
	mu  sync.Mutex
	got []hookRequest
}

type hookRequest struct {
	header http.Header
	body   []byte
	at     time.Time
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.got = append(h.got, hookRequest{r.Header.Clone(), body, time.Now()})
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

// countingStore counts reads in flight around a real store.
type countingStore struct {
	demandctl.Store
	inFlight, maxSeen, calls int
	mu                       sync.Mutex
	delay                    time.Duration
}

func (c *countingStore) SitePower(ctx context.Context, site string, from, to time.Time, every time.Duration) ([]demand.Sample, error) {
	c.mu.Lock()
	c.inFlight++
	c.calls++
	c.maxSeen = max(c.maxSeen, c.inFlight)
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.inFlight--; c.mu.Unlock() }()
	time.Sleep(c.delay)
	return c.Store.SitePower(ctx, site, from, to, every)
}

// fluxValues runs a query and returns each record's _time and _value.
func fluxValues(t *testing.T, d *influx.Influxd, q string) ([]time.Time, []any) {
	t.Helper()
	client := influxdb2.NewClient(d.URL, "")
	defer client.Close()
	res, err := client.QueryAPI("").Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	var vals []any
	for res.Next() {
		times = append(times, res.Record().Time())
		vals = append(vals, res.Record().Value())
	}
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	return times, vals
}

// The controller against a real influxd: it reads the site's power and
// energy through adapters/influx, ticks through the scenario on a fake
// clock, writes its points back through the write queue, and posts signed
// webhooks.
func TestControllerAgainstInfluxd(t *testing.T) {
	db := testinflux.Start(t)
	w, err := influx.NewWriter(influx.WriterConfig{URL: db.URL, Bucket: db.Bucket(), BatchSize: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeScenario(t, w)
	reader := influx.NewReader(db.URL, "", "", db.Bucket())
	defer reader.Close()

	hooks := &hookReceiver{}
	hookSrv := httptest.NewServer(hooks)
	defer hookSrv.Close()
	secret := []byte("webhook-secret")
	sender, err := webhook.New(webhook.Config{Name: "demand", Endpoints: []webhook.Endpoint{{URL: hookSrv.URL + "/demand", Secret: secret}},
		InitialBackoff: 10 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	senderDone := make(chan struct{})
	go func() { sender.Run(ctx); close(senderDone) }()
	defer func() { cancel(); <-senderDone }()

	clock := clockwork.NewFakeClockAt(at("12:59:50"))
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: scenarioEngine(), Limits: contract500(), Tick: 10 * time.Second,
		Store: reader, Points: w, Notifier: sender, Logger: quietLogger(), Registerer: prometheus.NewRegistry(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var all []demand.Transition
	ticks := 0
	for !clock.Now().After(at("13:35:50")) {
		clock.Advance(10 * time.Second)
		d, err := c.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ticks++
		all = append(all, d.Transitions...)
		if d.Time.Equal(at("13:20:00")) && (d.Stage != demand.StageShed || d.PredictedKW < 505 || d.PredictedKW > 515) {
			t.Errorf("13:20: %s, predicted %.1f kW; want shed, about 512", d.Stage, d.PredictedKW)
		}
	}
	t.Logf("%d ticks against influxd in %s (%s a tick)", ticks, time.Since(start).Round(time.Millisecond), (time.Since(start) / time.Duration(ticks)).Round(time.Microsecond))
	checkTransitions(t, all)

	// The points went through the write queue into InfluxDB.
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rng := `|> range(start: 2024-07-03T04:00:00Z, stop: 2024-07-03T04:40:00Z)`
	times, _ := fluxValues(t, db, `from(bucket: "`+db.Bucket()+`") `+rng+` |> filter(fn: (r) => r._measurement == "demand" and r._field == "demand_kw" and r.site == "dc1")`)
	if len(times) != ticks {
		t.Errorf("%d demand points in InfluxDB, want one per tick (%d)", len(times), ticks)
	}
	_, stages := fluxValues(t, db, `from(bucket: "`+db.Bucket()+`") `+rng+` |> filter(fn: (r) => r._measurement == "demand" and r._field == "stage") |> filter(fn: (r) => r._time == 2024-07-03T04:20:00Z)`)
	if len(stages) != 1 || stages[0] != "shed" {
		t.Errorf("demand.stage at 13:20 = %v, want shed", stages)
	}
	stageTimes, tos := fluxValues(t, db, `from(bucket: "`+db.Bucket()+`") `+rng+` |> filter(fn: (r) => r._measurement == "demand_stage" and r._field == "to")`)
	want := []any{"caution", "shed", "limit", "normal"}
	if len(tos) != 4 {
		t.Fatalf("demand_stage to = %v, want %v", tos, want)
	}
	for i := range want {
		if tos[i] != want[i] || !stageTimes[i].Equal(all[i].At) {
			t.Errorf("demand_stage %d: %v at %s, want %v at %s", i, tos[i], stageTimes[i], want[i], all[i].At)
		}
	}

	// The webhook got each transition, signed.
	waitUntil(t, "4 webhook requests", func() bool { return len(hooks.requests()) == 4 })
	for i, r := range hooks.requests() {
		if err := webhook.Verify(secret, r.header, r.body, r.at, time.Minute); err != nil {
			t.Errorf("webhook %d: %v", i, err)
		}
		var ev demandctl.TransitionEvent
		if err := json.Unmarshal(r.body, &ev); err != nil {
			t.Fatalf("webhook %d: %v: %s", i, err, r.body)
		}
		if ev.Site != "dc1" || ev.To != want[i] || !ev.At.Equal(all[i].At) || ev.Reason == "" {
			t.Errorf("webhook %d: %s", i, r.body)
		}
		if r.header.Get(webhook.HeaderEvent) != demandctl.TransitionEventName {
			t.Errorf("webhook %d event header %q", i, r.header.Get(webhook.HeaderEvent))
		}
	}
	if err := webhook.Verify([]byte("other-secret"), hooks.requests()[0].header, hooks.requests()[0].body, time.Now(), time.Minute); err == nil {
		t.Error("the signature verified under another secret")
	}
}

// Scheduled by gocron against the real store, with reads slower than the
// tick: no two ticks ever read at once, and ticking goes on.
func TestScheduledTicksAgainstInfluxdNeverOverlap(t *testing.T) {
	db := testinflux.Start(t)
	w, err := influx.NewWriter(influx.WriterConfig{URL: db.URL, Bucket: db.Bucket(), BatchSize: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writeScenario(t, w)
	reader := influx.NewReader(db.URL, "", "", db.Bucket())
	defer reader.Close()
	store := &countingStore{Store: reader, delay: 30 * time.Millisecond}
	reg := prometheus.NewRegistry()
	clock := clockwork.NewFakeClockAt(at("13:09:50"))
	c, err := demandctl.New(demandctl.Config{Site: "dc1", Engine: scenarioEngine(), Limits: contract500(), Tick: 10 * time.Second,
		Store: store, Points: w, Logger: quietLogger(), Registerer: reg, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	decisions := c.Subscribe()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var got []demand.Decision
	// The fake clock runs a tick every 10 ms of real time; a tick takes
	// several times that (two Flux queries after a 30-ms delay), so most
	// ticks come due while one is running.
	for i := 0; i < 60; i++ {
		clock.Advance(10 * time.Second)
		time.Sleep(10 * time.Millisecond)
		select {
		case d := <-decisions:
			got = append(got, d)
		default:
		}
	}
	cancel()
	stopping := time.Now()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(stopping); d > 5*time.Second {
		t.Errorf("Run took %s to stop", d)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.maxSeen != 1 {
		t.Errorf("%d reads at once, want 1", store.maxSeen)
	}
	if v := metricValue(t, reg, "setsuden_demand_ticks_skipped_total"); v != 0 {
		t.Errorf("%v ticks found another one running", v)
	}
	if len(got) < 3 || store.calls >= 60 {
		t.Errorf("%d decisions from %d reads for 60 ticks due: want several, and overruns skipped", len(got), store.calls)
	}
	for i := 1; i < len(got); i++ {
		if !got[i].Time.After(got[i-1].Time) {
			t.Errorf("decision %d at %s is not after %s", i, got[i].Time, got[i-1].Time)
		}
	}
	t.Logf("60 ticks due, %d reads, %d decisions seen", store.calls, len(got))
}

package report_test

import (
	"context"
	"math/rand"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
)

// rollupFixture is April 2025 with every kind of day a summary must (or
// must not) stand for, probes every 5 minutes:
//   - web (24x7, two probes): an outage (counted), a planned window of 2 h
//     (a "subtract" day), a short-notice window (counted);
//   - api (24x7): 8 h UNKNOWN on the 20th with the day's slowest answer
//     inside it (subtract, and the maximum must be read again);
//   - crm (office hours): weekdays mix counted and excluded time
//     ("additive" days: the counted hours are read), weekends are all
//     excluded: its percentiles stay exact;
//   - old: its SLA's response bound changes after the rollup (its
//     summaries do not fit: all of it is read from samples);
//   - idle: no probe at all (its state from its VM).
func rollupFixture(t *testing.T) (sla.Catalog, *report.MemoryStore) {
	t.Helper()
	hours, err := sla.ParseServiceHours([]string{"Mon-Fri 09:00-18:00"})
	if err != nil {
		t.Fatal(err)
	}
	cat := sla.Catalog{
		SLAs: []sla.SLA{
			{Name: "core", Objective: 0.999, TimeZone: "Asia/Tokyo", ResponseBound: 300 * time.Millisecond, ResponseObjective: 0.95},
			{Name: "office", Objective: 0.98, TimeZone: "Asia/Tokyo", ServiceHours: hours, ResponseBound: 250 * time.Millisecond},
		},
		Services: []sla.Service{
			{Name: "web", SLA: "core", RunsOn: sla.RunsOn{Probes: []string{"web-http", "web-tcp"}}},
			{Name: "api", SLA: "core", RunsOn: sla.RunsOn{Probes: []string{"api-http"}}},
			{Name: "crm", SLA: "office", RunsOn: sla.RunsOn{Probes: []string{"crm-http"}}},
			{Name: "old", SLA: "core", RunsOn: sla.RunsOn{Probes: []string{"old-http"}}},
			{Name: "idle", SLA: "core", RunsOn: sla.RunsOn{VMs: []string{"idle1"}}},
		},
	}
	up := func(at time.Time) sla.StateChange { return sla.StateChange{At: at, State: sla.StateUp} }
	down := func(at time.Time, cause string) sla.StateChange {
		return sla.StateChange{At: at, State: sla.StateDown, Cause: cause}
	}
	before := jst(1, 0, 0).Add(-48 * time.Hour)
	st := &report.MemoryStore{
		Changes: map[string][]sla.StateChange{
			"web": {up(before), down(jst(7, 14, 0), "refused"), up(jst(7, 14, 50)),
				down(jst(25, 1, 0), "patching"), up(jst(25, 1, 30))},
			"api": {up(before), {At: jst(20, 8, 0), State: sla.StateUnknown, Cause: sla.CauseNoData}, up(jst(20, 16, 0))},
			"crm": {up(before), down(jst(11, 17, 0), "db crash"), up(jst(14, 10, 0))},
			"old": {up(before)},
		},
		Samples: map[string][]sla.ProbeSample{},
		Windows: []sla.MaintenanceWindow{
			{ID: "m-planned", Services: []string{"web"}, Start: jst(12, 2, 0), End: jst(12, 4, 0),
				AnnouncedAt: jst(12, 2, 0).AddDate(0, 0, -31), AnnouncedBy: "ops@example.jp", Reason: "firmware"},
			{ID: "m-short", Services: []string{"web"}, Start: jst(25, 1, 0), End: jst(25, 1, 30),
				AnnouncedAt: jst(20, 9, 0), AnnouncedBy: "ops@example.jp", Reason: "urgent patch"},
		},
	}
	rng := rand.New(rand.NewSource(7))
	probes := map[string][]string{"web": {"web-http", "web-tcp"}, "api": {"api-http"}, "crm": {"crm-http"}, "old": {"old-http"}}
	for svc, names := range probes {
		for _, probe := range names {
			// From before the month to after it: the report must keep to it.
			for at := jst(1, 0, 0).Add(-3 * time.Hour); at.Before(jst(1, 0, 0).AddDate(0, 1, 0).Add(3 * time.Hour)); at = at.Add(5 * time.Minute) {
				s := sla.ProbeSample{At: at, Probe: probe, Up: rng.Intn(200) != 0, ResponseMs: 20 + rng.ExpFloat64()*120}
				if probe == "web-tcp" {
					s.ResponseMs = 0.2 + rng.Float64() // sub-millisecond answers too
				}
				if svc == "api" && at.Equal(jst(20, 10, 0)) {
					s.Up, s.ResponseMs = true, 9000 // the day's slowest, in UNKNOWN time
				}
				st.Samples[svc] = append(st.Samples[svc], s)
			}
		}
	}
	return cat, st
}

// countingStore counts the probe samples a report reads.
type countingStore struct {
	*report.MemoryStore
	mu      sync.Mutex
	samples int
	reads   int
}

func (c *countingStore) Probes(ctx context.Context, site string, services []string, from, to time.Time, fn func(string, []sla.ProbeSample) error) error {
	return c.MemoryStore.Probes(ctx, site, services, from, to, func(svc string, ps []sla.ProbeSample) error {
		c.mu.Lock()
		c.samples += len(ps)
		c.reads++
		c.mu.Unlock()
		return fn(svc, ps)
	})
}

func TestRollupReportMatchesSamples(t *testing.T) {
	ctx := context.Background()
	cat, st := rollupFixture(t)
	roll := report.Rollup{Site: "dc1", Catalog: cat, Location: tokyo}
	days := roll.Days(jst(1, 0, 0), jst(1, 0, 0).AddDate(0, 1, 0))
	if len(days) != 30 {
		t.Fatalf("%d days in April", len(days))
	}
	var missing []sla.Interval
	for _, d := range days {
		if d.Start.Day() == 15 {
			continue // the daemon was down: no summaries that day
		}
		missing = append(missing, d)
	}
	if err := roll.Run(ctx, st, missing, nil); err != nil {
		t.Fatal(err)
	}
	// Idempotent: the same day again replaces its summaries.
	n := len(st.Summaries)
	if _, err := roll.Day(ctx, st, missing[0]); err != nil || len(st.Summaries) != n {
		t.Fatalf("rolling a day up again: %v, %d summaries, was %d", err, len(st.Summaries), n)
	}
	if left, err := roll.Missing(ctx, st, days[0].Start, days[29].End); err != nil || len(left) != 1 || left[0].Start.Day() != 15 {
		t.Fatalf("missing days %v %v", left, err)
	}

	// After the rollup, old's SLA asks for 200 ms: its summaries (300 ms)
	// no longer fit.
	cat.SLAs = append(cat.SLAs, sla.SLA{Name: "strict", Objective: 0.999, TimeZone: "Asia/Tokyo", ResponseBound: 200 * time.Millisecond})
	cat.Services[3].SLA = "strict"

	for _, asOf := range []time.Time{jst(1, 0, 0).AddDate(0, 1, 2), jst(22, 13, 17)} {
		raw := &countingStore{MemoryStore: st}
		gen := report.Generator{Site: "dc1", Catalog: cat, AsOf: asOf, RawProbes: true}
		want, err := gen.Generate(ctx, raw, "2025-04", tokyo, report.Filter{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sum := &countingStore{MemoryStore: st}
		gen.RawProbes = false
		got, err := gen.Generate(ctx, sum, "2025-04", tokyo, report.Filter{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("as of %s: samples read %d raw, %d with summaries (%d reads)", asOf.Format(time.RFC3339), raw.samples, sum.samples, sum.reads)
		// old (a fifth of the samples) is read whole, crm's office hours
		// and the 15th too; the rest comes from summaries.
		if sum.samples*2 > raw.samples {
			t.Errorf("as of %s: the summarised report read %d samples of %d", asOf, sum.samples, raw.samples)
		}
		checkSameResponse(t, asOf.Format("Jan 2"), want, got, map[string]bool{"web": true, "api": true})
	}
}

// checkSameResponse compares reports from samples (want) and summaries
// (got): everything equal except the percentiles of the estimated
// services, which must be at most FineGrowth above the exact ones.
func checkSameResponse(t *testing.T, label string, want, got report.Monthly, estimated map[string]bool) {
	t.Helper()
	if len(want.Services) != len(got.Services) {
		t.Fatalf("%s: %d services, want %d", label, len(got.Services), len(want.Services))
	}
	for i := range want.Services {
		w, g := want.Services[i].Figures, got.Services[i].Figures
		name := w.Service
		wr, gr := w.Response, g.Response
		if wr.Valid == 0 && name != "idle" {
			t.Errorf("%s %s: no valid probes in the fixture", label, name)
		}
		if gr.Estimated != estimated[name] {
			t.Errorf("%s %s: estimated %v, want %v", label, name, gr.Estimated, estimated[name])
		}
		for _, q := range []struct {
			name      string
			got, want float64
		}{{"p50", gr.P50, wr.P50}, {"p95", gr.P95, wr.P95}, {"p99", gr.P99, wr.P99}} {
			if q.got < q.want || q.got > q.want*sla.FineGrowth {
				t.Errorf("%s %s: %s %.4f ms, exact %.4f (allowed up to %.4f)", label, name, q.name, q.got, q.want, q.want*sla.FineGrowth)
			}
		}
		if !estimated[name] && (gr.P50 != wr.P50 || gr.P95 != wr.P95 || gr.P99 != wr.P99) {
			t.Errorf("%s %s: percentiles %v/%v/%v, want exact %v/%v/%v", label, name, gr.P50, gr.P95, gr.P99, wr.P50, wr.P95, wr.P99)
		}
		gr.P50, gr.P95, gr.P99, gr.Estimated = wr.P50, wr.P95, wr.P99, wr.Estimated
		g.Response = gr
		if !reflect.DeepEqual(w, g) {
			t.Errorf("%s %s: figures differ\n got %+v\nwant %+v", label, name, g.Response, w.Response)
		}
	}
}

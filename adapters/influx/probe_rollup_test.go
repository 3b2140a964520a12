package influx_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
)

// slaCountingStore counts the probe samples a report reads.
type slaCountingStore struct {
	*influx.SLAStore
	mu      sync.Mutex
	samples int
}

func (c *slaCountingStore) Probes(ctx context.Context, site string, services []string, from, to time.Time, fn func(string, []sla.ProbeSample) error) error {
	return c.SLAStore.Probes(ctx, site, services, from, to, func(svc string, ps []sla.ProbeSample) error {
		c.mu.Lock()
		c.samples += len(ps)
		c.mu.Unlock()
		return fn(svc, ps)
	})
}

// TestProbeRollupMatchesRaw rolls April up in the real influxd, except
// the 15th (the daemon was down), and checks that the report from the
// summaries equals the one from the samples: planned maintenance (web),
// an UNKNOWN stretch holding the day's slowest answer (api), office hours
// (crm), a failure without a response time, and a provisional report.
func TestProbeRollupMatchesRaw(t *testing.T) {
	d := testinflux.Start(t)
	f := newSLAMonthFixture(t)
	pts := f.points()
	// api: a slow answer inside its UNKNOWN stretch, so the 20th's maximum
	// must be found again among the counted hours.
	slow := sla.ProbePoint(f.specs["api"], sla.Check{At: slaJST(4, 20, 12, 1).UTC(), OK: true, ResponseMs: 7000})
	slow.Tags["site"] = "dc1"
	pts = append(pts, slow,
		point.Point{Measurement: "probe", Tags: map[string]string{"site": "dc1", "service": "web", "probe": "web-tcp", "kind": "tcp"},
			Fields: map[string]any{"up": false, "error": "refused"}, Time: slaJST(4, 9, 3, 2)})
	testinflux.Write(t, d, pts)
	ctx := context.Background()
	store := newSLAStore(t, d, f.maint)

	roll := report.Rollup{Site: "dc1", Catalog: f.cat, Location: slaTokyo}
	april := roll.Days(slaJST(4, 1, 0, 0), slaJST(5, 1, 0, 0))
	var days []sla.Interval
	for _, day := range april {
		if day.Start.Day() != 15 {
			days = append(days, day)
		}
	}
	var last sla.RollupStats
	if err := roll.Run(ctx, store, days, func(done, total int, _ sla.Interval, st sla.RollupStats) { last = st }); err != nil {
		t.Fatal(err)
	}
	if last.Services != 3 || last.Summaries != 3 || last.Samples != 3*288 {
		t.Errorf("last day rolled up: %+v", last)
	}
	// Idempotent: rolling the 9th up again leaves one summary per probe.
	if _, err := roll.Day(ctx, store, april[8]); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	err := store.ProbeSummaries(ctx, "dc1", nil, april[8].Start, april[8].End, func(s sla.ProbeSummary) error {
		count[s.Service+"/"+s.Probe]++
		if s.Service == "web" && s.Probe == "web-tcp" && (s.Samples != 1 || s.Failed != 1) {
			t.Errorf("web-tcp summary %+v", s)
		}
		return nil
	})
	if want := map[string]int{"web/web-http": 1, "web/web-tcp": 1, "api/api-http": 1, "crm/crm-tcp": 1}; err != nil || !reflect.DeepEqual(count, want) {
		t.Errorf("summaries of the 9th after two rollups: %v %v", count, err)
	}
	missing, err := roll.Missing(ctx, store, slaJST(4, 1, 0, 0), slaJST(5, 1, 0, 0))
	if err != nil || len(missing) != 1 || !missing[0].Start.Equal(slaJST(4, 15, 0, 0)) || !missing[0].End.Equal(slaJST(4, 16, 0, 0)) {
		t.Errorf("missing days %v %v", missing, err)
	}

	for _, asOf := range []time.Time{slaJST(5, 3, 0, 0), slaJST(4, 20, 13, 30)} {
		gen := report.Generator{Site: "dc1", Catalog: f.cat, AsOf: asOf, RawProbes: true}
		raw := &slaCountingStore{SLAStore: store}
		want, err := gen.Generate(ctx, raw, "2025-04", slaTokyo, report.Filter{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		gen.RawProbes = false
		sum := &slaCountingStore{SLAStore: store}
		got, err := gen.Generate(ctx, sum, "2025-04", slaTokyo, report.Filter{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("as of %s: %d samples read from the samples, %d with summaries", asOf.Format(time.RFC3339), raw.samples, sum.samples)
		if sum.samples*2 > raw.samples {
			t.Errorf("as of %s: the report from summaries read %d samples of %d", asOf.Format(time.RFC3339), sum.samples, raw.samples)
		}
		for i := range want.Services {
			w, g := want.Services[i].Figures, got.Services[i].Figures
			wr, gr := w.Response, g.Response
			// crm's office hours are read from samples (its days mix
			// counted and excluded hours, the counted part is shorter).
			if estimated := w.Service != "crm"; gr.Estimated != estimated || wr.Estimated {
				t.Errorf("as of %s: %s: estimated %v from summaries, %v from samples", asOf.Format(time.RFC3339), w.Service, gr.Estimated, wr.Estimated)
			}
			for _, q := range [][2]float64{{gr.P50, wr.P50}, {gr.P95, wr.P95}, {gr.P99, wr.P99}} {
				if q[0] < q[1] || q[0] > q[1]*sla.FineGrowth {
					t.Errorf("%s: percentile %.3f ms from summaries, %.3f exact", w.Service, q[0], q[1])
				}
			}
			gr.P50, gr.P95, gr.P99, gr.Estimated = wr.P50, wr.P95, wr.P99, wr.Estimated
			g.Response = gr
			if !reflect.DeepEqual(w, g) {
				t.Errorf("as of %s: %s: response figures from summaries\n %+v\nfrom samples\n %+v", asOf.Format(time.RFC3339), w.Service, g.Response, w.Response)
			}
			if w.Service == "web" && (wr.Valid == 0 || wr.Failed == 0 || wr.Excluded == 0) {
				t.Errorf("web: the fixture should count, fail and exclude probes: %+v", wr)
			}
		}
	}
}

package sla

import (
	"math"
	"math/rand"
	"reflect"
	"sort"
	"testing"
	"time"
)

func TestFineBucketsNestInCoarse(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for k := 0; k < 100000; k++ {
		ms := math.Exp(rng.Float64()*16 - 4) // 0.02 ms .. 9 min
		f := fineIndex(ms)
		if lo, hi := fineUpper(f-1), fineUpper(f); f > fineMinIndex && f < fineMaxIndex && !(ms > lo*(1-1e-12) && ms <= hi*(1+1e-12)) {
			t.Fatalf("%g ms in fine bucket %d (%g, %g]", ms, f, lo, hi)
		}
		c := histIndex(ms)
		if ms > 1 && c < histBuckets-1 {
			if lo, hi := math.Pow(histGrowth, float64(c-1)), math.Pow(histGrowth, float64(c)); !(ms > lo*(1-1e-12) && ms <= hi*(1+1e-12)) {
				t.Fatalf("%g ms in coarse bucket %d (%g, %g]", ms, c, lo, hi)
			}
		}
	}
	for _, ms := range []float64{0, -1, math.NaN(), 1e-9, 0.5, 1, 1.0000001, 1e9, math.Inf(1)} {
		if c, want := coarseIndex(fineIndex(ms)), histIndex(ms); c != want || c < 0 || c >= histBuckets {
			t.Errorf("%g ms: coarse %d", ms, c)
		}
	}
	if FineGrowth > 1.01 || FineGrowth < 1.009 {
		t.Errorf("fine growth %g", FineGrowth)
	}
}

func TestResponseHistogram(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	var whole, a, b ResponseHistogram
	var values []float64
	coarse := make([]uint32, histBuckets)
	for k := 0; k < 5000; k++ {
		ms := 0.3 + rng.ExpFloat64()*200
		values = append(values, ms)
		whole.Add(ms)
		coarse[histIndex(ms)]++
		if k%3 == 0 {
			a.Add(ms)
		} else {
			b.Add(ms)
		}
	}
	a.Merge(b)
	if !reflect.DeepEqual(a.Coarse(), whole.Coarse()) || a.String() != whole.String() || a.Total() != 5000 {
		t.Fatal("merged halves differ from the whole")
	}
	for len(coarse) > 0 && coarse[len(coarse)-1] == 0 {
		coarse = coarse[:len(coarse)-1]
	}
	if !reflect.DeepEqual(whole.Coarse(), coarse) {
		t.Errorf("coarse %v\nwant %v", whole.Coarse(), coarse)
	}
	sort.Float64s(values)
	for _, q := range []float64{0.01, 0.5, 0.95, 0.99, 1} {
		exact, est := nearestRank(values, q), whole.Quantile(q)
		if est < exact || est > exact*FineGrowth {
			t.Errorf("q%.2f: estimate %g, exact %g", q, est, exact)
		}
	}
	back, err := ParseResponseHistogram(whole.String())
	if err != nil || back.String() != whole.String() {
		t.Fatalf("round trip: %v", err)
	}
	back.remove(values[0])
	if back.Total() != 4999 {
		t.Errorf("after remove: %d", back.Total())
	}
	for _, bad := range []string{"1", "a:1", "5:1,5:2", "9:1,3:1", "99999:1", "1:-1"} {
		if _, err := ParseResponseHistogram(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	var empty ResponseHistogram
	if empty.Quantile(0.5) != 0 || empty.String() != "" || empty.Coarse() != nil {
		t.Error("empty histogram")
	}
}

func TestProbeSummaryEncoding(t *testing.T) {
	start := time.Date(2025, 4, 1, 0, 0, 0, 0, time.FixedZone("JST", 9*3600))
	s := ProbeSummary{Service: "web", Probe: "web-http", Start: start, End: start.Add(24 * time.Hour), BoundMs: BoundMs(SLA{ResponseBound: 1500 * time.Millisecond})}
	for _, p := range []ProbeSample{{Up: true, ResponseMs: 120.25}, {Up: true, ResponseMs: 1800}, {Up: false, ResponseMs: 10000}, {Up: true, ResponseMs: 0.4}} {
		s.Add(p)
	}
	if s.Samples != 4 || s.Failed != 1 || s.Within != 2 || s.MaxMs != 1800 || s.BoundMs != 1500 {
		t.Fatalf("summary %+v", s)
	}
	text := s.Encode()
	back, err := DecodeProbeSummary("web", "web-http", start, text)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("round trip of %q\n got %+v\nwant %+v", text, back, s)
	}
	for _, bad := range []string{"", "samples=4", text + " junk", "samples=5 failed=1 within=2 bound_ms=1500 max_ms=1800 span_s=86400 hist=" + s.Hist.String(),
		"samples=4 failed=1 within=2 bound_ms=1500 max_ms=1800 span_s=0 hist=" + s.Hist.String()} {
		if _, err := DecodeProbeSummary("web", "web-http", start, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	pt := ProbeSummaryPoint("dc1", s)
	if pt.Validate() != nil || pt.Fields["summary"] != text || pt.Tags["probe"] != "web-http" || !pt.Time.Equal(start) {
		t.Errorf("point %+v", pt)
	}
	if err := ProbeRollupPoint("dc1", Interval{s.Start, s.End}, RollupStats{Services: 1, Summaries: 1, Samples: 4}).Validate(); err != nil {
		t.Error(err)
	}
}

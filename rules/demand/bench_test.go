package demand

import (
	"testing"
	"time"
)

// meters builds n meters' power over the 40 minutes before at, 10-second
// samples, each its own scaled curve.
func meters(n int, at time.Time, loc *time.Location) [][]Sample {
	out := make([][]Sample, n)
	for i := range out {
		l := officeLoad{BaseKW: 3 + float64(i%7), PeakKW: 6 + float64(i%11), Seed: uint64(i + 1), Loc: loc}
		out[i] = l.samples(at.Add(-40*time.Minute), at, 10*time.Second)
	}
	return out
}

// benchConfig has all three kinds of limit active at once.
func benchConfig(loc *time.Location, at time.Time) Config {
	cfg := DefaultConfig()
	cfg.Location = loc
	cfg.Limits = []Limit{
		ContractLimit{KW: 12, Block: 30 * time.Minute},
		CapLimit{Name: "restriction", BaselineKW: 14, Reduction: StandardReduction, Block: time.Hour, Calendar: Restriction2011()},
		ExternalTarget{KW: 11, From: at.Add(-time.Hour), To: at.Add(time.Hour), Source: "aggregator"},
	}
	return cfg
}

// BenchmarkEvaluatePerMeter1000NoIO is 1,000 evaluations, one per meter,
// in memory: each meter's demand, prediction and stage against a contract,
// an hourly cap and an external target (10-second samples, 40 minutes of
// history each, 25 minutes into the hourly block). No I/O: a real tick is
// one read of every meter from InfluxDB and one evaluation of the site,
// measured end to end by rules/demandctl's BenchmarkTickOnInfluxd.
func BenchmarkEvaluatePerMeter1000NoIO(b *testing.B) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	at := time.Date(2024, 7, 3, 14, 25, 0, 0, tokyo) // a Wednesday, cap in force
	ms := meters(1000, at, tokyo)
	cfg := benchConfig(tokyo, at)
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	states := make([]State, len(ms))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for m := range ms {
			var d Decision
			d, states[m] = Evaluate(cfg, states[m], ms[m], at)
			if len(d.Limits) != 3 {
				b.Fatalf("meter %d: %d active limits, want 3", m, len(d.Limits))
			}
		}
	}
}

// summer is 1 July – 30 September of 1-minute samples.
func summer() ([]Sample, Config, time.Time, time.Time) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	from := time.Date(2024, 7, 1, 0, 0, 0, 0, tokyo)
	to := time.Date(2024, 10, 1, 0, 0, 0, 0, tokyo)
	load := officeLoad{BaseKW: 300, PeakKW: 500, Seed: 3, Loc: tokyo}
	s := load.samples(from.Add(-time.Hour), to, time.Minute)
	cfg := DefaultConfig()
	cfg.Location = tokyo
	cfg.Limits = []Limit{
		ContractLimit{KW: 600, Block: 30 * time.Minute},
		CapLimit{Name: "restriction-2011", BaselineKW: 540, Reduction: StandardReduction, Block: time.Hour, Calendar: Restriction2011()},
	}
	return s, cfg, from, to
}

// BenchmarkReplaySummer replays a whole summer (92 days, 1-minute samples)
// with a 30-second tick: 264,960 evaluations per op.
func BenchmarkReplaySummer(b *testing.B) {
	s, cfg, from, to := summer()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := Replay(cfg, s, from, to, 30*time.Second, nil)
		if len(r.Days) != 92 {
			b.Fatalf("%d days", len(r.Days))
		}
	}
}

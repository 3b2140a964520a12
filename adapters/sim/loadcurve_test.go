package sim

import (
	"math"
	"testing"
	"time"
)

func loadCurveForTest() LoadCurve {
	return LoadCurve{BaseKW: 80, PeakKW: 120, Seed: 42, Location: time.UTC}
}

func TestLoadCurveIsPureAndSeeded(t *testing.T) {
	c := loadCurveForTest()
	at := time.Date(2025, 7, 1, 14, 3, 7, 123456789, time.UTC)
	if a, b := c.KW(at), c.KW(at); a != b {
		t.Fatalf("KW not pure: %v then %v", a, b)
	}
	other := c
	other.Seed = 43
	same := 0
	for i := 0; i < 100; i++ {
		ti := at.Add(time.Duration(i) * 37 * time.Second)
		if c.KW(ti) == other.KW(ti) {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 42 and 43 gave the same kW %d times in 100", same)
	}
}

func TestLoadCurveDayShape(t *testing.T) {
	c := loadCurveForTest()
	tue := func(h, m int) time.Time { return time.Date(2025, 7, 1, h, m, 0, 0, time.UTC) } // a Tuesday
	sat := func(h, m int) time.Time { return time.Date(2025, 7, 5, h, m, 0, 0, time.UTC) }
	near := func(name string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.2f kW, want %.0f ± %.1f", name, got, want, tol)
		}
	}
	near("Tuesday 03:00", c.KW(tue(3, 0)), 80, 80*0.021)
	near("Tuesday 12:00", c.KW(tue(12, 0)), 120, 120*0.021)
	near("Tuesday 15:00", c.KW(tue(15, 0)), 120, 120*0.021)
	if c.KW(tue(8, 0)) <= c.KW(tue(6, 0)) || c.KW(tue(10, 0)) <= c.KW(tue(8, 0)) {
		t.Error("no morning ramp")
	}
	if c.KW(tue(21, 0)) >= c.KW(tue(18, 0)) {
		t.Error("no evening decline")
	}
	if c.KW(sat(14, 0)) > 80+0.4*40 {
		t.Errorf("Saturday 14:00 = %.1f kW, want a quiet weekend", c.KW(sat(14, 0)))
	}

	// Office hours are local: 14:00 in Tokyo is 05:00 UTC.
	tokyo := time.FixedZone("JST", 9*3600)
	ct := c
	ct.Location = tokyo
	at := time.Date(2025, 7, 1, 14, 0, 0, 0, tokyo)
	near("Tokyo 14:00", ct.KW(at), 120, 120*0.021)
	near("UTC 05:00, same instant", c.KW(at), 80, 80*0.021)
}

func TestLoadCurveBoundsAndSmoothness(t *testing.T) {
	c := loadCurveForTest()
	start := time.Date(2025, 6, 30, 0, 0, 0, 0, time.UTC) // a Monday
	prev := c.KW(start)
	maxStep := 0.0
	for s := 1; s <= 7*24*3600; s++ {
		kw := c.KW(start.Add(time.Duration(s) * time.Second))
		if kw < 80*0.98 || kw > 120*1.02 {
			t.Fatalf("KW at +%ds = %v outside [78.4, 122.4]", s, kw)
		}
		maxStep = math.Max(maxStep, math.Abs(kw-prev))
		prev = kw
	}
	if maxStep > 0.5 {
		t.Errorf("largest change in one second = %.3f kW, want a smooth curve", maxStep)
	}
}

func TestLoadCurveZeroValue(t *testing.T) {
	if kw := (LoadCurve{}).KW(time.Now()); kw != 0 {
		t.Errorf("zero curve = %v", kw)
	}
	// Before 1970 too (floor division of the noise knots).
	c := loadCurveForTest()
	old := time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC)
	if kw := c.KW(old); kw < 78 || kw > 82 || math.Abs(kw-c.KW(old.Add(time.Second))) > 0.5 {
		t.Errorf("KW in 1969 = %v", kw)
	}
}

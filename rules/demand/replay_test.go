package demand

import (
	"math"
	"testing"
	"time"
)

// A whole summer replays in well under a second per month, day by day,
// with the peak block's predictions recorded.
func TestReplaySummer(t *testing.T) {
	s, cfg, from, to := summer()
	if testing.Short() {
		to = from.AddDate(0, 0, 14)
	}
	var calls, last int
	start := time.Now()
	r := Replay(cfg, s, from, to, 30*time.Second, func(done, total int) {
		if done < last || done > total {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		calls++
		last = done
	})
	t.Logf("replayed %d days, %d ticks in %s, %d progress calls; peak %s %.1f kW",
		len(r.Days), r.Ticks, time.Since(start).Round(time.Millisecond), calls, r.Peak.Block.Start.Format(time.RFC3339), r.Peak.KW)
	days := int(to.Sub(from).Hours()/24 + 0.5)
	if len(r.Days) != days || r.Ticks != days*2880 || last != r.Ticks {
		t.Fatalf("%d days, %d ticks, last progress %d", len(r.Days), r.Ticks, last)
	}
	var maxErr float64
	for _, d := range r.Days {
		p := d.Peak
		if p.Coverage != 1 || p.KW <= 0 || math.IsNaN(d.PredictedAt10) || math.IsNaN(d.PredictedAt20) || math.IsNaN(d.PredictedAt25) {
			t.Errorf("%s: peak %+v predictions %v %v %v", d.Date, p, d.PredictedAt10, d.PredictedAt20, d.PredictedAt25)
		}
		maxErr = math.Max(maxErr, math.Abs(d.PredictedAt20-p.KW)/p.KW)
		if d.Transitions != nil && d.MaxStage == StageNormal {
			t.Errorf("%s: transitions but max stage normal", d.Date)
		}
	}
	if maxErr > 0.05 {
		t.Errorf("worst prediction of a daily peak at 20 min: %.1f %%", 100*maxErr)
	}
	// The contract (600 kW) is above this load's peaks (~520 kW), but the 2011 cap
	// (0.85 × 540 = 459 kW) is not: weekdays in July and August shed, the
	// weekends and the days after 9 September do not.
	byDate := map[string]DayResult{}
	for _, d := range r.Days {
		byDate[d.Date] = d
	}
	if d := byDate["2024-07-03"]; d.MaxStage < StageShed || len(d.StagesEntered) == 0 {
		t.Errorf("Wednesday 3 July: max stage %s, entered %v", d.MaxStage, d.StagesEntered)
	}
	if d := byDate["2024-07-06"]; d.MaxStage != StageNormal {
		t.Errorf("Saturday 6 July: max stage %s", d.MaxStage)
	}
	if !testing.Short() {
		if d := byDate["2024-09-11"]; d.MaxStage != StageNormal {
			t.Errorf("11 September, after the restriction: max stage %s", d.MaxStage)
		}
	}
}

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

// A day whose 600 kW block lost its first half: measured it is 300 kW,
// below the 400 kW of every other block, but it stays the day's peak at
// its estimate (600 kW over the covered half), flagged, and it counts as
// half an hour over the 500 kW contract. The stage entries name the
// limit that drove them.
func TestReplayKeepsAGappedPeakAndCountsHoursOver(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	day := time.Date(2024, 7, 3, 0, 0, 0, 0, tokyo)
	var s []Sample
	for tt := day.Add(-time.Hour); !tt.After(day.AddDate(0, 0, 1)); tt = tt.Add(time.Minute) {
		kw := 400.0
		if !tt.Before(day.Add(13*time.Hour)) && tt.Before(day.Add(13*time.Hour+30*time.Minute)) {
			kw = 600
			if tt.Before(day.Add(13*time.Hour + 15*time.Minute)) {
				continue // lost
			}
		}
		s = append(s, Sample{Time: tt, KW: kw})
	}
	cfg := DefaultConfig()
	cfg.Location = tokyo
	cfg.Limits = []Limit{ContractLimit{KW: 500, Block: 30 * time.Minute}}
	r := Replay(cfg, s, day, day.AddDate(0, 0, 1), time.Minute, nil)
	if len(r.Days) != 1 {
		t.Fatalf("%d days", len(r.Days))
	}
	d := r.Days[0]
	if !d.Peak.Block.Start.Equal(day.Add(13*time.Hour)) || !d.Peak.Estimated || math.Abs(d.Peak.EstimatedKW-593.333) > 0.01 || d.Peak.Coverage != 0.5 {
		t.Errorf("peak %+v, want 13:00 estimated at 593.3 kW (600 but the last minute ramps to 400) from half the data", d.Peak)
	}
	// The 12:30 block lost its last minute too (12:59 → 13:15 is a gap).
	if d.Coverage.Blocks != 48 || len(d.Coverage.Low) != 2 || d.Coverage.Min != 0.5 || d.Coverage.Low[0].Coverage < 0.96 {
		t.Errorf("coverage %+v, want 48 blocks, 12:30 at 97%% and 13:00 at 50%%", d.Coverage)
	}
	if len(d.OverLimit) != 1 || d.OverLimit[0].Limit != "contract" || d.OverLimit[0].Hours != 0.5 || d.OverLimit[0].Applied != 48 {
		t.Errorf("hours over %+v, want contract 0.5 h of 48 blocks", d.OverLimit)
	}
	if len(d.DrivenBy) != 1 || d.DrivenBy[0] != "contract" {
		t.Errorf("driven by %v", d.DrivenBy)
	}
	for _, tr := range d.Transitions {
		if tr.Limit != "contract" || tr.LimitKW != 500 || tr.Cause == "" || (tr.To > tr.From && tr.Threshold <= 0) {
			t.Errorf("transition %+v lacks its limit, cause or threshold", tr)
		}
	}
}

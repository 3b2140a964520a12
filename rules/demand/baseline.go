package demand

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// MinBaselineCoverage is the share of an hour that must have data for the
// hour to count towards a baseline or a variation rate.
const MinBaselineCoverage = 0.9

// StandardReduction is the general cut of the 2011 restriction: the cap is
// 85 % of the baseline (sla_peak.md §2.3).
const StandardReduction = 0.15

// Baseline is last year's same-period peak: the largest hourly average
// (60-minute clock-aligned blocks) among the hours that lie wholly in
// period, from stored history (sla_peak.md §2.3: "85% of the maximum power
// use (per hour) in the same period and hours of 2010"). Pass last year's
// samples and a calendar whose holidays include last year's.
//
// An hour with some missing data counts when at least MinBaselineCoverage
// of it is covered, at its average over the covered part (an unbiased
// estimate; energy/60 min would understate it). The gap bound is three
// times the median sampling interval. It returns 0 when no hour qualifies.
//
// Note: ITpro's worked example names 2010-07-25 13–14h, a Sunday; the
// order itself takes the baseline in the restricted period and hours. Pass
// a calendar without weekdays if a site's order says otherwise.
func Baseline(samples []Sample, period Calendar, loc *time.Location) float64 {
	kw, _ := BaselineHour(samples, period, loc)
	return kw
}

// BaselineHour is Baseline and the hour it came from (the zero Block when
// no hour qualifies).
func BaselineHour(samples []Sample, period Calendar, loc *time.Location) (float64, Block) {
	maxGap := inferMaxGap(samples)
	best := 0.0
	var hour Block
	forEachBlock(samples, time.Hour, loc, func(b Block) {
		if !period.ContainsBlock(b, loc) {
			return
		}
		if kw, ok := hourAverage(samples, b, maxGap); ok && kw > best {
			best, hour = kw, b
		}
	})
	return best, hour
}

// hourAverage is the average power of a block over its covered part, if
// enough of it is covered.
func hourAverage(samples []Sample, b Block, maxGap time.Duration) (float64, bool) {
	e := blockEnergy(samples, nil, b.Start, b.End, maxGap)
	if e.Coverage() < MinBaselineCoverage {
		return 0, false
	}
	return e.KWh / e.Covered.Hours(), true
}

// forEachBlock calls f for every block of the given length from the block
// of the first sample to the block of the last.
func forEachBlock(samples []Sample, length time.Duration, loc *time.Location, f func(Block)) {
	if len(samples) == 0 {
		return
	}
	last := samples[len(samples)-1].Time
	for b := BlockOf(samples[0].Time, length, loc); !b.Start.After(last); b = BlockOf(b.End, length, loc) {
		f(b)
	}
}

// inferMaxGap is three times the median interval of (up to 1000 of) the
// samples, at least a second (sla_peak.md §3.2: "max_gap, e.g. 3 × scrape
// interval").
func inferMaxGap(s []Sample) time.Duration {
	n := len(s) - 1
	if n > 1000 {
		n = 1000
	}
	if n < 1 {
		return time.Second
	}
	d := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		d = append(d, s[i].Time.Sub(s[i-1].Time))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	g := 3 * d[len(d)/2]
	if g < time.Second {
		g = time.Second
	}
	return g
}

// Relaxation is the data-centre relaxation of the 2011 restriction
// (sla_peak.md §2.3, §5c item 6): facilities whose load is nearly flat got
// a smaller cut, chosen by their load-variation rate.
type Relaxation struct {
	// Variation is the mean over the period's days of the daily variation
	// rate (max − min) / max of the day's hourly averages.
	Variation float64
	// Days is the number of days averaged (days with every hour covered).
	Days int
	// Reduction is the cut that applies: ReductionForVariation(Variation).
	Reduction float64
}

// ReductionForVariation classifies a variation rate (sla_peak.md §2.3):
// under 10 % → 0 % cut; 10–15 % → 5 %; 15–20 % → 10 %; 20 % or more → no
// relaxation, the standard 15 %. Lower bounds are inclusive (ITpro:
// 10%以上15%未満).
func ReductionForVariation(v float64) float64 {
	switch {
	case v < 0.10:
		return 0
	case v < 0.15:
		return 0.05
	case v < 0.20:
		return 0.10
	}
	return StandardReduction
}

// RelaxationOf computes the variation rate from last year's history over
// the days of period (its dates, weekdays and holidays; its hours are not
// used, because the rate is of the whole day's 24 hourly values —
// ITmedia 2011-05-26: "1日の電力需要(1時間単位)の変動率を、昨年の同期間の日数分で
// 平均したもの"). The rate of one day is (max − min) / max of its hourly
// averages. [U] The source is cut off before the formula's denominator;
// max is the reading that matches "変動率 = {(使用最大電力) − (使用最小電力)} …";
// check it against the order's text before relying on a boundary case.
// A day counts only when every hour has MinBaselineCoverage.
func RelaxationOf(samples []Sample, period Calendar, loc *time.Location) (Relaxation, error) {
	if loc == nil {
		loc = time.UTC
	}
	if len(samples) == 0 {
		return Relaxation{}, errors.New("relaxation: no samples")
	}
	maxGap := inferMaxGap(samples)
	var sum float64
	var days int
	first := samples[0].Time.In(loc)
	last := samples[len(samples)-1].Time
	for day := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, loc); day.Before(last); day = time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc) {
		if !period.ContainsDay(day, loc) {
			continue
		}
		end := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, loc)
		lo, hi, ok := math.Inf(1), math.Inf(-1), true
		for b := BlockOf(day, time.Hour, loc); b.Start.Before(end); b = BlockOf(b.End, time.Hour, loc) {
			kw, covered := hourAverage(samples, b, maxGap)
			if !covered {
				ok = false
				break
			}
			lo, hi = math.Min(lo, kw), math.Max(hi, kw)
		}
		if !ok || hi <= 0 {
			continue
		}
		sum += (hi - lo) / hi
		days++
	}
	if days == 0 {
		return Relaxation{}, fmt.Errorf("relaxation: no fully covered day in the period between %s and %s",
			samples[0].Time.Format(time.RFC3339), last.Format(time.RFC3339))
	}
	v := sum / float64(days)
	return Relaxation{Variation: v, Days: days, Reduction: ReductionForVariation(v)}, nil
}

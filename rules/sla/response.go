package sla

import (
	"math"
	"sort"
	"time"
)

// ProbeSample is one probe result as stored (measurement "probe").
type ProbeSample struct {
	At         time.Time `json:"at"`
	Probe      string    `json:"probe,omitempty"`
	Up         bool      `json:"up"`
	ResponseMs float64   `json:"response_ms"`
}

// Histogram buckets: bucket 0 holds <= 1 ms, bucket i holds
// (1.1^(i-1), 1.1^i] ms, the last one everything above (~1.1^139 ms, 9 min).
const (
	histBuckets = 140
	histGrowth  = 1.1
)

// histIndex is computed from the fine bucket (histogram.go) so that a
// histogram summed from fine ones is exactly the one counted directly.
func histIndex(ms float64) int { return coarseIndex(fineIndex(ms)) }

func addHistograms(a, b []uint32) []uint32 {
	if len(b) > len(a) {
		a = append(a, make([]uint32, len(b)-len(a))...)
	}
	for i, n := range b {
		a[i] += n
	}
	return a
}

// histogramQuantile estimates quantile q as the upper bound of the bucket
// that holds the nearest-rank sample.
func histogramQuantile(h []uint32, q float64) float64 {
	var total uint64
	for _, n := range h {
		total += uint64(n)
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for i, n := range h {
		seen += uint64(n)
		if seen >= rank {
			return math.Pow(histGrowth, float64(i))
		}
	}
	return math.Pow(histGrowth, float64(len(h)-1))
}

// nearestRank returns the q-quantile of sorted values (nearest-rank method).
func nearestRank(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// responseAcc accumulates probe samples for one service.
type responseAcc struct {
	boundMs float64
	values  []float64
	hist    []uint32
	fig     ResponseFigures
}

func (a *responseAcc) add(s ProbeSample, valid bool) {
	if !valid {
		a.fig.Excluded++
		return
	}
	a.fig.Valid++
	if !s.Up {
		a.fig.Failed++
		return
	}
	if s.ResponseMs <= a.boundMs {
		a.fig.Within++
	}
	a.values = append(a.values, s.ResponseMs)
	if a.hist == nil {
		a.hist = make([]uint32, histBuckets)
	}
	a.hist[histIndex(s.ResponseMs)]++
}

// finish computes the figures of the samples and, after UseSummaries,
// the summaries: counts, maximum and histogram exactly, the percentiles
// from the fine histogram if summaries gave any successful response.
func (a *responseAcc) finish(p *summaryPlan) ResponseFigures {
	f := a.fig
	sort.Float64s(a.values)
	n := len(a.values)
	if n > 0 {
		f.Max = a.values[n-1]
	}
	if p != nil && !p.fallback {
		var fine ResponseHistogram
		var top float64
		f, fine, top = p.summed(f)
		f.Max = max(f.Max, top)
		if fine.Total() > 0 {
			fine = fine.clone()
			for _, v := range a.values {
				fine.Add(v)
			}
			f.P50 = min(fine.Quantile(0.50), f.Max)
			f.P95 = min(fine.Quantile(0.95), f.Max)
			f.P99 = min(fine.Quantile(0.99), f.Max)
			f.Histogram = fine.Coarse()
			f.Estimated = true
			return f
		}
	}
	f.P50 = nearestRank(a.values, 0.50)
	f.P95 = nearestRank(a.values, 0.95)
	f.P99 = nearestRank(a.values, 0.99)
	h := a.hist
	for len(h) > 0 && h[len(h)-1] == 0 {
		h = h[:len(h)-1]
	}
	f.Histogram = h
	return f
}

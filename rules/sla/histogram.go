package sla

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Fine histogram buckets: bucket i holds (g^(i-1), g^i] ms with
// g = 1.1^(1/10) ≈ 1.00958, so ten fine buckets make exactly one bucket of
// ResponseFigures.Histogram (growth 1.1) and an estimate from a fine
// bucket's upper bound is at most 0.96% above the value it stands for.
// Index 0 ends at 1 ms; the lowest bucket holds everything up to ~1 µs,
// the highest everything above the coarse histogram's last bound.
const (
	fineSplit    = 10
	fineMinIndex = -730
	fineMaxIndex = fineSplit * (histBuckets - 1)
)

var fineLogGrowth = math.Log(histGrowth) / fineSplit

// FineGrowth is the ratio between a ResponseHistogram bucket's upper and
// lower bound: the largest factor by which a percentile estimated from it
// exceeds the exact one.
var FineGrowth = math.Exp(fineLogGrowth)

func fineIndex(ms float64) int {
	if !(ms > 0) { // zero, negative or NaN
		return fineMinIndex
	}
	i := int(math.Ceil(math.Log(ms) / fineLogGrowth))
	return min(max(i, fineMinIndex), fineMaxIndex)
}

func fineUpper(i int) float64 { return math.Exp(float64(i) * fineLogGrowth) }

// coarseIndex is the ResponseFigures.Histogram bucket holding fine bucket i.
func coarseIndex(i int) int {
	if i <= 0 {
		return 0
	}
	return min((i+fineSplit-1)/fineSplit, histBuckets-1)
}

// ResponseHistogram counts response times in fine logarithmic buckets
// (FineGrowth apart), keeping only the range that holds counts. Summaries
// of days add up exactly; percentiles estimated from it are at most 0.96%
// above the exact ones. The zero value is empty.
type ResponseHistogram struct {
	lo     int      // bucket index of counts[0]
	counts []uint32 // counts[k] is bucket lo+k
}

// Add counts one response time.
func (h *ResponseHistogram) Add(ms float64) { h.add(fineIndex(ms), 1) }

// add adds n (which may be negative) to bucket i; a count never goes below
// zero.
func (h *ResponseHistogram) add(i int, n int64) {
	if n == 0 {
		return
	}
	if len(h.counts) == 0 {
		if n < 0 {
			return
		}
		h.lo, h.counts = i, []uint32{0}
	}
	if i < h.lo {
		grown := make([]uint32, h.lo-i+len(h.counts))
		copy(grown[h.lo-i:], h.counts)
		h.lo, h.counts = i, grown
	}
	if k := i - h.lo; k >= len(h.counts) {
		h.counts = append(h.counts, make([]uint32, k-len(h.counts)+1)...)
	}
	c := &h.counts[i-h.lo]
	*c = uint32(max(int64(*c)+n, 0))
}

// remove uncounts one response time.
func (h *ResponseHistogram) remove(ms float64) { h.add(fineIndex(ms), -1) }

// Merge adds o's counts.
func (h *ResponseHistogram) Merge(o ResponseHistogram) {
	if len(o.counts) == 0 {
		return
	}
	if len(h.counts) == 0 {
		h.lo, h.counts = o.lo, append([]uint32(nil), o.counts...)
		return
	}
	// Grow once to cover both ranges, then add.
	lo, hi := min(h.lo, o.lo), max(h.lo+len(h.counts), o.lo+len(o.counts))
	if lo != h.lo || hi != h.lo+len(h.counts) {
		grown := make([]uint32, hi-lo)
		copy(grown[h.lo-lo:], h.counts)
		h.lo, h.counts = lo, grown
	}
	off := o.lo - h.lo
	for k, n := range o.counts {
		h.counts[off+k] += n
	}
}

func (h ResponseHistogram) clone() ResponseHistogram {
	return ResponseHistogram{lo: h.lo, counts: append([]uint32(nil), h.counts...)}
}

// Total is the number of values counted.
func (h ResponseHistogram) Total() uint64 {
	var t uint64
	for _, n := range h.counts {
		t += uint64(n)
	}
	return t
}

// Quantile estimates quantile q (nearest rank) as the upper bound of the
// bucket that holds the nearest-rank value; 0 when empty.
func (h ResponseHistogram) Quantile(q float64) float64 {
	total := h.Total()
	if total == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(total))), 1)
	var seen uint64
	for k, n := range h.counts {
		seen += uint64(n)
		if seen >= rank {
			return fineUpper(h.lo + k)
		}
	}
	return fineUpper(h.lo + len(h.counts) - 1)
}

// Coarse is the histogram in ResponseFigures.Histogram's buckets (growth
// 1.1 from 1 ms), trailing empty buckets left off. Fine buckets nest in
// them, so this is exact.
func (h ResponseHistogram) Coarse() []uint32 {
	var out []uint32
	for k, n := range h.counts {
		if n == 0 {
			continue
		}
		c := coarseIndex(h.lo + k)
		if c >= len(out) {
			out = append(out, make([]uint32, c-len(out)+1)...)
		}
		out[c] += n
	}
	return out
}

// String encodes the histogram as "index:count,index:count" in increasing
// index order, empty buckets left out ("" when empty); ParseResponseHistogram
// reads it back.
func (h ResponseHistogram) String() string {
	var b strings.Builder
	for k, n := range h.counts {
		if n == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(h.lo + k))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

// ParseResponseHistogram reads ResponseHistogram.String's encoding.
func ParseResponseHistogram(s string) (ResponseHistogram, error) {
	var h ResponseHistogram
	if s == "" {
		return h, nil
	}
	last := fineMinIndex - 1
	for _, part := range strings.Split(s, ",") {
		is, ns, ok := strings.Cut(part, ":")
		i, err1 := strconv.Atoi(is)
		n, err2 := strconv.ParseUint(ns, 10, 32)
		switch {
		case !ok || err1 != nil || err2 != nil:
			return ResponseHistogram{}, fmt.Errorf("histogram bucket %q: expected index:count", part)
		case i < fineMinIndex || i > fineMaxIndex:
			return ResponseHistogram{}, fmt.Errorf("histogram bucket %q: index out of %d..%d", part, fineMinIndex, fineMaxIndex)
		case i <= last:
			return ResponseHistogram{}, fmt.Errorf("histogram bucket %q: indexes must increase", part)
		}
		last = i
		h.add(i, int64(n))
	}
	return h, nil
}

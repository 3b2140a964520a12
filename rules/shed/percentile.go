package shed

import (
	"math"
	"sort"
)

// Percentile is the q-quantile (0..1) of xs by linear interpolation
// between order statistics; the demand the planner wants of a VM is a
// high one (0.95) of its history, not the mean. 0 for no samples.
func Percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	q = math.Min(math.Max(q, 0), 1)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

package sla

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ProbeSummary is one probe's samples over one day (any interval, in
// fact), rolled up so that a monthly report need not read them: the counts
// a report's response figures are made of, the slowest response and a
// fine histogram of the successful ones. Summaries of consecutive days add
// up exactly; percentiles from their histograms are estimates at most
// 0.96% (FineGrowth) above the exact ones.
type ProbeSummary struct {
	Service string
	Probe   string
	// Start and End bound the samples summarised, [Start, End).
	Start time.Time
	End   time.Time
	// Samples counts all of them; Failed those with up=false; Within the
	// successful ones no slower than BoundMs, the response bound of the
	// service's SLA when the summary was made.
	Samples int
	Failed  int
	Within  int
	BoundMs float64
	// MaxMs is the slowest successful response (0 without any).
	MaxMs float64
	// Hist counts the successful responses.
	Hist ResponseHistogram
}

// Add counts one sample of the summary's probe and interval (the caller
// selects them).
func (s *ProbeSummary) Add(p ProbeSample) {
	s.Samples++
	if !p.Up {
		s.Failed++
		return
	}
	if p.ResponseMs <= s.BoundMs {
		s.Within++
	}
	s.MaxMs = max(s.MaxMs, p.ResponseMs)
	s.Hist.Add(p.ResponseMs)
}

// BoundMs is the response bound of sla in milliseconds, as responses are
// compared with it (and as ProbeSummary.BoundMs records it).
func BoundMs(agreement SLA) float64 {
	return float64(agreement.WithDefaults().ResponseBound) / float64(time.Millisecond)
}

// Encode is the summary as one string, the "summary" field of a
// "probe_daily" point (docs/schema.md): space-separated key=value pairs,
// span_s the interval's length in seconds, hist ResponseHistogram.String.
func (s ProbeSummary) Encode() string {
	var b strings.Builder
	b.Grow(96 + 8*len(s.Hist.counts))
	b.WriteString("samples=")
	b.WriteString(strconv.Itoa(s.Samples))
	b.WriteString(" failed=")
	b.WriteString(strconv.Itoa(s.Failed))
	b.WriteString(" within=")
	b.WriteString(strconv.Itoa(s.Within))
	b.WriteString(" bound_ms=")
	b.WriteString(strconv.FormatFloat(s.BoundMs, 'g', -1, 64))
	b.WriteString(" max_ms=")
	b.WriteString(strconv.FormatFloat(s.MaxMs, 'g', -1, 64))
	b.WriteString(" span_s=")
	b.WriteString(strconv.FormatInt(int64(s.End.Sub(s.Start)/time.Second), 10))
	b.WriteString(" hist=")
	b.WriteString(s.Hist.String())
	return b.String()
}

// DecodeProbeSummary reads Encode's string back, for the service and
// probe's summary that starts at start.
func DecodeProbeSummary(service, probe string, start time.Time, text string) (ProbeSummary, error) {
	s := ProbeSummary{Service: service, Probe: probe, Start: start}
	bad := func(format string, args ...any) (ProbeSummary, error) {
		return ProbeSummary{}, fmt.Errorf("probe summary of %q/%q at %s: %s", service, probe,
			start.UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	seen := 0
	for _, kv := range strings.Fields(text) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad("%q is not key=value", kv)
		}
		var err error
		switch k {
		case "samples":
			s.Samples, err = strconv.Atoi(v)
		case "failed":
			s.Failed, err = strconv.Atoi(v)
		case "within":
			s.Within, err = strconv.Atoi(v)
		case "bound_ms":
			s.BoundMs, err = strconv.ParseFloat(v, 64)
		case "max_ms":
			s.MaxMs, err = strconv.ParseFloat(v, 64)
		case "span_s":
			var sec int64
			sec, err = strconv.ParseInt(v, 10, 64)
			s.End = start.Add(time.Duration(sec) * time.Second)
		case "hist":
			s.Hist, err = ParseResponseHistogram(v)
		default:
			continue // a later version's addition
		}
		if err != nil {
			return bad("%s: %v", k, err)
		}
		seen++
	}
	switch {
	case seen < 7:
		return bad("%q lacks some of samples, failed, within, bound_ms, max_ms, span_s, hist", text)
	case !s.End.After(s.Start):
		return bad("empty interval")
	case s.Samples < 0 || s.Failed < 0 || s.Within < 0 || s.Failed+int(s.Hist.Total()) != s.Samples || s.Within > s.Samples-s.Failed:
		return bad("inconsistent counts in %q", text)
	case math.IsNaN(s.MaxMs) || math.IsNaN(s.BoundMs):
		return bad("NaN in %q", text)
	}
	return s, nil
}

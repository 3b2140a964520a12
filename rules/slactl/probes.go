package slactl

import (
	"fmt"

	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/rules/sla"
)

// ProbeKind is the collector kind of probe sources (metrics, errors).
const ProbeKind = "probe"

// ProbeSources turns the configured probes into collector sources, each
// on its own interval. Their points reach the controller through Tap.
func ProbeSources(specs []sla.ProbeSpec) ([]collector.Scheduled, error) {
	out := make([]collector.Scheduled, 0, len(specs))
	for _, spec := range specs {
		p, err := sla.NewProbe(spec)
		if err != nil {
			return nil, fmt.Errorf("sla probes: %w", err)
		}
		if timeout := p.Spec().Timeout; timeout >= spec.Interval {
			// The collector abandons a poll at its interval, which would
			// turn a slow answer into no data.
			return nil, fmt.Errorf("sla probes: probe %q: timeout %s is not shorter than its interval %s", spec.Name, timeout, spec.Interval)
		}
		out = append(out, collector.Scheduled{Source: p, Interval: spec.Interval, Kind: ProbeKind})
	}
	return out, nil
}

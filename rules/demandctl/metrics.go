package demandctl

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/rules/demand"
)

// metrics are the controller's Prometheus series.
type metrics struct {
	demandKW, predictedKW, limitKW, adjustmentKW, coverage, stage prometheus.Gauge
	baseline, reduction                                           *prometheus.GaugeVec
	ticks, readErrors, skipped                                    prometheus.Counter
	transitions                                                   *prometheus.CounterVec
	duration                                                      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &metrics{
		demandKW:     g("setsuden_demand_kw", "Current demand: the energy of the strictest limit's block so far over the full block length."),
		predictedKW:  g("setsuden_demand_predicted_kw", "Predicted demand of the strictest limit's block at its end."),
		limitKW:      g("setsuden_demand_limit_kw", "The strictest limit in force (0 when none)."),
		adjustmentKW: g("setsuden_demand_adjustment_kw", "Adjustment power: kW to shed now (positive) or headroom (negative) to land on the limit."),
		coverage:     g("setsuden_demand_coverage_ratio", "Share of the block so far covered by data."),
		stage:        g("setsuden_demand_stage", "Demand stage: 0 normal, 1 caution, 2 shed, 3 limit."),
		baseline: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "setsuden_demand_cap_baseline_kw",
			Help: "Baseline of a cap computed from last year's history."}, []string{"limit"}),
		reduction: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "setsuden_demand_cap_reduction_ratio",
			Help: "Cut of a cap from history (reduction: auto or as configured)."}, []string{"limit"}),
		ticks:      prometheus.NewCounter(prometheus.CounterOpts{Name: "setsuden_demand_ticks_total", Help: "Demand evaluations."}),
		readErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "setsuden_demand_read_errors_total", Help: "Ticks whose site power or energy could not be read."}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "setsuden_demand_ticks_skipped_total",
			Help: "Ticks skipped because the previous one was still running."}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "setsuden_demand_transitions_total",
			Help: "Stage transitions by the stage entered."}, []string{"to"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "setsuden_demand_tick_duration_seconds",
			Help: "Time a tick takes (reads, evaluation, writes).", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
	}
	for s := demand.StageNormal; s <= demand.StageLimit; s++ {
		m.transitions.WithLabelValues(s.String())
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.demandKW, m.predictedKW, m.limitKW, m.adjustmentKW, m.coverage, m.stage,
		m.baseline, m.reduction, m.ticks, m.readErrors, m.skipped, m.transitions, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) observe(d demand.Decision) {
	m.ticks.Inc()
	m.demandKW.Set(finite(d.CurrentKW))
	m.predictedKW.Set(finite(d.PredictedKW))
	m.limitKW.Set(finite(d.LimitKW))
	m.adjustmentKW.Set(finite(d.AdjustmentKW))
	m.coverage.Set(finite(d.Coverage))
	m.stage.Set(float64(d.Stage))
}

package executor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the executor's Prometheus series.
type metrics struct {
	steps    *prometheus.CounterVec
	plans    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	running  prometheus.Gauge
	mode     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "setsuden_executor_steps_total",
			Help: "Plan steps finished, by kind and end state (done, failed, skipped, cancelled)."}, []string{"kind", "state"}),
		plans: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "setsuden_executor_plans_total",
			Help: "Plans by the state they reached (advised, awaiting, done, failed, cancelled, interrupted, ...)."}, []string{"state"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "setsuden_executor_step_duration_seconds",
			Help: "Time a step takes, precondition included.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"kind"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "setsuden_executor_plans_running", Help: "Plans running now."}),
		mode: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "setsuden_executor_mode",
			Help: "1 for the executor's current mode (off, advise, approve, auto)."}, []string{"mode"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.steps, m.plans, m.duration, m.running, m.mode} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("executor metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) setMode(mode Mode) {
	for _, x := range []Mode{ModeOff, ModeAdvise, ModeApprove, ModeAuto} {
		v := 0.0
		if x == mode {
			v = 1
		}
		m.mode.WithLabelValues(string(x)).Set(v)
	}
}

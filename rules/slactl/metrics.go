package slactl

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/rules/sla"
)

// Metrics returns the controller's Prometheus collector: each service's
// settled state and since when, its pending and firing alerts with their
// burn rates, and the horizon (a horizon that stops moving means the SLA
// loop is stuck). Values are read from the controller at scrape time, so
// they are never staler than States.
func (c *Controller) Metrics() prometheus.Collector { return slaMetrics{c} }

var (
	descState = prometheus.NewDesc("setsuden_sla_service_state",
		"1 for the state a service is in (UP, DOWN, UNKNOWN, PLANNED), 0 for the others.",
		[]string{"service", "sla", "customer", "state"}, nil)
	descSince = prometheus.NewDesc("setsuden_sla_service_state_since_timestamp_seconds",
		"When the service entered its current state (Unix time).", []string{"service"}, nil)
	descAlert = prometheus.NewDesc("setsuden_sla_alert_burn_rate",
		"Burn rate of a pending or firing SLA alert over its long and short windows.",
		[]string{"service", "rule", "severity", "state", "window"}, nil)
	descHorizon = prometheus.NewDesc("setsuden_sla_horizon_timestamp_seconds",
		"Time up to which service states are settled (Unix time).", nil, nil)
)

var metricStates = []sla.State{sla.StateUp, sla.StateDown, sla.StateUnknown, sla.StatePlanned}

type slaMetrics struct{ c *Controller }

func (m slaMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descSince, descAlert, descHorizon} {
		ch <- d
	}
}

func (m slaMetrics) Collect(ch chan<- prometheus.Metric) {
	states, horizon := m.c.States()
	ch <- prometheus.MustNewConstMetric(descHorizon, prometheus.GaugeValue, unixSeconds(horizon.UnixNano()))
	for _, s := range states {
		for _, st := range metricStates {
			v := 0.0
			if s.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, s.Service, s.SLA, s.Customer, st.String())
		}
		ch <- prometheus.MustNewConstMetric(descSince, prometheus.GaugeValue, unixSeconds(s.Since.UnixNano()), s.Service)
		for _, a := range s.Alerts {
			state := strings.ToLower(a.State.String())
			ch <- prometheus.MustNewConstMetric(descAlert, prometheus.GaugeValue, a.LongBurn, s.Service, a.Rule, a.Severity, state, "long")
			ch <- prometheus.MustNewConstMetric(descAlert, prometheus.GaugeValue, a.ShortBurn, s.Service, a.Rule, a.Severity, state, "short")
		}
	}
}

func unixSeconds(ns int64) float64 { return float64(ns) / 1e9 }

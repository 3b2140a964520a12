package main

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/setsuden/setsuden/adapters/obix"
	"github.com/setsuden/setsuden/config"
)

// obixMetrics are the oBIX gateways' own metrics, beside the collector's
// per-source ones.
type obixMetrics struct {
	watchRecreated *prometheus.CounterVec
}

func newObixMetrics(reg prometheus.Registerer) *obixMetrics {
	m := &obixMetrics{watchRecreated: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "setsuden_obix_watch_recreated_total",
		Help: "Watches made again after the oBIX gateway had dropped them (lease expired, gateway restarted).",
	}, []string{"gateway"})}
	reg.MustRegister(m.watchRecreated)
	return m
}

// obixSource builds the collector source of one gateway: batch reads (the
// default), per-point reads, or a watch with its lease.
func obixSource(g config.ObixGateway, log *slog.Logger, m *obixMetrics) (*obix.Source, error) {
	var pts []obix.PointMapping
	for _, pt := range g.Points {
		pts = append(pts, obix.PointMapping{Href: pt.Href, History: pt.History, Measurement: pt.Measurement, Field: pt.Field, Tags: pt.Tags})
	}
	log = log.With("gateway", g.Name)
	cfg := obix.SourceConfig{Name: g.Name, Points: pts, Interval: g.Interval, Logger: log,
		UseWatch: g.Watch, ReadEach: g.Reads == config.ObixReadsPerPoint,
		Client: &obix.Client{BaseURL: g.URL, Username: g.Username, Password: g.Password,
			HTTP: &http.Client{Timeout: g.Timeout}, Logger: log}}
	if g.Watch {
		cfg.WatchLease = config.ObixWatchLease(g)
		counter := m.watchRecreated.WithLabelValues(g.Name)
		cfg.OnWatchRecreated = counter.Inc
	}
	return obix.NewSource(cfg)
}

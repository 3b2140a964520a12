package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

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
		UseWatch: g.Watch, ReadEach: g.Reads == config.ObixReadsPerPoint, Client: obixClient(g, log)}
	cfg.Discover = obixRules(g)
	if g.Watch {
		cfg.WatchLease = config.ObixWatchLease(g)
		counter := m.watchRecreated.WithLabelValues(g.Name)
		cfg.OnWatchRecreated = counter.Inc
	}
	return obix.NewSource(cfg)
}

// closeObix deletes the gateways' watches (a few seconds at most).
func closeObix(srcs []*obix.Source) {
	if len(srcs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range srcs {
		_ = s.Close(ctx)
	}
}

func obixClient(g config.ObixGateway, log *slog.Logger) *obix.Client {
	return &obix.Client{BaseURL: g.URL, Username: g.Username, Password: g.Password,
		HTTP: &http.Client{Timeout: g.Timeout}, Logger: log}
}

// obixRules is the gateway's discover section for the adapter, nil when
// discovery is off.
func obixRules(g config.ObixGateway) *obix.DiscoverRules {
	d := g.Discover
	if d.Root == "" {
		return nil
	}
	r := &obix.DiscoverRules{Root: d.Root, Depth: d.Depth, Include: d.Include, Exclude: d.Exclude, Tags: d.Tags}
	for _, m := range d.Map {
		r.Rules = append(r.Rules, obix.UnitRule{Unit: m.Unit, Name: m.Name, Measurement: m.Measurement, Field: m.Field, Tags: m.Tags})
	}
	return r
}

// obixDryRun lists, per gateway, the points it would read: the listed
// ones and what discovery finds (href, unit, measurement, field, tags),
// and the discovered points it leaves out with the reason. A gateway that
// cannot be read is reported and counted; the others are still listed.
func obixDryRun(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) (failed int) {
	for _, g := range cfg.Obix.Gateways {
		mode := "batch reads"
		switch {
		case g.Watch:
			mode = "a watch"
		case g.Reads == config.ObixReadsPerPoint:
			mode = "per-point reads"
		}
		rows := [][]string{}
		for _, p := range g.Points {
			rows = append(rows, []string{p.Href, "", p.Measurement, p.Field, tagList(p.Tags), "listed"})
		}
		var skipped []string
		if rules := obixRules(g); rules != nil {
			dctx, cancel := context.WithTimeout(ctx, 10*g.Timeout)
			found, err := obixClient(g, slog.New(slog.NewTextHandler(io.Discard, nil))).DiscoverPoints(dctx, *rules)
			cancel()
			if err != nil {
				failed++
				fmt.Fprintf(stderr, "obix gateway %q: %v\n", g.Name, err)
				continue
			}
			for _, d := range found {
				if d.Skipped != "" {
					skipped = append(skipped, fmt.Sprintf("%s (%s)", d.Href, d.Skipped))
					continue
				}
				rows = append(rows, []string{d.Href, d.Unit, d.Mapping.Measurement, d.Mapping.Field, tagList(d.Mapping.Tags), "discovered"})
			}
		}
		fmt.Fprintf(stdout, "%s (oBIX %s, %s, every %s): %d points\n", g.Name, g.URL, mode, g.Interval, len(rows))
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  href\tunit\tmeasurement\tfield\ttags\tfrom")
		for _, r := range rows {
			if r[1] == "" {
				r[1] = "-"
			}
			fmt.Fprintf(tw, "  %s\n", strings.Join(r, "\t"))
		}
		_ = tw.Flush()
		for _, s := range skipped {
			fmt.Fprintf(stdout, "  not taken: %s\n", s)
		}
	}
	return failed
}

// tagList renders tags as k=v,k=v in key order.
func tagList(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

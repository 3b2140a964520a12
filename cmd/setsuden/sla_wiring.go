package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/webhook"
	"github.com/setsuden/setsuden/collector"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
	"github.com/setsuden/setsuden/rules/slactl"
)

// decodeSLA decodes the sla section of file; its problems are
// config.Problems, "FILE:LINE: sla.field: message", like the rest of the
// file's.
func decodeSLA(file string, n *yaml.Node) (sla.Config, error) {
	if n == nil {
		return sla.Config{}, config.Problems{{File: file, Path: "sla", Msg: "missing (expected the SLA section: slas, services, probes, state_dir; see rules/sla/testdata/sla.example.yaml)"}}
	}
	c, err := sla.DecodeConfig(file, n)
	var probs sla.ConfigProblems
	if errors.As(err, &probs) {
		out := make(config.Problems, len(probs))
		for i, p := range probs {
			path := "sla"
			if p.Field != "" {
				path += "." + p.Field
			}
			out[i] = config.Problem{File: p.File, Line: p.Line, Path: path, Msg: p.Msg}
		}
		return sla.Config{}, out
	}
	return c, err
}

// slaProblems are the problems of cfg's sla section, none when it has
// none; for loadConfig, so that `validate` and every command report them.
func slaProblems(file string, cfg *config.Config) config.Problems {
	n := cfg.SLA
	if n == nil {
		return nil
	}
	var probs config.Problems
	if _, err := decodeSLA(file, n); !errors.As(err, &probs) && err != nil {
		probs = config.Problems{{File: file, Line: n.Line, Path: "sla", Msg: err.Error()}}
	}
	return probs
}

// needSLAFiles reports the record paths a command needs but the section
// leaves out.
func needSLAFiles(file string, n *yaml.Node, f sla.Files, maintenance, reports bool) error {
	var missing []string
	if maintenance && f.MaintenanceLog == "" {
		missing = append(missing, "sla.maintenance_log")
	}
	if reports && f.ReportsDir == "" {
		missing = append(missing, "sla.reports_dir")
	}
	if len(missing) == 0 {
		return nil
	}
	return config.Problems{{File: file, Line: n.Line, Path: "sla.state_dir",
		Msg: fmt.Sprintf("not set, and neither %s %s (expected a directory for the maintenance log and the report archive, e.g. /var/lib/setsuden/sla)",
			map[bool]string{true: "is", false: "are"}[len(missing) == 1], strings.Join(missing, " and "))}}
}

// siteLocation is the site's time zone: report months and schedules.
func siteLocation(cfg *config.Config) (*time.Location, error) {
	tz := cfg.Site.Timezone
	if tz == "" {
		tz = sla.DefaultTimeZone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("site.timezone %q: %w", tz, err)
	}
	return loc, nil
}

// slaStore reads SLA data from the configured InfluxDB, with maint behind it.
func slaStore(cfg *config.Config, maint sla.MaintenanceStore) (*influx.SLAStore, error) {
	return influx.NewSLAStore(influx.SLAStoreConfig{URL: cfg.Influx.URL, Token: cfg.Influx.Token, Org: cfg.Influx.Org,
		Bucket: cfg.Influx.Bucket, Maintenance: maint})
}

// slaWiring is the SLA engine of a running pipeline (rules/slactl). It is
// built before the collector, because its probes are collector sources
// and its tap sits in front of the write queue; addSLA then adds its loop
// and API with the rules. A nil *slaWiring (no sla section) adds nothing.
type slaWiring struct {
	ctl       *slactl.Controller
	log       *slactl.MaintenanceLog
	sender    *webhook.Sender
	rollup    *probeRollupJob
	sources   []collector.Scheduled
	closeOnce sync.Once
}

// newSLAWiring builds the SLA engine from cfg's sla section (cfgFile is
// the configuration file: problems name it, and relative paths are taken
// from its directory), writing through writer. It returns nil without an
// sla section, and in a process that does not run the site controllers
// (role.Controllers false: another shard runs SLA accounting and the
// probes, and reads this shard's libvirt points back from InfluxDB).
func newSLAWiring(cfg *config.Config, cfgFile string, writer slactl.PointWriter, log *slog.Logger, role siteRole) (*slaWiring, error) {
	n := cfg.SLA
	if n == nil || !role.Controllers {
		return nil, nil
	}
	sc, err := decodeSLA(cfgFile, n)
	if err != nil {
		return nil, err
	}
	if err := needSLAFiles(cfgFile, n, sc.Files, true, true); err != nil {
		return nil, err
	}
	loc, err := siteLocation(cfg)
	if err != nil {
		return nil, err
	}
	sources, err := slactl.ProbeSources(sc.Probes)
	if err != nil {
		return nil, err
	}
	w := &slaWiring{sources: sources}
	if w.log, err = slactl.OpenMaintenanceLog(sc.Files.MaintenanceLog, nil); err != nil {
		return nil, err
	}
	store, err := slaStore(cfg, w.log)
	if err != nil {
		w.close()
		return nil, err
	}
	w.rollup = &probeRollupJob{rollup: report.Rollup{Site: cfg.Site.Name, Catalog: sc.Catalog, Location: loc},
		store: store, grace: sc.Schedule.Grace, log: log, now: time.Now}
	var notifier slactl.Notifier
	if len(sc.Alerts.Webhooks) > 0 {
		var eps []webhook.Endpoint
		for i, h := range sc.Alerts.Webhooks {
			var secret string
			if h.SecretEnv != "" {
				if secret = os.Getenv(h.SecretEnv); secret == "" {
					w.close()
					return nil, fmt.Errorf("sla.alerts.webhooks[%d].secret_env: %s is not set in the environment (expected the HMAC key)", i, h.SecretEnv)
				}
			}
			eps = append(eps, webhook.Endpoint{URL: h.URL, Secret: []byte(secret)})
		}
		if w.sender, err = webhook.New(webhook.Config{Name: "sla", Endpoints: eps, Logger: log}); err != nil {
			w.close()
			return nil, fmt.Errorf("sla.alerts.webhooks: %w", err)
		}
		notifier = w.sender
	}
	w.ctl, err = slactl.New(slactl.Config{Site: cfg.Site.Name, SLA: sc, Location: loc, Points: writer, Store: store,
		Maintenance: w.log, Notifier: notifier, Logger: log, BeforeIssue: w.rollup.catchUpNow, Energy: reportEnergy(cfg, loc, log)})
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// probeSources are the probes, for the collector.
func (w *slaWiring) probeSources() []collector.Scheduled {
	if w == nil {
		return nil
	}
	return w.sources
}

// tap puts the SLA engine in front of next.
func (w *slaWiring) tap(next collector.Sink) collector.Sink {
	if w == nil {
		return next
	}
	return w.ctl.Tap(next)
}

// close releases the maintenance log; safe to call more than once.
func (w *slaWiring) close() {
	if w == nil {
		return
	}
	w.closeOnce.Do(func() {
		if w.log != nil {
			_ = w.log.Close()
		}
	})
}

// addSLA adds the SLA engine's loop (and its webhook sender's), the daily
// probe rollup and its API to the pipeline; nothing when w is nil.
func (p *pipeline) addSLA(w *slaWiring) error {
	if w == nil {
		return nil
	}
	if err := p.reg.Register(w.ctl.Metrics()); err != nil {
		return fmt.Errorf("sla metrics: %w", err)
	}
	p.slaAPI = w.ctl
	if w.sender != nil {
		p.runners = append(p.runners, w.sender.Run)
	}
	p.runners = append(p.runners, func(ctx context.Context) {
		if err := w.ctl.Run(ctx); err != nil {
			p.log.Error("SLA accounting stopped", "err", err)
		}
	}, func(ctx context.Context) {
		if err := w.rollup.run(ctx); err != nil {
			p.log.Error("daily probe summaries stopped", "err", err)
		}
	})
	return nil
}

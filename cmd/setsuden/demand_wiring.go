package main

import (
	"context"
	"fmt"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/adapters/webhook"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/demandctl"
	"github.com/setsuden/setsuden/rules/tariff"
)

// addDemand adds demand control when the configuration has a demand
// section: the controller's loop (reading site power through p.reader,
// writing through p.writer), its webhook sender's loop, and its API.
func (p *pipeline) addDemand(cfg *config.Config) error {
	if !cfg.Demand.Enabled() {
		return nil
	}
	engine, specs, err := cfg.Demand.Engine(cfg.Site)
	if err != nil {
		return fmt.Errorf("demand: %w", err)
	}
	if engine.Pricer, err = demandPricer(cfg); err != nil {
		return fmt.Errorf("demand: tariff: %w", err)
	}
	var notifier demandctl.Notifier
	if len(cfg.Demand.Webhooks) > 0 {
		sender, err := demandWebhooks(cfg, p)
		if err != nil {
			return err
		}
		notifier = sender
		p.runners = append(p.runners, sender.Run)
	}
	ctl, err := demandctl.New(demandctl.Config{
		Site: cfg.Site.Name, Engine: engine, Limits: demandLimits(specs), Tick: cfg.Demand.TickInterval(),
		// Each tick reads only what is new since the last one; the 12-month
		// maximum and the bill blocks come from the reader itself.
		Store: demandStore{&influx.DemandCache{R: p.reader}, p.reader}, Points: p.writer, Notifier: notifier, Logger: p.log, Registerer: p.reg,
		Capabilities: p.shedCapabilities(),
	})
	if err != nil {
		return err
	}
	p.demandAPI = ctl
	p.demandCtl = ctl
	p.runners = append(p.runners, func(ctx context.Context) {
		if err := ctl.Run(ctx); err != nil {
			p.log.Error("demand control stopped", "err", err)
		}
	})
	return nil
}

func demandWebhooks(cfg *config.Config, p *pipeline) (*webhook.Sender, error) {
	var eps []webhook.Endpoint
	for i, w := range cfg.Demand.Webhooks {
		secret, err := w.Secret()
		if err != nil {
			return nil, fmt.Errorf("demand.webhooks[%d]: %w", i, err)
		}
		eps = append(eps, webhook.Endpoint{URL: w.URL, Secret: []byte(secret)})
	}
	sender, err := webhook.New(webhook.Config{Name: "demand", Endpoints: eps, Logger: p.log, Registerer: p.reg})
	if err != nil {
		return nil, fmt.Errorf("demand.webhooks: %w", err)
	}
	return sender, nil
}

// demandLimits converts the configuration's limits.
func demandLimits(specs []config.DemandLimitSpec) []demandctl.LimitSpec {
	out := make([]demandctl.LimitSpec, len(specs))
	for i, s := range specs {
		out[i] = demandctl.LimitSpec{Limit: s.Limit, BaselineLastYear: s.BaselineLastYear, ReductionAuto: s.ReductionAuto}
	}
	return out
}

// demandStore is the demand controller's store: the tick's power and
// energy through the cache (which reads only what is new), and the
// history the controller also asks of its store (demandctl.PeakStore,
// BillBlockReader) from the reader, which the cache alone would hide.
type demandStore struct {
	*influx.DemandCache
	r *influx.Reader
}

func (s demandStore) PeakDemand(ctx context.Context, site string, from, to time.Time, block time.Duration) (float64, time.Time, error) {
	return s.r.PeakDemand(ctx, site, from, to, block)
}

func (s demandStore) BillBlocks(ctx context.Context, site string, from, to time.Time, block time.Duration) ([]tariff.Block, error) {
	return s.r.BillBlocks(ctx, site, from, to, block)
}

package main

import "github.com/setsuden/setsuden/config"

// addRules adds the rules engine's loops and APIs to the pipeline (demand,
// SLA). It runs after the collector is built and before the server.
func (p *pipeline) addRules(cfg *config.Config) error {
	if p.shard.Index != 0 {
		// Demand is a site-wide figure: one controller per site, in shard 1.
		p.log.Info("demand control runs in shard 1 only", "shard", p.shard.Index+1)
	} else if err := p.addDemand(cfg); err != nil {
		return err
	}
	if err := p.addSLA(p.sla); err != nil {
		return err
	}
	return nil
}

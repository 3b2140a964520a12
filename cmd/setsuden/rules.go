package main

import "github.com/setsuden/setsuden/config"

// addRules adds the rules engine's loops and APIs to the pipeline (demand,
// SLA). It runs after the collector is built and before the server.
func (p *pipeline) addRules(cfg *config.Config) error {
	if !p.role.Controllers {
		// Demand is a site-wide figure: one controller per site (shard.go).
		p.log.Debug("demand control runs in the process that runs the site controllers", "shard", p.role.String())
	} else if err := p.addShed(cfg, p.cfgFile); err != nil {
		return err
	} else if err := p.addDemand(cfg); err != nil {
		return err
	}
	p.startShed()
	if err := p.addSLA(p.sla); err != nil {
		return err
	}
	return nil
}

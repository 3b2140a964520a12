package main

import "github.com/setsuden/setsuden/config"

// addRules adds the rules engine's loops and APIs to the pipeline (demand,
// SLA). It runs after the collector is built and before the server.
func (p *pipeline) addRules(cfg *config.Config) error {
	if err := p.addDemand(cfg); err != nil {
		return err
	}
	return nil
}

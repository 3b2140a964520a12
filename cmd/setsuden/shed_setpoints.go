package main

import (
	"fmt"
	"log/slog"

	"github.com/setsuden/setsuden/adapters/obix"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/executor"
	"github.com/setsuden/setsuden/rules/shed"
)

// shedSetPoints is the executor's set-point writer for the inventory's
// facility stages: obix.SetPoints over obix.gateways, a stage's point
// being GATEWAY:HREF (or a bare HREF when one gateway is configured). It
// is nil, with the stages to leave out of plans, when there are stages
// but no gateway at all; a point that names no configured gateway is an
// error naming the stage.
func shedSetPoints(cfg *config.Config, stages []shed.FacilityStage, log *slog.Logger) (executor.SetPointWriter, error) {
	if len(stages) == 0 || len(cfg.Obix.Gateways) == 0 {
		return nil, nil
	}
	sp := obix.NewSetPoints(shedGateways(cfg, log))
	for i, st := range stages {
		if _, _, err := sp.Resolve(st.Point); err != nil {
			return nil, fmt.Errorf("stages[%d].point (stage %q): %w", i, st.Name, err)
		}
	}
	return sp, nil
}

// shedGateways are obix.gateways' clients by name (the writer's own,
// apart from the collector's).
func shedGateways(cfg *config.Config, log *slog.Logger) map[string]*obix.Client {
	gws := map[string]*obix.Client{}
	for _, g := range cfg.Obix.Gateways {
		gws[g.Name] = obixClient(g, log.With("component", "setpoints", "gateway", g.Name))
	}
	return gws
}

// shedStageProblems are the stages' points that name no configured
// gateway, for `validate` and `run` (before anything starts).
func shedStageProblems(invFile string, cfg *config.Config, stages []shed.FacilityStage) config.Problems {
	if len(stages) == 0 || len(cfg.Obix.Gateways) == 0 {
		return nil
	}
	sp := obix.NewSetPoints(shedGateways(cfg, slog.New(slog.DiscardHandler)))
	var probs config.Problems
	for i, st := range stages {
		if _, _, err := sp.Resolve(st.Point); err != nil {
			probs = append(probs, config.Problem{File: invFile, Path: fmt.Sprintf("stages[%d].point", i), Msg: err.Error()})
		}
	}
	return probs
}

package config

import (
	"time"

	"github.com/setsuden/setsuden/rules/demand"
)

// DemandAnnualMax is the limit "do not raise the annual peak": the highest
// billing block of the last 12 months (it sets the contract power under
// the measured-demand rule), read from stored history at start and once a
// day, raised at each block end, and never below demand.annual_max_kw.
// The stages apply to it as to the contract (caution_at, shed_at,
// limit_at of the maximum). Write at least one key, e.g.
// annual_max: {name: annual_max}.
type DemandAnnualMax struct {
	// Name labels the limit in decisions; default "annual_max".
	Name string `yaml:"name"`
	// Block defaults to demand.block (the billing block).
	Block time.Duration `yaml:"block"`
}

func (v *validator) demandAnnualMax(p string, a DemandAnnualMax, billing time.Duration) DemandLimitSpec {
	l := demand.AnnualMaxLimit{Name: a.Name, Block: billing}
	if a.Block != 0 {
		if demand.ValidBlockLength(a.Block) != nil {
			v.add(p+".block", "%s is not a block length (expected 15m, 30m or 60m; default demand.block)", a.Block)
			return DemandLimitSpec{}
		}
		l.Block = a.Block
	}
	return DemandLimitSpec{Limit: l}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

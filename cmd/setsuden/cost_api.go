package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/tariff"
	"github.com/setsuden/setsuden/server"
)

// costAPI answers GET /api/v1/cost with the month's bill as
// `setsuden cost --format json` prints it (without --labels and --shed).
type costAPI struct {
	site   string
	loc    *time.Location
	priced config.Priced
	reader *influx.Reader
}

// newCostAPI is the daemon's bill reader; nil when no contract is
// configured (the route then answers 503 naming the tariff: section).
func newCostAPI(cfg *config.Config, reader *influx.Reader, loc *time.Location) (server.CostReader, error) {
	if len(cfg.Tariff.Contracts) == 0 || reader == nil {
		return nil, nil
	}
	priced, probs := cfg.Tariff.Priced(loc)
	if len(probs) > 0 {
		return nil, fmt.Errorf("tariff: %w", probs)
	}
	return costAPI{site: cfg.Site.Name, loc: loc, priced: priced, reader: reader}, nil
}

func (c costAPI) Bill(ctx context.Context, month string) (any, error) {
	m, err := time.ParseInLocation("2006-01", month, c.loc)
	if err != nil {
		return nil, fmt.Errorf("month %q: %w", month, err)
	}
	bill, _, err := readBill(ctx, c.reader, c.site, c.priced, m, newProgressLine(io.Discard))
	if err != nil {
		return nil, fmt.Errorf("bill of %s: %w", month, err)
	}
	rep := costReport{Site: c.site, Bill: bill}
	if c.priced.Supplier != "" {
		f, err := tariff.FactorFor(c.priced.Factors, c.priced.Supplier, m.Year())
		if err != nil {
			return nil, fmt.Errorf("tariff.emission: %w", err)
		}
		co2 := f.Emissions(bill.EnergyKWh)
		rep.CO2, rep.Supplier = &co2, fmt.Sprintf("%s %d", f.Supplier, f.Year)
	}
	return rep, nil
}

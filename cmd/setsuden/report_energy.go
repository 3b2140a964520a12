package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/energy"
	"github.com/setsuden/setsuden/rules/tariff"
)

// reportPUECategory is the measurement category the report's PUE is
// stated in (as `setsuden energy --pue-category`'s default: PDU output).
const reportPUECategory = 2

// noTariffNote is what the energy section says without a tariff section.
const noTariffNote = "no tariff section in the configuration: the bill, the yen of the shed events and CO2 are not computed (see tariff: in setsuden.example.yaml)"

// monthEnergy is the monthly report's energy section from the stored
// meters and demand points: the site's kWh and peak 30-minute block (the
// bill's blocks), PUE from the meters' energies, and with a tariff
// section the month's bill, its shed blocks' yen and CO2 (as setsuden
// cost --shed). nil when the site has no power data in the month. The
// warnings are the bill's and the shed estimate's. setsuden report and the
// daemon's monthly report (slactl Config.Energy) both take it from here.
func monthEnergy(ctx context.Context, cfg *config.Config, month string, loc *time.Location, progress *progressLine) (*report.Energy, []string, error) {
	start, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil {
		return nil, nil, err
	}
	start, end := tariff.MonthBounds(start)
	reader := influx.NewReader(cfg.Influx.URL, cfg.Influx.Token, cfg.Influx.Org, cfg.Influx.Bucket)
	defer reader.Close()
	blocks, err := reader.BillBlocks(ctx, cfg.Site.Name, start, end, 30*time.Minute)
	if err != nil {
		return nil, nil, fmt.Errorf("energy section: %w", err)
	}
	e := &report.Energy{PricedNote: noTariffNote}
	var covered float64
	for _, b := range blocks {
		e.KWh += b.KWh
		covered += b.Coverage
		if kw := b.KWh / 0.5; b.Coverage > 0 && kw > e.PeakDemandKW {
			e.PeakDemandKW, e.PeakBlock = kw, b.Start
		}
	}
	if len(blocks) > 0 {
		e.Coverage = covered / float64(len(blocks))
	}
	if e.Coverage == 0 {
		return nil, nil, nil
	}
	e.PUE, e.PUELabel, e.PUENote = monthPUE(ctx, reader, cfg.Site.Name, start, end)

	shed, err := reader.ShedBlocks(ctx, cfg.Site.Name, start, end, 30*time.Minute)
	if err != nil {
		return nil, nil, fmt.Errorf("energy section: %w", err)
	}
	e.ShedEvents = len(shed)
	if len(cfg.Tariff.Contracts) == 0 {
		return e, nil, nil
	}
	priced, probs := cfg.Tariff.Priced(loc)
	if len(probs) > 0 {
		return nil, nil, probs
	}
	bill, months, err := readBill(ctx, reader, cfg.Site.Name, priced, start, progress)
	if err != nil {
		return nil, nil, fmt.Errorf("energy section: bill of %s: %w", month, err)
	}
	e.Priced, e.PricedNote = true, ""
	e.Contracts = strings.Join(bill.Contracts, ", ")
	e.BillYen, e.TargetKW = bill.TotalYen, bill.ContractKW
	e.MarginKW = bill.ContractKW - math.Floor(e.PeakDemandKW+0.5)
	sr, warn, err := costShed(ctx, reader, cfg.Site.Name, priced, start, bill, months)
	if err != nil {
		return nil, nil, fmt.Errorf("energy section: %w", err)
	}
	e.ShedYen = sr.Month.TotalYen
	warnings := append(bill.Warnings, warn...)
	if priced.Supplier != "" {
		f, err := tariff.FactorFor(priced.Factors, priced.Supplier, start.Year())
		if err != nil {
			return nil, nil, fmt.Errorf("tariff.emission: %w", err)
		}
		c := f.Emissions(bill.EnergyKWh)
		e.CO2LocationKg, e.CO2AdjustedKg, e.CO2Source = c.LocationKg, c.AdjustedKg, fmt.Sprintf("%s %d", f.Supplier, f.Year)
	}
	return e, warnings, nil
}

// reportEnergy is the daemon's monthly report's energy section
// (slactl Config.Energy): monthEnergy, its warnings logged.
func reportEnergy(cfg *config.Config, loc *time.Location, log *slog.Logger) func(context.Context, string) (*report.Energy, error) {
	return func(ctx context.Context, month string) (*report.Energy, error) {
		e, warnings, err := monthEnergy(ctx, cfg, month, loc, newProgressLine(io.Discard))
		for _, w := range warnings {
			log.Warn("monthly report: energy section", "month", month, "warning", w)
		}
		return e, err
	}
}

// monthPUE is the month's PUE from the meters' 30-minute block energies
// by category (Reader.CategoryBlocks: the bill's energies, aggregated by
// InfluxDB), read a day at a time, or why there is none.
func monthPUE(ctx context.Context, reader *influx.Reader, site string, start, end time.Time) (float64, string, string) {
	byCat := map[string]*energy.Energy{}
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		cats, err := reader.CategoryBlocks(ctx, site, d, d.AddDate(0, 0, 1), 30*time.Minute)
		if err != nil {
			return 0, "", fmt.Sprintf("not computed: %v", err)
		}
		for c, blocks := range cats {
			e := byCat[c]
			if e == nil {
				e = &energy.Energy{}
				byCat[c] = e
			}
			for _, b := range blocks {
				e.KWh += b.KWh
				e.Covered += time.Duration(b.Coverage * float64(30*time.Minute))
			}
		}
	}
	if byCat[energy.CategoryIT] == nil {
		return 0, "", "not computed: no meter tagged category=it"
	}
	var ms []energy.MeterEnergy
	for c, e := range byCat {
		e.Span = end.Sub(start)
		ms = append(ms, energy.MeterEnergy{Meter: "category " + c, Tags: map[string]string{"category": c}, Start: start, End: end, Energy: *e})
	}
	// In a fixed order, so that a recomputed report on the same data sums
	// the same way (the archive adds no revision for an equal report).
	sort.Slice(ms, func(i, j int) bool { return ms[i].Meter < ms[j].Meter })
	p, err := energy.ComputePUE(ms, reportPUECategory)
	if err != nil {
		return 0, "", fmt.Sprintf("not computed: %v", err)
	}
	return p.Value, fmt.Sprintf("%s, coverage %.0f%%", p.Label(), 100*p.Coverage), ""
}

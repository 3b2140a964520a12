package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/tariff"
)

// shedBasis says how `cost --shed` estimates what a shed saved.
const shedBasis = "no measured baseline: per block in which demand control asked for a shed (stored demand points with request_kw), " +
	"baseline = min(predicted demand at the first shed tick, metered demand + largest request); " +
	"kW kept = baseline - max(metered demand, the 12-month maximum recorded then, else the limit), whole kW; " +
	"x basic unit price x power-factor factor x months protected (12 measured, the over-contract rate agreed); " +
	"kWh avoided = (baseline - metered demand) x block length, at the band of the block's start; " +
	"a month's or summer's basic saving is its largest (the blocks protect the same maximum), energy adds up"

// shedReport is the shed section of `setsuden cost --shed`.
type shedReport struct {
	Basis  string          `json:"basis"`
	Month  shedMonth       `json:"month"`
	Summer *shedSeason     `json:"summer,omitempty"`
	Events []shedEventView `json:"events"`
}

type shedMonth struct {
	Month          string  `json:"month"`
	PowerFactorPct float64 `json:"power_factor_pct"`
	tariff.ShedTotals
}

type shedSeason struct {
	Year   int         `json:"year"`
	Months []shedMonth `json:"months"`
	tariff.ShedTotals
}

type shedEventView struct {
	tariff.ShedEstimate
}

// monthBlocks are the metered blocks of one month, as cost reads them.
type monthBlocks struct {
	start  time.Time
	blocks []tariff.Block
	stored bool // from bill_block points, not the meters
}

// costShed values the shed blocks of the billed month (at its power
// factor) and, when the month is in the contract's summer, of the
// summer's months up to it (each at its own power factor), from the
// blocks already read for the bill.
func costShed(ctx context.Context, reader *influx.Reader, site string, priced config.Priced, month time.Time, bill tariff.Bill, months []monthBlocks) (*shedReport, []string, error) {
	rep := &shedReport{Basis: shedBasis, Events: []shedEventView{}}
	var warnings []string
	one := func(mb monthBlocks, pf float64) (shedMonth, []tariff.ShedEstimate, error) {
		start, end := tariff.MonthBounds(mb.start)
		shed, err := reader.ShedBlocks(ctx, site, start, end, 30*time.Minute)
		if err != nil {
			return shedMonth{}, nil, err
		}
		ev, tot, warn := tariff.EstimateShed(priced.Schedule, pf, priced, shed, mb.blocks, 30*time.Minute)
		warnings = append(warnings, warn...)
		return shedMonth{Month: start.Format("2006-01"), PowerFactorPct: pf, ShedTotals: tot}, ev, nil
	}
	last := months[len(months)-1]
	m, ev, err := one(last, bill.PowerFactorPct)
	if err != nil {
		return nil, nil, err
	}
	rep.Month = m
	for _, e := range ev {
		rep.Events = append(rep.Events, shedEventView{e})
	}
	c, ok := priced.Schedule.At(month)
	if !ok || !inSummer(c.Defaults(), month.Month()) {
		return rep, warnings, nil
	}
	season := &shedSeason{Year: month.Year()}
	for _, mb := range months {
		if mb.start.Year() != month.Year() || !inSummer(c.Defaults(), mb.start.Month()) {
			continue
		}
		sm := m
		if !mb.start.Equal(last.start) {
			pf := 0.0
			if b, err := tariff.Compute(tariff.MonthInput{Month: mb.start, Blocks: mb.blocks, Schedule: priced.Schedule, Adjustments: priced.Adjustments, Calendar: priced}); err == nil {
				pf = b.PowerFactorPct
			}
			if sm, _, err = one(mb, pf); err != nil {
				return nil, nil, err
			}
		}
		season.Months = append(season.Months, sm)
		season.ShedTotals = season.ShedTotals.Merge(sm.ShedTotals)
	}
	rep.Summer = season
	return rep, warnings, nil
}

func inSummer(c tariff.Contract, m time.Month) bool {
	for _, s := range c.SummerMonths {
		if s == m {
			return true
		}
	}
	return false
}

func writeShedText(w io.Writer, s *shedReport, loc *time.Location) error {
	fmt.Fprintf(w, "\nShed events of %s (estimate; %s)\n", s.Month.Month, s.Basis)
	if len(s.Events) == 0 {
		fmt.Fprintln(w, "no block in which demand control asked for a shed")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "block\tpredicted kW\trequest kW\tmetered kW\tline kW\tkW kept\tkWh avoided\tbasic yen\tenergy yen\ttotal yen\t")
		for _, e := range s.Events {
			fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%.1f\t%.0f\t%.0f\t%.0f\t\n", e.Start.In(loc).Format("2006-01-02 15:04"),
				e.FirstPredictedKW, e.RequestKW, e.AchievedKW, e.LineKW, e.KWKept, e.AvoidedKWh, e.BasicYen, e.EnergyYen, e.TotalYen)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	t := s.Month.ShedTotals
	fmt.Fprintf(w, "month %s: %d events, %.0f kW kept at most, %.1f kWh avoided: basic %.0f + energy %.0f = %.0f yen (PF %.0f%%)\n",
		s.Month.Month, t.Events, t.KWKept, t.AvoidedKWh, t.BasicYen, t.EnergyYen, t.TotalYen, s.Month.PowerFactorPct)
	if z := s.Summer; z != nil {
		for _, m := range z.Months {
			fmt.Fprintf(w, "  summer %d %s: %d events, %.0f yen\n", z.Year, m.Month, m.Events, m.TotalYen)
		}
		fmt.Fprintf(w, "summer %d so far: %d events, %.0f kW kept at most: basic %.0f + energy %.0f = %.0f yen\n",
			z.Year, z.Events, z.KWKept, z.BasicYen, z.EnergyYen, z.TotalYen)
	}
	return nil
}

func writeShedCSV(cw *csv.Writer, site string, s *shedReport) {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	for _, e := range s.Events {
		_ = cw.Write([]string{site, s.Month.Month, "shed " + e.Start.UTC().Format(time.RFC3339), f(e.KWKept), "kW kept", "", f(e.TotalYen)})
	}
	_ = cw.Write([]string{site, s.Month.Month, "shed total", f(float64(s.Month.Events)), "events", "", f(s.Month.TotalYen)})
	if z := s.Summer; z != nil {
		_ = cw.Write([]string{site, s.Month.Month, fmt.Sprintf("shed summer %d total", z.Year), f(float64(z.Events)), "events", "", f(z.TotalYen)})
	}
}

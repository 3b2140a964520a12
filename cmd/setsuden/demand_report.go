package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/demandctl"
)

// replayReport is what `demand replay` tells, in every format: per day the
// peak block (ranked by its estimate over the covered part, so a block
// that lost data does not silently stop being the peak), the predictions
// beside the formula's, the hours over each limit, the limits that drove
// the stages and why each stage changed, the coverage of every block; and
// for the range the caps from history with the hour their baseline came
// from, the peak and the predictors' errors.
type replayReport struct {
	Site          string              `json:"site"`
	Timezone      string              `json:"timezone"`
	From          string              `json:"from"`
	To            string              `json:"to"`
	Tick          string              `json:"tick"`
	Demand        string              `json:"demand_from"`
	PowerSamples  int                 `json:"power_samples"`
	Limits        []limitReport       `json:"limits"`
	Caps          []capReport         `json:"caps_from_history,omitempty"`
	Days          []dayReport         `json:"days"`
	Peak          *blockReport        `json:"peak,omitempty"`
	Accuracy      accuracyReport      `json:"accuracy"`
	Ticks         int                 `json:"ticks"`
	Transitions   int                 `json:"transitions"`
	ReadSeconds   float64             `json:"read_s"`
	ReplaySeconds float64             `json:"replay_s"`
	loc           *time.Location      `json:"-"`
	limits        []demand.Limit      `json:"-"`
	result        demand.ReplayResult `json:"-"`
}

type limitReport struct {
	Label string  `json:"label"`
	Kind  string  `json:"kind"`
	KW    float64 `json:"kw"`
	Block string  `json:"block,omitempty"`
}

type capReport struct {
	Label      string     `json:"label"`
	BaselineKW float64    `json:"baseline_kw,omitempty"`
	HourStart  *time.Time `json:"baseline_hour_start,omitempty"`
	HourEnd    *time.Time `json:"baseline_hour_end,omitempty"`
	Reduction  float64    `json:"reduction"`
	Variation  float64    `json:"variation,omitempty"`
	History    string     `json:"history"`
	Error      string     `json:"error,omitempty"`
}

type blockReport struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	KW          float64   `json:"kw"`
	EstimatedKW float64   `json:"estimated_kw"`
	Coverage    float64   `json:"coverage"`
	Estimated   bool      `json:"estimated"`
}

type predictionsReport struct {
	At10 *float64 `json:"at_10"`
	At20 *float64 `json:"at_20"`
	At25 *float64 `json:"at_25"`
}

type hoursReport struct {
	Limit   string  `json:"limit"`
	Kind    string  `json:"kind"`
	LimitKW float64 `json:"limit_kw"`
	Hours   float64 `json:"hours"`
	Blocks  int     `json:"blocks"`
	Applied int     `json:"blocks_applied"`
}

type coverageReport struct {
	Blocks int           `json:"blocks"`
	Min    float64       `json:"min"`
	Low    []blockReport `json:"below_full"`
}

type transitionReport struct {
	At           time.Time `json:"at"`
	From         string    `json:"from"`
	To           string    `json:"to"`
	Cause        string    `json:"cause"`
	Limit        string    `json:"limit,omitempty"`
	LimitKW      float64   `json:"limit_kw,omitempty"`
	PredictedKW  float64   `json:"predicted_kw"`
	CurrentKW    float64   `json:"current_kw"`
	AdjustmentKW float64   `json:"adjustment_kw"`
	Threshold    float64   `json:"threshold"`
	Reason       string    `json:"reason"`
}

type dayReport struct {
	Date          string             `json:"date"`
	Peak          *blockReport       `json:"peak"`
	Predicted     predictionsReport  `json:"predicted_kw"`
	Formula       predictionsReport  `json:"formula_kw"`
	MaxStage      string             `json:"max_stage"`
	StagesEntered []string           `json:"stages_entered"`
	DrivenBy      []string           `json:"driven_by"`
	HoursOver     []hoursReport      `json:"hours_over"`
	Coverage      coverageReport     `json:"coverage"`
	Transitions   []transitionReport `json:"transitions"`
}

type accuracyReport struct {
	Predictor    string    `json:"predictor"`
	Blocks       int       `json:"blocks"`
	Minutes      []int     `json:"minutes_into_block"`
	PredictorMAE []float64 `json:"predictor_mae_kw"`
	FormulaMAE   []float64 `json:"formula_mae_kw"`
}

func newBlockReport(p demand.BlockPeak) *blockReport {
	if p.Block.Start.IsZero() {
		return nil
	}
	return &blockReport{Start: p.Block.Start, End: p.Block.End, KW: round3(p.KW), EstimatedKW: round3(p.EstimatedKW),
		Coverage: round3(p.Coverage), Estimated: p.Estimated}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func optKW(x float64) *float64 {
	if math.IsNaN(x) {
		return nil
	}
	v := round3(x)
	return &v
}

func newReplayReport(site string, loc *time.Location, from, last time.Time, tick time.Duration, limits []demand.Limit,
	caps []demandctl.CapStatus, h demandctl.History, res demand.ReplayResult, read, replayed time.Duration) replayReport {
	r := replayReport{Site: site, Timezone: loc.String(), From: from.Format("2006-01-02"), To: last.Format("2006-01-02"),
		Tick: tick.String(), Demand: "power (trapezoid)", PowerSamples: len(h.Power), Limits: []limitReport{}, Days: []dayReport{},
		Peak: newBlockReport(res.Peak), Ticks: res.Ticks, Transitions: len(res.Transitions),
		ReadSeconds: read.Seconds(), ReplaySeconds: replayed.Seconds(), loc: loc, limits: limits, result: res}
	if h.Energy != nil {
		r.Demand = "energy registers"
	}
	for _, l := range limits {
		lr := limitReport{Label: l.Label(), Kind: l.Kind()}
		switch v := l.(type) {
		case demand.ContractLimit:
			lr.KW, lr.Block = v.KW, v.Block.String()
		case demand.CapLimit:
			lr.KW, lr.Block = v.KW(), v.Block.String()
		case demand.ExternalTarget:
			lr.KW = v.KW
		}
		r.Limits = append(r.Limits, lr)
	}
	for _, c := range caps {
		cr := capReport{Label: c.Label, BaselineKW: round3(c.BaselineKW), Reduction: c.Reduction, Variation: c.Variation, History: spansText(c.Spans)}
		if !c.BaselineHour.Start.IsZero() {
			s, e := c.BaselineHour.Start.In(loc), c.BaselineHour.End.In(loc)
			cr.HourStart, cr.HourEnd = &s, &e
		}
		if c.Err != nil {
			cr.Error = c.Err.Error()
		}
		r.Caps = append(r.Caps, cr)
	}
	a := res.Accuracy
	r.Accuracy = accuracyReport{Predictor: a.Predictor, Blocks: a.Blocks, Minutes: a.CheckpointsMins[:],
		PredictorMAE: []float64{round3(a.PredictorMAE[0]), round3(a.PredictorMAE[1]), round3(a.PredictorMAE[2])},
		FormulaMAE:   []float64{round3(a.FormulaMAE[0]), round3(a.FormulaMAE[1]), round3(a.FormulaMAE[2])}}
	for _, d := range res.Days {
		dr := dayReport{Date: d.Date, Peak: newBlockReport(d.Peak),
			Predicted: predictionsReport{optKW(d.PredictedAt10), optKW(d.PredictedAt20), optKW(d.PredictedAt25)},
			Formula:   predictionsReport{optKW(d.FormulaAt10), optKW(d.FormulaAt20), optKW(d.FormulaAt25)},
			MaxStage:  d.MaxStage.String(), StagesEntered: []string{}, DrivenBy: []string{}, HoursOver: []hoursReport{},
			Coverage:    coverageReport{Blocks: d.Coverage.Blocks, Min: round3(d.Coverage.Min), Low: []blockReport{}},
			Transitions: []transitionReport{}}
		for _, s := range d.StagesEntered {
			dr.StagesEntered = append(dr.StagesEntered, s.String())
		}
		dr.DrivenBy = append(dr.DrivenBy, d.DrivenBy...)
		for _, o := range d.OverLimit {
			dr.HoursOver = append(dr.HoursOver, hoursReport{Limit: o.Limit, Kind: o.Kind, LimitKW: round3(o.LimitKW), Hours: o.Hours, Blocks: o.Blocks, Applied: o.Applied})
		}
		for _, b := range d.Coverage.Low {
			dr.Coverage.Low = append(dr.Coverage.Low, *newBlockReport(b))
		}
		for _, t := range d.Transitions {
			dr.Transitions = append(dr.Transitions, transitionReport{At: t.At.In(loc), From: t.From.String(), To: t.To.String(), Cause: t.Cause,
				Limit: t.Limit, LimitKW: round3(t.LimitKW), PredictedKW: round3(t.PredictedKW), CurrentKW: round3(t.CurrentKW),
				AdjustmentKW: round3(t.AdjustmentKW), Threshold: round3(t.Threshold), Reason: t.Reason})
		}
		r.Days = append(r.Days, dr)
	}
	return r
}

func (r replayReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// limitLabels are the labels of the configured limits, for the CSV's
// hours-over columns.
func (r replayReport) limitLabels() []string {
	var out []string
	for _, l := range r.Limits {
		out = append(out, l.Label)
	}
	return out
}

// csvHeader and row are the same rows as the text table.
func (r replayReport) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"date", "peak_start", "peak_end", "peak_kw", "peak_estimated_kw", "peak_coverage", "peak_estimated",
		"pred_10", "pred_20", "pred_25", "formula_10", "formula_20", "formula_25", "max_stage", "stages_entered", "driven_by"}
	for _, l := range r.limitLabels() {
		head = append(head, "hours_over_"+l)
	}
	head = append(head, "blocks", "blocks_below_full_coverage", "min_coverage", "transitions")
	if err := cw.Write(head); err != nil {
		return err
	}
	f := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	for _, d := range r.Days {
		row := []string{d.Date, "", "", "", "", "", ""}
		if p := d.Peak; p != nil {
			row = []string{d.Date, p.Start.In(r.loc).Format(time.RFC3339), p.End.In(r.loc).Format(time.RFC3339),
				strconv.FormatFloat(p.KW, 'f', -1, 64), strconv.FormatFloat(p.EstimatedKW, 'f', -1, 64),
				strconv.FormatFloat(p.Coverage, 'f', -1, 64), strconv.FormatBool(p.Estimated)}
		}
		row = append(row, f(d.Predicted.At10), f(d.Predicted.At20), f(d.Predicted.At25), f(d.Formula.At10), f(d.Formula.At20), f(d.Formula.At25),
			d.MaxStage, strings.Join(d.StagesEntered, ";"), strings.Join(d.DrivenBy, ";"))
		for _, l := range r.limitLabels() {
			cell := ""
			for _, o := range d.HoursOver {
				if o.Limit == l {
					cell = strconv.FormatFloat(o.Hours, 'f', -1, 64)
				}
			}
			row = append(row, cell)
		}
		row = append(row, strconv.Itoa(d.Coverage.Blocks), strconv.Itoa(len(d.Coverage.Low)),
			strconv.FormatFloat(d.Coverage.Min, 'f', -1, 64), strconv.Itoa(len(d.Transitions)))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func (r replayReport) writeText(w io.Writer) {
	loc := r.loc
	fmt.Fprintf(w, "site %s (%s), %s..%s, tick %s, %s\n", r.Site, r.Timezone, r.From, r.To, r.Tick, limitsText(r.limits))
	for _, c := range r.Caps {
		switch {
		case c.Error != "":
			fmt.Fprintf(w, "cap %s from history: not in force: %s\n", c.Label, c.Error)
		case c.HourStart != nil:
			fmt.Fprintf(w, "cap %s from history (%s): baseline %.1f kW, the hour %s %s-%s; cut %.0f%%\n", c.Label, c.History, c.BaselineKW,
				c.HourStart.Format("2006-01-02"), c.HourStart.Format("15:04"), c.HourEnd.Format("15:04"), 100*c.Reduction)
		default:
			fmt.Fprintf(w, "cap %s from history (%s): cut %.0f%% (variation %.1f%%)\n", c.Label, c.History, 100*c.Reduction, 100*c.Variation)
		}
	}
	fmt.Fprintf(w, "%d power samples, demand from %s\n\n", r.PowerSamples, r.Demand)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE\tPEAK BLOCK\tPEAK KW\tCOVERAGE\tPRED@10\tPRED@20\tPRED@25\tFORMULA@10\tFORMULA@20\tFORMULA@25\tMAX STAGE\tSTAGES ENTERED\tDRIVEN BY\tHOURS OVER\tLOW COVERAGE")
	dash := func(s []string) string {
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ",")
	}
	opt := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f", *p)
	}
	for _, d := range r.Days {
		peak, kw, cov := "-", "-", "-"
		if p := d.Peak; p != nil {
			peak = p.Start.In(loc).Format("15:04") + "-" + p.End.In(loc).Format("15:04")
			kw, cov = fmt.Sprintf("%.1f", p.KW), fmt.Sprintf("%.0f%%", 100*p.Coverage)
			if p.Estimated {
				kw = fmt.Sprintf("%.1f~%.1f", p.KW, p.EstimatedKW) // measured ~ estimated over the covered part
			}
		}
		var over []string
		for _, o := range d.HoursOver {
			if o.Hours > 0 {
				over = append(over, fmt.Sprintf("%s:%gh", o.Limit, o.Hours))
			}
		}
		low := "-"
		if n := len(d.Coverage.Low); n > 0 {
			low = fmt.Sprintf("%d/%d(min%.0f%%)", n, d.Coverage.Blocks, 100*d.Coverage.Min)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Date, peak, kw, cov,
			opt(d.Predicted.At10), opt(d.Predicted.At20), opt(d.Predicted.At25), opt(d.Formula.At10), opt(d.Formula.At20), opt(d.Formula.At25),
			d.MaxStage, dash(d.StagesEntered), dash(d.DrivenBy), dash(over), low)
	}
	_ = tw.Flush()

	var changes, lows []string
	empty := 0
	for _, d := range r.Days {
		for _, t := range d.Transitions {
			line := fmt.Sprintf("  %s %s -> %s (%s", t.At.Format("2006-01-02 15:04:05"), t.From, t.To, t.Cause)
			if t.Limit != "" {
				line += fmt.Sprintf(", %s %.1f kW): predicted %.1f kW = %.1f%%, demand so far %.1f kW, adjustment %+.1f kW, threshold %.0f%%",
					t.Limit, t.LimitKW, t.PredictedKW, 100*t.PredictedKW/t.LimitKW, t.CurrentKW, t.AdjustmentKW, 100*t.Threshold)
			} else {
				line += ")"
			}
			changes = append(changes, line)
		}
		for _, b := range d.Coverage.Low {
			if b.Coverage == 0 {
				empty++
				continue
			}
			lows = append(lows, fmt.Sprintf("  %s %s-%s coverage %.0f%%: measured %.1f kW, estimated %.1f kW",
				b.Start.In(loc).Format("2006-01-02"), b.Start.In(loc).Format("15:04"), b.End.In(loc).Format("15:04"), 100*b.Coverage, b.KW, b.EstimatedKW))
		}
	}
	if len(changes) > 0 {
		fmt.Fprintf(w, "\nstage changes:\n%s\n", strings.Join(changes, "\n"))
	}
	if len(lows) > 0 {
		fmt.Fprintf(w, "\nblocks below full coverage (peaks ranked by the estimate):\n%s\n", strings.Join(lows, "\n"))
	}
	if empty > 0 {
		fmt.Fprintf(w, "%d blocks without any data (listed in --format json)\n", empty)
	}
	fmt.Fprintln(w)
	if p := r.Peak; p != nil {
		est := ""
		if p.Estimated {
			est = fmt.Sprintf(", estimated %.1f kW", p.EstimatedKW)
		}
		fmt.Fprintf(w, "peak of the range: %s %s-%s %.1f kW (coverage %.0f%%%s)\n",
			p.Start.In(loc).Format("2006-01-02"), p.Start.In(loc).Format("15:04"), p.End.In(loc).Format("15:04"), p.KW, 100*p.Coverage, est)
	}
	if a := r.Accuracy; a.Blocks > 0 {
		fmt.Fprintf(w, "prediction error (MAE) over %d blocks at 10/20/25 min: %s %.2f/%.2f/%.2f kW, formula %.2f/%.2f/%.2f kW\n",
			a.Blocks, a.Predictor, a.PredictorMAE[0], a.PredictorMAE[1], a.PredictorMAE[2], a.FormulaMAE[0], a.FormulaMAE[1], a.FormulaMAE[2])
	}
	shed := 0
	for _, d := range r.Days {
		if d.MaxStage == demand.StageShed.String() || d.MaxStage == demand.StageLimit.String() {
			shed++
		}
	}
	fmt.Fprintf(w, "%d of %d days reached shed or limit; %d transitions; %d ticks; read %s, replayed %s\n",
		shed, len(r.Days), r.Transitions, r.Ticks, secondsText(r.ReadSeconds), secondsText(r.ReplaySeconds))
}

func secondsText(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/config"
	"github.com/setsuden/setsuden/rules/energy"
	"github.com/setsuden/setsuden/rules/tariff"
)

const costUsage = `Usage:
  setsuden cost --config FILE --month YYYY-MM [--format text|json|csv] [--labels FILE] [--shed]
      the month's electricity bill rebuilt from the metered 30-minute blocks, line by line as a
      utility bill reads (contract kW and the block that set it, power factor, basic charge,
      energy by band, adjustments, total), with coverage and the month's CO2; with --labels
      (as for energy-vms), the bill and the CO2 shared per tenant and per service in proportion
      to their VMs' attributed kWh; with --shed, what each block demand control shed in saved
      (kW kept below the 12-month maximum x basic price x months protected, plus the kWh
      avoided at its band's price), totals for the month and, in summer, the summer so far
`

// costReport is what `setsuden cost` prints.
type costReport struct {
	Site string `json:"site"`
	tariff.Bill
	CO2      *tariff.CO2 `json:"co2,omitempty"`
	Supplier string      `json:"co2_supplier,omitempty"`
	// Tenants and Services share the bill by their VMs' attributed kWh.
	Tenants  []tariff.Allocation `json:"tenants,omitempty"`
	Services []tariff.Allocation `json:"services,omitempty"`
	VMs      []tariff.Allocation `json:"vms,omitempty"`
	// Shed is the value of the month's shed blocks (--shed).
	Shed *shedReport `json:"shed,omitempty"`
}

// cmdCost is `setsuden cost`.
func cmdCost(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, costUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (YAML) with a tariff: section")
	monthFlag := fs.String("month", "", "the month to bill, YYYY-MM in site.timezone")
	format := fs.String("format", "text", "text, json or csv")
	labelsPath := fs.String("labels", "", "VM labels (CSV vm,tenant,service or YAML): share the bill per tenant and service")
	withShed := fs.Bool("shed", false, "also value the month's shed blocks (from the stored demand points)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	bad := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "setsuden cost: "+format+"\n", a...)
		return errUsage
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case *path == "":
		return bad("--config FILE is required")
	case *format != "text" && *format != "json" && *format != "csv":
		return bad("--format %q: want text, json or csv", *format)
	}
	cfg, err := loadConfig(*path, true)
	if err != nil {
		return reportProblems(stderr, *path, err)
	}
	if len(cfg.Tariff.Contracts) == 0 {
		return fmt.Errorf("%s: tariff.contracts: no contract configured (expected the site's electricity contract; see setsuden.example.yaml)", *path)
	}
	loc, err := time.LoadLocation(cfg.Site.Timezone)
	if err != nil {
		return fmt.Errorf("%s: site.timezone: %w", *path, err)
	}
	month, err := time.ParseInLocation("2006-01", *monthFlag, loc)
	if err != nil {
		return bad("--month %q: want YYYY-MM", *monthFlag)
	}
	priced, probs := cfg.Tariff.Priced(loc)
	if len(probs) > 0 {
		return reportProblems(stderr, *path, probs)
	}
	reader := influx.NewReader(cfg.Influx.URL, cfg.Influx.Token, cfg.Influx.Org, cfg.Influx.Bucket)
	defer reader.Close()

	var labels map[string]energy.VMLabels
	if *labelsPath != "" {
		if labels, err = readVMLabels(*labelsPath); err != nil {
			return err
		}
	}
	rep, months, err := buildCost(ctx, reader, cfg.Site.Name, priced, month, costOptions{shares: *labelsPath != "", labels: labels, shed: *withShed}, newProgressLine(stderr))
	if err != nil {
		if errors.Is(err, errEmission) {
			return fmt.Errorf("%s: %w", *path, err)
		}
		return err
	}
	stored := 0
	for _, m := range months {
		if m.stored {
			stored++
		}
	}
	fmt.Fprintf(stderr, "blocks of %d months from stored bill_block points, %d from the meters\n", stored, len(months)-stored)
	for _, w := range rep.Warnings {
		fmt.Fprintln(stderr, "setsuden cost: warning:", w)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		return writeCostCSV(stdout, rep)
	}
	return writeCostText(stdout, rep, loc)
}

// errEmission marks a missing emission factor (a configuration problem).
var errEmission = errors.New("tariff.emission")

// costOptions are what a cost report adds to the bill: the shares per
// tenant, service and VM (labels: the VMs' tenant and service, may be nil)
// and the value of the shed blocks.
type costOptions struct {
	shares bool
	labels map[string]energy.VMLabels
	shed   bool
}

// buildCost is the month's cost report as setsuden cost prints it and
// GET /api/v1/cost answers: the bill, its CO2, and as asked the shares and
// the shed blocks' value; with the months of blocks it read.
func buildCost(ctx context.Context, reader *influx.Reader, site string, priced config.Priced, month time.Time, opt costOptions, progress *progressLine) (costReport, []monthBlocks, error) {
	bill, months, err := readBill(ctx, reader, site, priced, month, progress)
	if err != nil {
		return costReport{}, nil, fmt.Errorf("bill of %s: %w", month.Format("2006-01"), err)
	}
	rep := costReport{Site: site, Bill: bill}
	if priced.Supplier != "" {
		f, err := tariff.FactorFor(priced.Factors, priced.Supplier, month.Year())
		if err != nil {
			return costReport{}, nil, fmt.Errorf("%w: %w", errEmission, err)
		}
		c := f.Emissions(bill.EnergyKWh)
		rep.CO2, rep.Supplier = &c, fmt.Sprintf("%s %d", f.Supplier, f.Year)
	}
	if opt.shares {
		if err := allocateBill(ctx, &rep, reader, opt.labels, month); err != nil {
			return costReport{}, nil, err
		}
	}
	if opt.shed {
		shed, warn, err := costShed(ctx, reader, site, priced, month, bill, months)
		if err != nil {
			return costReport{}, nil, err
		}
		rep.Shed, rep.Warnings = shed, append(rep.Warnings, warn...)
	}
	return rep, months, nil
}

// readBill rebuilds the month's bill from the month and the 11 before it
// (their maxima set the contract kW), read a month at a time: the stored
// bill_block points where they cover the month (the daemon writes them at
// each block end), else the meters aggregated per block in InfluxDB; it
// returns the months' blocks too, oldest first.
func readBill(ctx context.Context, reader *influx.Reader, site string, priced config.Priced, month time.Time, progress *progressLine) (tariff.Bill, []monthBlocks, error) {
	in := tariff.MonthInput{Month: month, Schedule: priced.Schedule, Adjustments: priced.Adjustments, Calendar: priced}
	var months []monthBlocks
	for i := 11; i >= 0; i-- {
		m := month.AddDate(0, -i, 0)
		start, end := tariff.MonthBounds(m)
		progress.update("reading 12 months of 30-minute blocks", float64(11-i)/12)
		blocks, stored, err := reader.MonthBillBlocks(ctx, site, start, end, 30*time.Minute)
		if err != nil {
			progress.done()
			return tariff.Bill{}, nil, err
		}
		months = append(months, monthBlocks{start: start, blocks: blocks, stored: stored})
		if i == 0 {
			in.Blocks = blocks
			continue
		}
		if mm, ok := monthMax(start, blocks); ok {
			in.Prior = append(in.Prior, mm)
		}
	}
	progress.update("reading 12 months of 30-minute blocks", 1)
	progress.done()
	bill, err := tariff.Compute(in)
	return bill, months, err
}

// allocateBill shares the bill over tenants and services by the month's VM
// energy attribution (the same as setsuden energy-vms, with its defaults).
func allocateBill(ctx context.Context, rep *costReport, reader *influx.Reader, labels map[string]energy.VMLabels, month time.Time) error {
	start, end := tariff.MonthBounds(month)
	const maxGap = 5 * time.Minute
	hosts, err := reader.HostEnergySeries(ctx, rep.Site, start.Add(-maxGap), end.Add(maxGap))
	if err != nil {
		return err
	}
	res, err := attributeHosts(hosts, start, end, time.Hour, maxGap, 150, 400)
	if err != nil {
		return err
	}
	totals := energy.TotalsByLabel(res.vms, labels)
	shares := func(groups []energy.GroupKWh) []tariff.Share {
		out := make([]tariff.Share, len(groups))
		for i, g := range groups {
			out[i] = tariff.Share{Name: g.Name, KWh: g.KWh}
		}
		return out
	}
	rep.Tenants = tariff.Allocate(rep.TotalYen, rep.CO2, shares(totals.Tenants))
	rep.Services = tariff.Allocate(rep.TotalYen, rep.CO2, shares(totals.Services))
	vms := make([]tariff.Share, len(res.vms))
	for i, v := range res.vms {
		vms[i] = tariff.Share{Name: v.VM, KWh: v.KWh}
	}
	rep.VMs = tariff.Allocate(rep.TotalYen, rep.CO2, vms)
	if len(rep.Tenants) == 0 {
		rep.Warnings = append(rep.Warnings, "no VM energy attributed in the month: nothing shared per tenant or service")
	}
	return nil
}

// monthMax is a month's highest block, for the 12-month maximum.
func monthMax(start time.Time, blocks []tariff.Block) (tariff.MonthMax, bool) {
	mm := tariff.MonthMax{Month: start.Format("2006-01")}
	var cov float64
	for _, b := range blocks {
		cov += b.Coverage
		if kw := b.KWh / 0.5; b.Coverage > 0 && kw > mm.KW {
			mm.KW, mm.Block = kw, b.Start
		}
	}
	if len(blocks) > 0 {
		mm.Coverage = cov / float64(len(blocks))
	}
	return mm, mm.Coverage > 0
}

func writeCostText(w io.Writer, r costReport, loc *time.Location) error {
	b := r.Bill
	fmt.Fprintf(w, "Electricity bill of %s, %s (%v)\n\n", r.Site, b.Month, b.Contracts)
	fmt.Fprintf(w, "maximum demand    %6.0f kW  block %s\n", b.MaxDemandKW, b.MaxBlock.In(loc).Format("2006-01-02 15:04"))
	setBy := "this month"
	if b.SetBy.Month == "agreed" {
		setBy = "agreed contract"
	} else if b.SetBy.Month != b.Month {
		setBy = "block " + b.SetBy.Block.In(loc).Format("2006-01-02 15:04")
	}
	fmt.Fprintf(w, "contract kW       %6.0f kW  set by %s\n", b.ContractKW, setBy)
	fmt.Fprintf(w, "power factor      %6.0f %%   basic charge %+.0f%%\n", b.PowerFactorPct, b.PFAdjustPct)
	fmt.Fprintf(w, "coverage          %6.1f %%   (%d of %d blocks have data)\n\n", 100*b.Coverage.Fraction, b.Coverage.BlocksWithData, b.Coverage.Blocks)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "item\tquantity\tunit\tunit price (yen)\tyen\t")
	for _, l := range b.Lines {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%.4f\t%.0f\t\n", l.Item, l.Quantity, l.Unit, l.UnitPrice, l.Yen)
	}
	fmt.Fprintf(tw, "total\t\t\t\t%.0f\t\n", b.TotalYen)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Shed != nil {
		if err := writeShedText(w, r.Shed, loc); err != nil {
			return err
		}
	}
	if r.CO2 != nil {
		fmt.Fprintf(w, "\nCO2 (%s): %.0f kg location-based, %.0f kg adjusted, for %.0f kWh\n", r.Supplier, r.CO2.LocationKg, r.CO2.AdjustedKg, r.CO2.KWh)
	}
	for _, g := range []struct {
		name string
		rows []tariff.Allocation
	}{{"TENANT", r.Tenants}, {"SERVICE", r.Services}, {"VM", r.VMs}} {
		if len(g.rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nshared by attributed VM kWh:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tKWH\tSHARE\tYEN\tCO2_KG\n", g.name)
		for _, a := range g.rows {
			fmt.Fprintf(tw, "%s\t%.3f\t%.1f%%\t%.0f\t%.1f\n", a.Name, a.KWh, a.SharePct, a.Yen, a.CO2LocationKg)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func writeCostCSV(w io.Writer, r costReport) error {
	cw := csv.NewWriter(w)
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	_ = cw.Write([]string{"site", "month", "item", "quantity", "unit", "unit_price_yen", "yen"})
	for _, l := range r.Lines {
		_ = cw.Write([]string{r.Site, r.Month, l.Item, f(l.Quantity), l.Unit, f(l.UnitPrice), f(l.Yen)})
	}
	_ = cw.Write([]string{r.Site, r.Month, "total", "", "", "", f(r.TotalYen)})
	_ = cw.Write([]string{r.Site, r.Month, "contract kW", f(r.ContractKW), "kW", "", ""})
	_ = cw.Write([]string{r.Site, r.Month, "power factor", f(r.PowerFactorPct), "%", "", ""})
	_ = cw.Write([]string{r.Site, r.Month, "coverage", f(r.Coverage.Fraction), "", "", ""})
	if r.Shed != nil {
		writeShedCSV(cw, r.Site, r.Shed)
	}
	if r.CO2 != nil {
		_ = cw.Write([]string{r.Site, r.Month, "co2 location-based", f(r.CO2.LocationKg), "kg", "", ""})
		_ = cw.Write([]string{r.Site, r.Month, "co2 adjusted", f(r.CO2.AdjustedKg), "kg", "", ""})
	}
	for _, a := range r.Tenants {
		_ = cw.Write([]string{r.Site, r.Month, "tenant " + spreadsheetText(a.Name), f(a.KWh), "kWh", "", f(a.Yen)})
	}
	for _, a := range r.Services {
		_ = cw.Write([]string{r.Site, r.Month, "service " + spreadsheetText(a.Name), f(a.KWh), "kWh", "", f(a.Yen)})
	}
	for _, a := range r.VMs {
		_ = cw.Write([]string{r.Site, r.Month, "vm " + spreadsheetText(a.Name), f(a.KWh), "kWh", "", f(a.Yen)})
	}
	cw.Flush()
	return cw.Error()
}

// spreadsheetText keeps a name from being read as a formula by a
// spreadsheet that opens the CSV (a leading =, +, -, @ gets a quote).
func spreadsheetText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

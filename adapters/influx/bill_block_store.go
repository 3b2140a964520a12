package influx

import (
	"context"
	"fmt"
	"time"

	"github.com/setsuden/setsuden/rules/tariff"
)

// MeasurementBillBlock is the stored bill block (docs/schema.md): one
// point per site and billing block, written by the demand controller at
// each block end with the figures BillBlocks computes from the meters.
const MeasurementBillBlock = "bill_block"

// StoredBillBlocks returns the stored `bill_block` points of the site in
// [from, to), aligned to block, and whether they cover every block of the
// range (then a bill can use them instead of the raw meters). One InfluxQL
// query of one row per block: a year of a site is 17,520 rows however many
// meters it has.
func (r *Reader) StoredBillBlocks(ctx context.Context, site string, from, to time.Time, block time.Duration) ([]tariff.Block, bool, error) {
	start, stop, err := demandRange(site, from, to, block)
	if err != nil {
		return nil, false, err
	}
	q := fmt.Sprintf(`SELECT "kwh", "kvarh", "coverage", "has_reactive" FROM %q WHERE "site" = %s AND time >= %d AND time < %d`,
		MeasurementBillBlock, influxQLString(site), start.UnixNano(), stop.UnixNano())
	series, err := r.influxQLWindows(ctx, q)
	if err != nil {
		return nil, false, fmt.Errorf("stored bill blocks of %q %s..%s: %w", site, fluxTime(start), fluxTime(stop), err)
	}
	fields := map[string]map[int64]any{}
	for _, s := range series {
		fields[s.field] = s.values
	}
	n := int(stop.Sub(start) / block)
	out := make([]tariff.Block, n)
	complete := true
	for i := range out {
		b := tariff.Block{Start: start.Add(time.Duration(i) * block)}
		w := b.Start.UnixNano()
		kwh, ok := fields["kwh"][w]
		if !ok {
			complete = false
		}
		b.KWh = windowNumber(kwh)
		b.KVarh = windowNumber(fields["kvarh"][w])
		b.Coverage = windowNumber(fields["coverage"][w])
		b.HasReactive, _ = fields["has_reactive"][w].(bool)
		out[i] = b
	}
	return out, complete, nil
}

// MonthBillBlocks is the bill's read of one month: the stored bill blocks
// when they cover every block of it, else BillBlocks from the meters a
// day at a time; it says which it used.
func (r *Reader) MonthBillBlocks(ctx context.Context, site string, from, to time.Time, block time.Duration) ([]tariff.Block, bool, error) {
	stored, complete, err := r.StoredBillBlocks(ctx, site, from, to, block)
	if err == nil && complete {
		return stored, true, nil
	}
	// From the meters a day at a time: a month, or even a week, of a
	// large site in one response outlasts the client's 20-s timeout
	// (1,000 meters, BenchmarkBill1000Meters). A meter's coverage is then
	// over the day's blocks.
	var raw []tariff.Block
	for start := from; start.Before(to); start = start.Add(rawChunk) {
		end := start.Add(rawChunk)
		if end.After(to) {
			end = to
		}
		part, err := r.BillBlocks(ctx, site, start, end, block)
		if err != nil {
			return nil, false, err
		}
		raw = append(raw, part...)
	}
	return raw, false, nil
}

// rawChunk is the span of one bill read from the meters.
const rawChunk = 24 * time.Hour

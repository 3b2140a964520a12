package demandctl

import (
	"context"
	"time"

	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/rules/demand"
	"github.com/setsuden/setsuden/rules/tariff"
)

// MeasurementBillBlock is the stored bill block (docs/schema.md).
const MeasurementBillBlock = "bill_block"

// BillBlockReader computes a site's bill blocks from the meters
// (adapters/influx Reader.BillBlocks): kWh, reactive energy and coverage.
// When the store is one, the controller writes a `bill_block` point at
// each block end, so a bill reads one point per block however many
// meters the site has.
type BillBlockReader interface {
	BillBlocks(ctx context.Context, site string, from, to time.Time, block time.Duration) ([]tariff.Block, error)
}

// billBlockSpan is how much is read to write one bill block: its coverage
// is its sample count over the most of any block of the span (as a
// month's read has it, over a day here).
const billBlockSpan = 24 * time.Hour

// billBlock is the bill's block length (rules/tariff: Japanese contracts).
const billBlock = 30 * time.Minute

// writeBillBlock writes the bill block of b once its data is in; a failed
// read or write is logged (the bill falls back to the meters).
func (c *Controller) writeBillBlock(ctx context.Context, b demand.Block) {
	br, ok := c.cfg.Store.(BillBlockReader)
	if !ok || b.Length() != billBlock {
		return // the bill is on 30-minute blocks
	}
	blocks, err := br.BillBlocks(ctx, c.cfg.Site, b.End.Add(-billBlockSpan), b.End, b.Length())
	if err != nil || len(blocks) == 0 {
		c.log.Warn("bill block not written; the bill reads the meters for it", "block", b.Start.Format(time.RFC3339), "err", err)
		return
	}
	last := blocks[len(blocks)-1]
	if !last.Start.Equal(b.Start) {
		c.log.Warn("bill block not written: the read did not end with it", "block", b.Start.Format(time.RFC3339), "last", last.Start.Format(time.RFC3339))
		return
	}
	if err := c.cfg.Points.Write(ctx, []point.Point{BillBlockPoint(c.cfg.Site, last)}); err != nil {
		c.log.Warn("bill block point not queued", "block", b.Start.Format(time.RFC3339), "err", err)
	}
}

// BillBlockPoint is a `bill_block` point.
func BillBlockPoint(site string, b tariff.Block) point.Point {
	return point.Point{Measurement: MeasurementBillBlock, Tags: map[string]string{"site": site},
		Fields: map[string]any{"kwh": finite(b.KWh), "kvarh": finite(b.KVarh), "coverage": finite(b.Coverage), "has_reactive": b.HasReactive},
		Time:   b.Start}
}

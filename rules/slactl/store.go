package slactl

import (
	"context"

	"github.com/setsuden/setsuden/collector/point"
)

// PointWriter is the write path (adapters/influx *Writer): Write queues
// and returns, it does not wait for InfluxDB.
type PointWriter interface {
	Write(ctx context.Context, pts []point.Point) error
}

// Notifier posts events to the outside (adapters/webhook *Sender). Send
// must not block.
type Notifier interface {
	Send(event string, body []byte)
}

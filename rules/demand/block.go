package demand

import (
	"fmt"
	"time"
)

// Block is one fixed, clock-aligned demand block [Start, End).
type Block struct {
	Start, End time.Time
}

// Length is End − Start.
func (b Block) Length() time.Duration { return b.End.Sub(b.Start) }

// Contains reports whether t is in [Start, End).
func (b Block) Contains(t time.Time) bool { return !t.Before(b.Start) && t.Before(b.End) }

// String is the block in RFC 3339 form.
func (b Block) String() string {
	return b.Start.Format(time.RFC3339) + "/" + b.End.Format(time.RFC3339)
}

// BlockOf returns the block of the given length that contains t, aligned to
// the wall clock of loc (nil = UTC): 30-minute blocks start at :00 and :30
// local time, 60-minute blocks on the local hour. Blocks are fixed, never
// rolling (sla_peak.md §2.1: "always a fixed … window, never a rolling
// window"; the meter itself publishes the 30-minute boundaries, ECHONET
// 0xEA).
//
// Alignment uses the zone offset in force at t, so a zone whose offset is
// not a whole hour (Asia/Kolkata, +5:30) gets hourly blocks at 10:00 local
// = 04:30 UTC. Across a daylight-saving change the offset moves by a whole
// hour, which keeps blocks of 15, 30 and 60 minutes contiguous.
func BlockOf(t time.Time, length time.Duration, loc *time.Location) Block {
	if loc == nil {
		loc = time.UTC
	}
	if length <= 0 {
		length = 30 * time.Minute
	}
	_, off := t.In(loc).Zone()
	// Wall-clock nanoseconds since the Unix epoch, then floor to length.
	wall := t.UnixNano() + int64(off)*int64(time.Second)
	rem := wall % int64(length)
	if rem < 0 {
		rem += int64(length)
	}
	start := t.Add(-time.Duration(rem)).In(loc)
	return Block{Start: start, End: start.Add(length)}
}

// ValidBlockLength checks a block length: 15, 30 or 60 minutes, the
// lengths tariffs and regulations use (30 min Japanese billing, 15 min
// European capacity tariffs, 60 min the 2011 hourly cap; sla_peak.md §5b).
func ValidBlockLength(d time.Duration) error {
	switch d {
	case 15 * time.Minute, 30 * time.Minute, 60 * time.Minute:
		return nil
	}
	return fmt.Errorf("block length %s: must be 15m, 30m or 60m", d)
}

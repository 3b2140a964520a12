package influx

// flight is the batch the last Peek handed out, until it is acknowledged
// (delivered) or reported unsent. A bound may drop lines from the head of
// the queue while that batch is on its way to InfluxDB: those lines are
// counted as dropped only if the batch is not delivered, so that a point
// counted dropped is never also stored.
type flight struct {
	first, end uint64 // the batch: sequence numbers [first, end); empty when equal
	held       []heldDrop
}

// heldDrop is a range of in-flight lines dropped from the queue, not yet
// counted.
type heldDrop struct {
	reason   string
	from, to uint64
}

// begin starts the flight of the batch [first, end). A previous flight
// still open was not acknowledged: its held drops are counted.
func (f *flight) begin(first, end uint64, drop dropFunc) {
	f.settle(0, drop)
	f.first, f.end = first, end
}

// drop counts the lines [from, to) dropped for reason, holding back those
// of the batch in flight.
func (f *flight) drop(reason string, from, to uint64, drop dropFunc) {
	if to <= from {
		return
	}
	lo, hi := max(from, f.first), min(to, f.end)
	if lo >= hi {
		drop(reason, int(to-from))
		return
	}
	if n := int(lo-from) + int(to-hi); n > 0 {
		drop(reason, n)
	}
	f.held = append(f.held, heldDrop{reason: reason, from: lo, to: hi})
}

// settle ends the flight: lines below delivered reached InfluxDB, the held
// drops at or past it are counted.
func (f *flight) settle(delivered uint64, drop dropFunc) {
	for _, h := range f.held {
		if from := max(h.from, delivered); h.to > from {
			drop(h.reason, int(h.to-from))
		}
	}
	f.held = f.held[:0]
	f.first, f.end = 0, 0
}

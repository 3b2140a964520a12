package influx

// flight is the batch the last Peek handed out, until it is acknowledged
// (delivered) or reported unsent. A bound may drop lines from the head of
// the queue while that batch is on its way to InfluxDB: those lines are
// counted as dropped only if the batch is not delivered, so that a point
// counted dropped is never also stored.
//
// A write that got no answer (a timeout, a connection reset after the
// request went out, a 5xx) may still have been stored. The lines it carried
// are remembered (unanswered): if a bound drops them before a later write
// is acknowledged they are counted as dropUnanswered, apart from the
// points known lost, because InfluxDB may hold them.
type flight struct {
	first, end uint64 // the batch: sequence numbers [first, end); empty when equal
	held       []heldDrop
	// unanswered: the queued lines below it were sent in a write that got
	// no answer.
	unanswered uint64
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
		f.count(reason, from, to, drop)
		return
	}
	f.count(reason, from, lo, drop)
	f.count(reason, hi, to, drop)
	f.held = append(f.held, heldDrop{reason: reason, from: lo, to: hi})
}

// count counts the dropped lines [from, to): those a write without an
// answer carried as dropUnanswered, the others for reason.
func (f *flight) count(reason string, from, to uint64, drop dropFunc) {
	if to <= from {
		return
	}
	if mid := min(max(f.unanswered, from), to); mid > from {
		drop(dropUnanswered, int(mid-from))
		from = mid
	}
	if to > from {
		drop(reason, int(to-from))
	}
}

// noAnswer records that the batch in flight was sent without an answer;
// it returns whether that moved the mark (the disk queue then saves it).
func (f *flight) noAnswer() bool {
	if f.end <= f.unanswered {
		return false
	}
	f.unanswered = f.end
	return true
}

// settle ends the flight: lines below delivered reached InfluxDB, the held
// drops at or past it are counted.
func (f *flight) settle(delivered uint64, drop dropFunc) {
	for _, h := range f.held {
		f.count(h.reason, max(h.from, delivered), h.to, drop)
	}
	f.held = f.held[:0]
	f.first, f.end = 0, 0
}

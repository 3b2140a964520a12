package sla

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Check is one probe result.
type Check struct {
	At         time.Time
	OK         bool
	ResponseMs float64
	Error      string
}

// CheckPolicy turns check results into confirmed states (research §5a,
// "DOWN"): N_fail consecutive failures confirm DOWN, back-dated to the first
// failure; N_ok consecutive successes end it, timestamped at the first
// success; no check for longer than StaleAfter makes the state UNKNOWN.
type CheckPolicy struct {
	// Interval is the expected spacing of checks.
	Interval time.Duration
	// FailuresToConfirm is N_fail (default 3).
	FailuresToConfirm int
	// OKsToRecover is N_ok (default 2).
	OKsToRecover int
	// StaleAfter is the longest gap between checks that is not missing
	// data (default 3 x Interval).
	StaleAfter time.Duration
}

// CauseNoData labels UNKNOWN time from missing check results.
const CauseNoData = "no data"

// WithDefaults fills unset fields.
func (p CheckPolicy) WithDefaults() CheckPolicy {
	if p.FailuresToConfirm <= 0 {
		p.FailuresToConfirm = 3
	}
	if p.OKsToRecover <= 0 {
		p.OKsToRecover = 2
	}
	if p.StaleAfter <= 0 {
		p.StaleAfter = 3 * p.Interval
	}
	return p
}

// Validate reports what is wrong with the policy.
func (p CheckPolicy) Validate() error {
	if p.Interval <= 0 {
		return errors.New("check policy: interval must be positive")
	}
	if p = p.WithDefaults(); p.StaleAfter < p.Interval {
		return fmt.Errorf("check policy: stale_after %s is shorter than the interval %s", p.StaleAfter, p.Interval)
	}
	return nil
}

// Debouncer follows one probe's checks and emits confirmed state changes.
// It is fed in time order; it holds no clock of its own (Advance is told
// the time). Changes are emitted in time order, but a DOWN is emitted when
// it is confirmed with the time of the first failure, so the state before
// Settled may still change; callers that need final state use Settled.
type Debouncer struct {
	p       CheckPolicy
	state   State // last emitted
	started bool
	last    time.Time

	failRun   int
	failStart time.Time
	failErr   string
	okRun     int
	okStart   time.Time
}

// NewDebouncer returns a debouncer in state UNKNOWN.
func NewDebouncer(p CheckPolicy) *Debouncer {
	return &Debouncer{p: p.WithDefaults()}
}

// State is the last confirmed state.
func (d *Debouncer) State() State { return d.state }

// Observe takes the next check. A check not after the previous one is
// ignored (duplicates, clock steps).
func (d *Debouncer) Observe(c Check) []StateChange {
	if d.started && !c.At.After(d.last) {
		return nil
	}
	var out []StateChange
	if d.started && c.At.Sub(d.last) > d.p.StaleAfter {
		out = d.goStale()
	}
	d.started = true
	d.last = c.At
	if c.OK {
		pending := d.failRun > 0
		d.failRun = 0
		switch d.state {
		case StateDown:
			if d.okRun == 0 {
				d.okStart = c.At
			}
			d.okRun++
			if d.okRun >= d.p.OKsToRecover {
				out = d.emit(out, d.okStart, StateUp, "")
				d.okRun = 0
			}
		case StateUnknown:
			at := c.At
			if pending {
				// The unconfirmed failures were valid data: up (soft state).
				at = d.failStart
			}
			out = d.emit(out, at, StateUp, "")
		}
		return out
	}
	d.okRun = 0
	if d.state == StateDown {
		return out
	}
	if d.failRun == 0 {
		d.failStart, d.failErr = c.At, c.Error
	}
	d.failRun++
	if d.failRun >= d.p.FailuresToConfirm {
		cause := d.failErr
		if cause == "" {
			cause = "check failed"
		}
		out = d.emit(out, d.failStart, StateDown, cause)
		d.failRun = 0
	}
	return out
}

// Advance tells the debouncer the time is now; if no check has come for
// longer than StaleAfter the state becomes UNKNOWN from when the missing
// check was due.
func (d *Debouncer) Advance(now time.Time) []StateChange {
	if !d.started || now.Sub(d.last) <= d.p.StaleAfter {
		return nil
	}
	return d.goStale()
}

// Settled is the time before which the emitted timeline is final, given
// that the time is now (call Advance(now) first).
func (d *Debouncer) Settled(now time.Time) time.Time {
	switch {
	case d.failRun > 0:
		return d.failStart
	case d.state == StateDown && d.okRun > 0:
		return d.okStart
	case d.started && d.state != StateUnknown:
		if due := d.last.Add(d.p.Interval); due.Before(now) {
			return due
		}
	}
	return now
}

func (d *Debouncer) goStale() []StateChange {
	var out []StateChange
	if d.state == StateUnknown && d.failRun > 0 {
		out = d.emit(out, d.failStart, StateUp, "")
	}
	d.failRun, d.okRun = 0, 0
	return d.emit(out, d.last.Add(d.p.Interval), StateUnknown, CauseNoData)
}

func (d *Debouncer) emit(out []StateChange, at time.Time, s State, cause string) []StateChange {
	if s == d.state {
		return out
	}
	d.state = s
	return append(out, StateChange{At: at, State: s, Cause: cause})
}

// ChangesFromChecks runs checks (any order) through a debouncer and
// advances it to until.
func ChangesFromChecks(checks []Check, p CheckPolicy, until time.Time) []StateChange {
	sorted := make([]Check, len(checks))
	copy(sorted, checks)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	d := NewDebouncer(p)
	var out []StateChange
	for _, c := range sorted {
		if c.At.After(until) {
			break
		}
		out = append(out, d.Observe(c)...)
	}
	return append(out, d.Advance(until)...)
}

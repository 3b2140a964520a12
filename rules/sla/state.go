package sla

import (
	"fmt"
	"strings"
	"time"
)

// State is the class of a stretch of time for one service or component.
// The zero value is StateUnknown: no data is never silently up or down.
type State uint8

const (
	// StateUnknown: no valid observation (monitor or collector down, data
	// stale, nothing received yet).
	StateUnknown State = iota
	// StateUp: observed working.
	StateUp
	// StateDown: a confirmed failure.
	StateDown
	// StatePlanned: inside maintenance announced with the SLA's notice.
	// Observers may write it for live views; an evaluation only trusts the
	// audited maintenance records and treats a stored PLANNED without one
	// as unannounced maintenance (down).
	StatePlanned
)

var stateNames = [...]string{"UNKNOWN", "UP", "DOWN", "PLANNED"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// ParseState reads UP, DOWN, UNKNOWN or PLANNED (any case).
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if strings.EqualFold(s, n) {
			return State(i), nil
		}
	}
	return StateUnknown, fmt.Errorf("unknown state %q (expected UP, DOWN, UNKNOWN or PLANNED)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Severity grades a DOWN observation. An SLA counts DOWN as downtime only
// at or above its DownSeverity; below it the time is UP and reported as
// degraded. Zabbix treats any non-OK severity as downtime and users asked
// for a threshold (ZBXNEXT-10547, research §1.1); these are its levels.
type Severity uint8

const (
	// SeverityUnset is a DOWN observation without a grade; it always counts
	// as downtime (the customer-fair reading).
	SeverityUnset Severity = iota
	SeverityInfo
	SeverityWarning
	SeverityAverage
	SeverityHigh
	SeverityDisaster
)

var severityNames = [...]string{"", "info", "warning", "average", "high", "disaster"}

func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("Severity(%d)", s)
}

// ParseSeverity reads info, warning, average, high or disaster; "" is unset.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return SeverityUnset, fmt.Errorf("unknown severity %q (expected info, warning, average, high or disaster)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Causes with a meaning of their own in the report.
const (
	// CauseEnergyAction marks downtime caused by setsuden's own energy
	// actions (consolidation, host power-off); the report shows it on its
	// own line (research §5a, energy section).
	CauseEnergyAction = "energy-action"
	// CauseShortNotice is maintenance announced with less than the notice
	// period: it counts as downtime.
	CauseShortNotice = "short-notice maintenance"
	// CauseOverrun is downtime that continued past the end of a planned
	// maintenance window.
	CauseOverrun = "maintenance overrun"
	// CauseUnannounced is an observed PLANNED state with no qualifying
	// maintenance record behind it.
	CauseUnannounced = "unannounced maintenance"
)

// StateChange says that from At on, the subject is in State. Changes of one
// subject form its timeline; a change that repeats the current state and
// cause is harmless.
type StateChange struct {
	At       time.Time `json:"at"`
	State    State     `json:"state"`
	Cause    string    `json:"cause,omitempty"`
	Severity Severity  `json:"severity,omitempty"`
}

func (c StateChange) same(o StateChange) bool {
	return c.State == o.State && c.Cause == o.Cause && c.Severity == o.Severity
}

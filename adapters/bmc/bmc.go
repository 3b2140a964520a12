// Package bmc switches hosts off and on through their baseboard management
// controllers: IPMI over LAN (RMCP+, github.com/bougou/go-ipmi), Redfish
// (github.com/stmcginnis/gofish) and Wake-on-LAN (power on only). Each type
// has the same three methods, which is the power interface the shedding
// executor (rules/executor) defines; the executor owns the policy (soft off
// first, hard off only after a wait and only if the host is still empty).
package bmc

import (
	"context"
	"errors"
	"fmt"
)

// ErrUnsupported is returned by a method a controller cannot do (a
// Wake-on-LAN sender cannot power off or read power).
var ErrUnsupported = errors.New("not supported by this controller")

// Error names the BMC and the operation that failed.
type Error struct {
	Kind string // ipmi, redfish, wol
	Addr string
	Op   string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("bmc %s %s: %s: %v", e.Kind, e.Addr, e.Op, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// WakeThenOther powers on by Wake-on-LAN and does everything else (power
// state, power off) through other, for hosts whose BMC cannot power on.
type WakeThenOther struct {
	Wake  *WakeOnLAN
	Other interface {
		PowerIsOn(ctx context.Context) (bool, error)
		PowerOff(ctx context.Context, hard bool) error
	}
}

// PowerIsOn asks Other.
func (w WakeThenOther) PowerIsOn(ctx context.Context) (bool, error) { return w.Other.PowerIsOn(ctx) }

// PowerOff asks Other.
func (w WakeThenOther) PowerOff(ctx context.Context, hard bool) error {
	return w.Other.PowerOff(ctx, hard)
}

// PowerOn sends the magic packet.
func (w WakeThenOther) PowerOn(ctx context.Context) error { return w.Wake.PowerOn(ctx) }

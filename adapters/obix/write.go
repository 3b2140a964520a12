package obix

import (
	"context"
	"fmt"
	"math"
	"time"
)

// WriteAndVerify writes value to the point at href (see Write) and reads
// the point back, so that a write the gateway acknowledged but did not
// carry out (rounded, clamped, overridden by a higher priority, ignored)
// is caught: it returns the value read back and, when it differs from the
// one written, an error naming the href and both values. These are the
// writes facility shedding uses: a set-point (float64, <real>) and an
// on/off command (bool).
//
// Reals compare equal within a part in 10^9 (servers store doubles and may
// print them shorter); other kinds compare exactly. A read-back whose
// value is null or whose status is not ok (fault, down, overridden, ...)
// is an error too: the point does not hold what was written.
func (c *Client) WriteAndVerify(ctx context.Context, href string, value any) (Value, error) {
	in, err := valueObj(value)
	if err != nil {
		return Value{}, fmt.Errorf("write %s: %w", href, err)
	}
	want, err := parseVal(in.Kind, in.Val, in.TZ)
	if err != nil {
		return Value{}, fmt.Errorf("write %s: %w", href, err)
	}
	if _, err := c.Write(ctx, href, in); err != nil {
		return Value{}, err
	}
	o, err := c.Read(ctx, href)
	if err != nil {
		return Value{}, fmt.Errorf("write %s: reading it back: %w", href, err)
	}
	got, err := ValueOf(o, time.Now())
	if err != nil {
		return got, fmt.Errorf("write %s: reading it back: %w", href, err)
	}
	if got.Value == nil {
		return got, fmt.Errorf("write %s: wrote %s, read back null (status %s)", href, in.Val, got.Status)
	}
	if !sameValue(want, got.Value) {
		return got, fmt.Errorf("write %s: wrote %v, read back %v", href, want, got.Value)
	}
	if st := normalStatus(got.Status); st != "ok" {
		return got, fmt.Errorf("write %s: wrote %v, read back %v with status %s", href, want, got.Value, st)
	}
	return got, nil
}

// sameValue compares a written value with the one read back.
func sameValue(want, got any) bool {
	switch w := want.(type) {
	case float64:
		var g float64
		switch x := got.(type) {
		case float64:
			g = x
		case int64:
			g = float64(x)
		default:
			return false
		}
		if w == g {
			return true
		}
		return math.Abs(w-g) <= 1e-9*math.Max(math.Abs(w), math.Abs(g))
	case time.Time:
		g, ok := got.(time.Time)
		return ok && w.Equal(g)
	}
	return want == got
}

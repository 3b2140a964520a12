package obix

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testobixd"
)

// TestWriteAndVerifyAgainstObixd writes the set-point (real) and the
// on/off command (bool) that facility shedding uses to obixd in its own
// process and reads them back; gateways that round the value or
// acknowledge and ignore the write are caught with both values named.
func TestWriteAndVerifyAgainstObixd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const (
		setpoint = "/obix/config/AHU1/SupplyAirSetpoint/"
		enable   = "/obix/config/AHU1/Enable/"
	)
	t.Run("faithful", func(t *testing.T) {
		gw := testobixd.Start(t)
		c := &Client{BaseURL: gw.URL + "/obix"}
		v, err := c.WriteAndVerify(ctx, setpoint, 24.5)
		if err != nil || v.Value != 24.5 {
			t.Fatalf("set-point 24.5: read back %v, %v", v.Value, err)
		}
		for _, on := range []bool{false, true} {
			v, err := c.WriteAndVerify(ctx, enable, on)
			if err != nil || v.Value != on {
				t.Fatalf("enable %v: read back %v, %v", on, v.Value, err)
			}
		}
		// The gateway holds the values: another client reads them.
		o, err := (&Client{BaseURL: gw.URL + "/obix/"}).Read(ctx, "config/AHU1/SupplyAirSetpoint/")
		if err != nil || o.Val != "24.5" {
			t.Fatalf("set-point as stored: %v, %v", o, err)
		}
		_, err = c.WriteAndVerify(ctx, "/obix/config/AHU1/SupplyAirTemp/", 20.0)
		if err == nil || !strings.Contains(err.Error(), "SupplyAirTemp") || !strings.Contains(err.Error(), "PermissionErr") {
			t.Errorf("write to a read-only point: %v (want a PermissionErr naming the href)", err)
		}
		if _, err := c.WriteAndVerify(ctx, enable, 1.5); err == nil {
			t.Error("a real written to a bool point was accepted")
		}
	})
	for _, quirk := range []struct{ name, want string }{
		{"round", "wrote 24.5, read back 24"},
		{"ignore", "wrote 24.5, read back 18"},
	} {
		t.Run(quirk.name, func(t *testing.T) {
			gw := testobixd.Start(t, "--write-quirk", quirk.name)
			c := &Client{BaseURL: gw.URL + "/obix/"}
			_, err := c.WriteAndVerify(ctx, setpoint, 24.5)
			if err == nil || !strings.Contains(err.Error(), setpoint) || !strings.Contains(err.Error(), quirk.want) {
				t.Errorf("got %v, want an error naming %s and %q", err, setpoint, quirk.want)
			}
		})
	}
}

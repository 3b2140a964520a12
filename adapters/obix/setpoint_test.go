package obix

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/internal/testobixd"
)

// TestSetPointsAgainstObixd: the executor's set-point writer writes a
// set-point on a named obixd gateway, reads it back and reads it again
// as the gateway stores it; a gateway that rounds or ignores the write is
// an error naming the point and both values; points that name no
// configured gateway are refused with the names configured.
func TestSetPointsAgainstObixd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const href = "/obix/config/AHU1/SupplyAirSetpoint/"
	gw := testobixd.Start(t)
	sp := NewSetPoints(map[string]*Client{"bms": {BaseURL: gw.URL + "/obix/"}})
	if v, err := sp.Read(ctx, "bms:"+href); err != nil || v != 18 {
		t.Fatalf("read before writing: %v, %v (want obixd's initial 18)", v, err)
	}
	if err := sp.Write(ctx, "bms:"+href, 24.5); err != nil {
		t.Fatalf("write 24.5: %v", err)
	}
	if v, err := sp.Read(ctx, "bms:"+href); err != nil || v != 24.5 {
		t.Fatalf("read after writing 24.5: %v, %v", v, err)
	}
	// Another client sees the value the gateway stores.
	if o, err := (&Client{BaseURL: gw.URL + "/obix/"}).Read(ctx, href); err != nil || o.Val != "24.5" {
		t.Fatalf("stored: %+v, %v", o, err)
	}
	if !strings.Contains(gw.Ctl(t, "log"), "PUT "+href) && !strings.Contains(gw.Ctl(t, "log"), "POST "+href) {
		t.Errorf("obixd saw no write of %s:\n%s", href, gw.Ctl(t, "log"))
	}
	// A bare href is the only gateway's.
	if err := sp.Write(ctx, href, 19); err != nil {
		t.Fatalf("bare href, one gateway: %v", err)
	}
	if v, _ := sp.Read(ctx, href); v != 19 {
		t.Fatalf("bare href read back %v, want 19", v)
	}
	// Not a number.
	if _, err := sp.Read(ctx, "bms:/obix/config/AHU1/Enable/"); err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("read of a bool point: %v (want not a number)", err)
	}
	// Points that name no gateway.
	two := NewSetPoints(map[string]*Client{"bms": {BaseURL: gw.URL + "/obix/"}, "chw": {BaseURL: gw.URL + "/obix/"}})
	for _, c := range []struct {
		sp    *SetPoints
		point string
		want  string
	}{
		{sp, "crac:" + href, `gateway "crac" is not in obix.gateways (configured: bms`},
		{two, href, "names no gateway (want GATEWAY:HREF with GATEWAY one of obix.gateways: bms, chw)"},
		{sp, "bms:", "empty or not a path"},
		{sp, "http://gw.example/obix/x", `gateway "http" is not in obix.gateways`},
	} {
		if err := c.sp.Write(ctx, c.point, 20); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("write %q: %v (want %q)", c.point, err, c.want)
		}
	}
	for _, quirk := range []struct{ name, want string }{
		{"round", "wrote 24.5, read back 24"},
		{"ignore", "wrote 24.5, read back 18"},
	} {
		t.Run(quirk.name, func(t *testing.T) {
			gw := testobixd.Start(t, "--write-quirk", quirk.name)
			sp := NewSetPoints(map[string]*Client{"bms": {BaseURL: gw.URL + "/obix/"}})
			err := sp.Write(ctx, "bms:"+href, 24.5)
			if err == nil || !strings.Contains(err.Error(), href) || !strings.Contains(err.Error(), quirk.want) {
				t.Errorf("got %v, want an error naming %s and %q", err, href, quirk.want)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// writeEnergyDay stores, every minute from 2024-07-02 23:50 to 2024-07-04
// 00:10 Tokyo time, site dc1's
//
//	it-1     (it, room A, rack R1)   10 kW, kwh_total     a Tokyo day: 240 kWh from the register
//	it-2     (it, room A, rack R2)   20 kW, no register                480 kWh integrated
//	incomer  (facility, no room)     45 kW, kwh_total                 1080 kWh
//
// so the day's PUE is 1080 / (240 + 480) = 1.5.
func writeEnergyDay(t *testing.T, db *influx.Influxd) {
	t.Helper()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	var pts []point.Point
	t1, t2 := 1000.0, 50000.0
	for tt := time.Date(2024, 7, 2, 23, 50, 0, 0, tokyo); !tt.After(time.Date(2024, 7, 4, 0, 10, 0, 0, tokyo)); tt = tt.Add(time.Minute) {
		pts = append(pts,
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "it-1", "category": "it", "room": "A", "rack": "R1"},
				Fields: map[string]any{"kw": 10.0, "kwh_total": t1}, Time: tt},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "it-2", "category": "it", "room": "A", "rack": "R2"},
				Fields: map[string]any{"kw": 20.0}, Time: tt},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "incomer", "category": "facility"},
				Fields: map[string]any{"kw": 45.0, "kwh_total": t2}, Time: tt},
		)
		t1 += 10.0 / 60
		t2 += 45.0 / 60
	}
	testinflux.Write(t, db, pts)
}

// energyRows returns the table rows of out, fields split on spaces.
func energyRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "2024-") {
			rows = append(rows, strings.Fields(line))
		}
	}
	return rows
}

func TestEnergyOnInfluxd(t *testing.T) {
	db := testinflux.Start(t)
	writeEnergyDay(t, db)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), "")
	energyCmd := func(args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		if err := cmdEnergy(context.Background(), append([]string{"--config", conf}, args...), &out, &errb); err != nil {
			t.Fatalf("energy %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out.String(), errb.String())
		}
		t.Logf("energy %v:\n%s%s", args, out.String(), errb.String())
		return out.String(), errb.String()
	}
	check := func(name, out string, want [][]string) {
		t.Helper()
		got := energyRows(out)
		if len(got) != len(want) {
			t.Errorf("%s: %d rows %v, want %v", name, len(got), got, want)
			return
		}
		for i := range want {
			if strings.Join(got[i], " ") != strings.Join(want[i], " ") {
				t.Errorf("%s row %d = %v, want %v", name, i, got[i], want[i])
			}
		}
	}
	const pue = "interim PUE (category 2) 2024-07-03..2024-07-03: 1.50 = 1080.0 kWh facility meters / 720.0 kWh IT (cooling 0.0 kWh), coverage 100%"

	out, errOut := energyCmd("--from", "2024-07-03", "--to", "2024-07-03")
	check("by meter", out, [][]string{
		{"2024-07-03", "incomer", "facility", "1080.0", "100%", "kwh_total"},
		{"2024-07-03", "it-1", "it", "240.0", "100%", "kwh_total"},
		{"2024-07-03", "it-2", "it", "480.0", "100%", "kw"},
	})
	if !strings.Contains(out, pue) {
		t.Errorf("no line %q in\n%s", pue, out)
	}
	if errOut != "" {
		t.Errorf("stderr for one day: %q, want nothing (no progress)", errOut)
	}

	out, _ = energyCmd("--from", "2024-07-03", "--to", "2024-07-03", "--by", "rack")
	check("by rack", out, [][]string{
		{"2024-07-03", "dc1/A/R1", "240.0", "100%", "1"},
		{"2024-07-03", "dc1/A/R2", "480.0", "100%", "1"},
	})
	out, _ = energyCmd("--from", "2024-07-03", "--to", "2024-07-03", "--by", "room")
	check("by room", out, [][]string{{"2024-07-03", "dc1/A", "720.0", "100%", "2"}})

	// Two days by month: 2024-07-04 has only its first 10 minutes (of 45,
	// 10 and 20 kW): the month is 1080 + 7.5 kWh of the facility meter
	// over 1450 of 2880 minutes; PUE (1087.5 / 725 = 1.5) with coverage
	// 1450/2880 = 50%.
	out, errOut = energyCmd("--from", "2024-07-03", "--to", "2024-07-04", "--by", "site", "--period", "month")
	check("by site", out, [][]string{{"2024-07", "dc1", "1087.5", "50%", "1"}})
	if want := "1.50 = 1087.5 kWh facility meters / 725.0 kWh IT (cooling 0.0 kWh), coverage 50%"; !strings.Contains(out, want) {
		t.Errorf("no %q in\n%s", want, out)
	}
	if !strings.Contains(errOut, "reading meters 100%") {
		t.Errorf("no progress on stderr:\n%s", errOut)
	}
}

func TestEnergyUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--config", "x.yaml", "--by", "floor"},
		{"--config", "x.yaml", "--period", "week"},
		{"--config", "x.yaml", "--pue-category", "4"},
	} {
		var out, errb bytes.Buffer
		if err := cmdEnergy(context.Background(), args, &out, &errb); err != errUsage {
			t.Errorf("energy %v: %v, want a usage error", args, err)
		}
	}
}

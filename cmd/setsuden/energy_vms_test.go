package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
)

// writeVMDay stores, every minute from 2024-07-02 23:50 to 2024-07-04
// 00:10 Tokyo time, site dc1's
//
//	hv-1 (8 CPUs), metered by pdu-h1 (for_host=hv-1): 100 W + 200 W × util
//	  vm-a  4 vCPUs, cpu_util alternating 0.25 / 0.75 by minute (mean 0.5)
//	  vm-b  2 vCPUs, cpu_util 0.5
//	  host util = (4·a + 2·0.5)/8: 0.25 / 0.5, power 150 / 200 W
//	hv-2 (8 CPUs), no meter: nameplate 150 W idle, 400 W max
//	  vm-c  4 vCPUs, cpu_util 0.5 → host util 0.25
//	  vm-d  2 vCPUs, shut off (no CPU, no idle share)
//	other (no for_host): 5 kW
func writeVMDay(t *testing.T, db *influx.Influxd) {
	t.Helper()
	writeVMDayIn(t, db, 2024, time.July)
}

// writeVMDayIn is writeVMDay in another month: from 23:50 on its 2nd to
// 00:10 on its 4th.
func writeVMDayIn(t *testing.T, db *influx.Influxd, year int, month time.Month) {
	t.Helper()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	var pts []point.Point
	i := 0
	for tt := time.Date(year, month, 2, 23, 50, 0, 0, tokyo); !tt.After(time.Date(year, month, 4, 0, 10, 0, 0, tokyo)); tt = tt.Add(time.Minute) {
		a := 0.25
		if i%2 == 1 {
			a = 0.75
		}
		i++
		u1 := (4*a + 2*0.5) / 8
		vm := func(host, name string, util float64, vcpus int64, state string) point.Point {
			f := map[string]any{"vcpus": vcpus, "state": state}
			if state == "running" {
				f["cpu_util"] = util
			}
			return point.Point{Measurement: "vm", Tags: map[string]string{"site": "dc1", "host": host, "vm": name, "uuid": name}, Fields: f, Time: tt}
		}
		pts = append(pts,
			point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": "hv-1"}, Fields: map[string]any{"cpu_util": u1, "cpus": int64(8)}, Time: tt},
			point.Point{Measurement: "host", Tags: map[string]string{"site": "dc1", "host": "hv-2"}, Fields: map[string]any{"cpu_util": 0.25, "cpus": int64(8)}, Time: tt},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-h1", "for_host": "hv-1", "category": "it"}, Fields: map[string]any{"kw": (100 + 200*u1) / 1000}, Time: tt},
			point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "other", "category": "it"}, Fields: map[string]any{"kw": 5.0}, Time: tt},
			vm("hv-1", "vm-a", a, 4, "running"),
			vm("hv-1", "vm-b", 0.5, 2, "running"),
			vm("hv-2", "vm-c", 0.5, 4, "running"),
			vm("hv-2", "vm-d", 0, 2, "shutoff"),
		)
	}
	testinflux.Write(t, db, pts)
}

// By hand, over the Tokyo day 2024-07-03 (24 h):
//
//	hv-1: mean util 0.375 → 175 W → 4.2 kWh; idle 100 W → 2.4 kWh, active 1.8 kWh.
//	      CPU time a:b = 4·0.5 : 2·0.5 = 2:1 → active 1.2 / 0.6;
//	      idle by vCPUs 4:2 → 1.6 / 0.8.  vm-a 2.8, vm-b 1.4 kWh.
//	hv-2: 150 + 250·0.25 = 212.5 W → 5.1 kWh (idle 3.6, active 1.5), all vm-c.
//	Tenants (a, b: acme; c: globex): acme 4.2, globex 5.1.
//	Services (a, c: web; b: db): db 1.4, web 7.9.
func TestEnergyVMsOnInfluxd(t *testing.T) {
	db := testinflux.Start(t)
	writeVMDay(t, db)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), "")
	dir := t.TempDir()
	csvLabels := filepath.Join(dir, "labels.csv")
	yamlLabels := filepath.Join(dir, "labels.yaml")
	if err := os.WriteFile(csvLabels, []byte("vm,tenant,service\nvm-a,acme,web\nvm-b,acme,db\nvm-c,globex,web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(yamlLabels, []byte("vm-a: {tenant: acme, service: web}\nvm-b: {tenant: acme, service: db}\nvm-c: {tenant: globex, service: web}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, labels := range []string{csvLabels, yamlLabels} {
		var out, errb bytes.Buffer
		err := cmdEnergyVMs(context.Background(), []string{"--config", conf, "--from", "2024-07-03", "--to", "2024-07-03", "--labels", labels}, &out, &errb)
		if err != nil {
			t.Fatalf("energy-vms: %v\n%s%s", err, out.String(), errb.String())
		}
		t.Logf("energy-vms --labels %s:\n%s", filepath.Base(labels), out.String())
		rows := map[string]string{}
		for _, line := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				rows[f[0]] = strings.Join(f, " ")
			}
		}
		for _, want := range []string{
			"hv-1 fitted 100.0 200.0 1.000 1440 meter pdu-h1 4.200 100% 2.400 1.800 0.000",
			"hv-2 nameplate 150.0 250.0 - - model 5.100 100% 3.600 1.500 0.000",
			"vm-a hv-1 acme web 1.600 1.200 2.800",
			"vm-b hv-1 acme db 0.800 0.600 1.400",
			"vm-c hv-2 globex web 3.600 1.500 5.100",
			"acme 2 2.400 1.800 4.200",
			"globex 1 3.600 1.500 5.100",
			"db 1 0.800 0.600 1.400",
			"web 2 5.200 2.700 7.900",
		} {
			k := strings.Fields(want)[0]
			if rows[k] != want {
				t.Errorf("row %s = %q, want %q", k, rows[k], want)
			}
		}
		if _, ok := rows["vm-d"]; ok {
			t.Errorf("shut-off vm-d attributed:\n%s", out.String())
		}
		if !strings.Contains(out.String(), "VMs total 9.300 kWh") {
			t.Errorf("no total 9.3 kWh in\n%s", out.String())
		}
	}

	// Without labels everything is (unlabelled).
	var out, errb bytes.Buffer
	if err := cmdEnergyVMs(context.Background(), []string{"--config", conf, "--from", "2024-07-03", "--to", "2024-07-03"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Join(strings.Fields(line), " ") == "(unlabelled) 3 6.000 3.300 9.300" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("want one (unlabelled) tenant and service of 3 VMs, 9.3 kWh, in\n%s", out.String())
	}
}

func TestEnergyVMsUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--config", "x.yaml", "--idle-w", "500", "--max-w", "400"},
		{"--config", "x.yaml", "--slot", "0s"},
		{"--config", "x.yaml", "extra"},
	} {
		var out, errb bytes.Buffer
		if err := cmdEnergyVMs(context.Background(), args, &out, &errb); err != errUsage {
			t.Errorf("energy-vms %v: %v, want a usage error", args, err)
		}
	}
}

func TestReadVMLabelsErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"bad.csv":  "vm-a,acme,web,extra\n",
		"bad.yaml": "vm-a: {tenant: acme, owner: x}\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readVMLabels(p); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

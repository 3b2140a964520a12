package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/setsuden/setsuden/adapters/influx"
	"github.com/setsuden/setsuden/collector/point"
	"github.com/setsuden/setsuden/internal/testinflux"
	"github.com/setsuden/setsuden/server"
)

// TestRunSeriesFromTheRollupEqualsTheSamples: `setsuden run` on a real
// influxd holding 60 days of 1-minute power of two meters (one with an hour
// of 10 samples, one with an hour of none) and an hourly rollup of the
// first 10 days from before the sums and counts (means only, all wrong)
// rolls the history up again with sums and counts, then serves
// GET /api/v1/series over the 60 days (1-day windows, read from the rollup
// and the samples after it) with exactly the figures the samples give
// (Flux aggregateWindow over the samples, read here), per meter and
// summed. GET /api/v1/sites serves the tree and refuses a customer.
func TestRunSeriesFromTheRollupEqualsTheSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("starts influxd and setsuden run")
	}
	db := testinflux.Start(t)
	now := time.Now().UTC().Truncate(time.Minute)
	start := now.Add(-60 * 24 * time.Hour)
	short := start.Add(30 * 24 * time.Hour).Truncate(time.Hour) // pdu-a: 10 samples of 100 kW
	gap := start.Add(20 * 24 * time.Hour).Truncate(time.Hour)   // pdu-b: none
	var pts []point.Point
	for at := start; !at.After(now); at = at.Add(time.Minute) {
		h := float64(at.Hour()) + float64(at.Minute())/60
		a := 18 + 3*math.Sin(h/24*2*math.Pi)
		if hr := at.Truncate(time.Hour); hr.Equal(short) {
			if at.Sub(hr) >= 10*time.Minute {
				a = math.NaN()
			} else {
				a = 100
			}
		}
		if !math.IsNaN(a) {
			pts = append(pts, point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-a", "room": "A", "rack": "A01", "category": "it"}, Fields: map[string]any{"kw": a}, Time: at})
		}
		if !at.Truncate(time.Hour).Equal(gap) {
			pts = append(pts, point.Point{Measurement: "power", Tags: map[string]string{"site": "dc1", "meter": "pdu-b", "room": "A", "rack": "A02", "category": "it"}, Fields: map[string]any{"kw": 11 + float64(at.Minute()%7)/10}, Time: at})
		}
	}
	// A rollup from before the sums and counts: means only, and wrong.
	for at := start.Truncate(time.Hour); at.Before(start.Add(10 * 24 * time.Hour)); at = at.Add(time.Hour) {
		for _, m := range []string{"pdu-a", "pdu-b"} {
			pts = append(pts, point.Point{Measurement: "power_1h", Tags: map[string]string{"site": "dc1", "meter": m, "room": "A", "rack": map[string]string{"pdu-a": "A01", "pdu-b": "A02"}[m], "category": "it"}, Fields: map[string]any{"kw": 999.0}, Time: at})
		}
	}
	testinflux.Write(t, db, pts)

	hash := viewerHash(t)
	conf := writeDemandConfig(t, db.URL, db.Bucket(), `server:
  listen: "127.0.0.1:0"
  users:
    - {name: vera, role: viewer, password_hash: '`+hash+`'}
    - {name: cora, role: customer, customer: "Demo Corp.", password_hash: '`+hash+`'}
`)
	d := startDaemon(t, buildBinary(t), conf)
	line := d.waitLog(t, 60*time.Second, "setsuden running", "ui=")
	base := regexp.MustCompile(`ui=(http://[0-9.:]+)`).FindStringSubmatch(line)[1]
	get := func(path, user string) (int, []byte) {
		t.Helper()
		resp, err := getAs(base+path, user, viewerPassword)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	until := regexp.MustCompile(`setsuden_series_rollup_until_timestamp_seconds\{field="kw",measurement="power"\} ([0-9.e+]+)`)
	waitFor(t, 3*time.Minute, "the hourly rollup of power to reach the last two hours", func() bool {
		_, b := get("/metrics", "vera")
		m := until.FindSubmatch(b)
		if m == nil {
			return false
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v > 0 && now.Sub(time.Unix(int64(v), 0)) < 2*time.Hour
	})

	r := influx.NewReader(db.URL, "", "", db.Bucket())
	defer r.Close()
	path := fmt.Sprintf("/api/v1/series?measurement=power&field=kw&points=100&from=%s&to=%s", start.Format(time.RFC3339), now.Format(time.RFC3339))
	for _, sum := range []bool{false, true} {
		code, body := get(path+"&sum="+strconv.FormatBool(sum), "vera")
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var v server.SeriesView
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if v.EveryS != 86400 {
			t.Fatalf("every_s %d, want 1-day windows", v.EveryS)
		}
		raw, err := r.Series(context.Background(), influx.SeriesQuery{Measurement: "power", Field: "kw", Site: "dc1", From: v.From, To: v.To, Every: 24 * time.Hour, Fn: "mean"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[int64]float64{}
		for _, s := range raw {
			key := s.Tags["meter"]
			if sum {
				key = ""
			}
			if want[key] == nil {
				want[key] = map[int64]float64{}
			}
			for i, at := range s.Times {
				want[key][at.Unix()] += s.Values[i]
			}
		}
		if len(v.Series) != len(want) {
			t.Fatalf("sum=%v: %d series, want %d", sum, len(v.Series), len(want))
		}
		for _, s := range v.Series {
			key := s.Tags["meter"]
			if sum {
				key = ""
			}
			w := want[key]
			if len(s.T) != len(w) || len(w) < 60 {
				t.Fatalf("sum=%v %q: %d windows, the samples give %d", sum, key, len(s.T), len(w))
			}
			for i, at := range s.T {
				wv, ok := w[at]
				if !ok || math.Abs(s.V[i]-wv) > 1e-9*math.Abs(wv) {
					t.Errorf("sum=%v %q window ending %s: %v, the samples give %v", sum, key, time.Unix(at, 0).UTC(), s.V[i], wv)
				}
			}
		}
	}

	// The overview tree (encoded once per snapshot, server's
	// TestSitesEncodedOncePerSnapshot), and a customer refused.
	code, body := get("/api/v1/sites", "vera")
	var tree server.SiteView
	if code != 200 || json.Unmarshal(body, &tree) != nil || len(tree.Rooms) != 1 || len(tree.Rooms[0].Racks) != 2 || tree.Rooms[0].Racks[0].Meters[0].Meter != "pdu-a" {
		t.Fatalf("GET /api/v1/sites: %d %s", code, body)
	}
	if code, body := get("/api/v1/sites", "cora"); code != 403 || bytes.Contains(body, []byte("pdu-a")) {
		t.Errorf("a customer got %d %s, want 403 without the tree", code, body)
	}
}

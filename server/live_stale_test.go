package server

import (
	"testing"
	"time"

	"github.com/setsuden/setsuden/collector"
)

// A meter this process polls is stale by its own interval, not the fixed
// 2 minutes: down (not answered in 3 intervals) or its stored reading older
// than twice that. Meters of other processes keep the fixed rule.
func TestMarkStaleBySourceInterval(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	snap := Snapshot{Meters: []MeterReading{
		{Meter: "down", Time: now.Add(-20 * time.Second), Fields: map[string]float64{"kw": 5}},
		{Meter: "up", Time: now.Add(-5 * time.Second), Fields: map[string]float64{"kw": 7}},
		{Meter: "lagging", Time: now.Add(-70 * time.Second), Fields: map[string]float64{"kw": 11}},
		{Meter: "slow", Time: now.Add(-170 * time.Second), Fields: map[string]float64{"kw": 13}, Stale: true},
		{Meter: "other-shard", Time: now.Add(-3 * time.Minute), Fields: map[string]float64{"kw": 17}, Stale: true},
	}, Hosts: []HostReading{{Host: "h1", Time: now.Add(-time.Minute)}}}
	sources := []collector.Status{
		{Name: "down", Up: false, StaleAfter: 30 * time.Second},
		{Name: "up", Up: true, StaleAfter: 30 * time.Second},
		{Name: "lagging", Up: true, StaleAfter: 30 * time.Second},
		{Name: "slow", Up: true, StaleAfter: 3 * time.Minute}, // a 60 s meter, 170 s old: not stale
		{Name: "h1", Up: false, StaleAfter: 30 * time.Second},
	}
	markStale(&snap, sources, now)
	want := map[string]bool{"down": true, "up": false, "lagging": true, "slow": false, "other-shard": true}
	for _, m := range snap.Meters {
		if m.Stale != want[m.Meter] {
			t.Errorf("%s: stale %v, want %v", m.Meter, m.Stale, want[m.Meter])
		}
	}
	if !snap.Hosts[0].Stale {
		t.Error("host h1 down but not stale")
	}
	if snap.TotalKW != 7+13 {
		t.Errorf("total %v kW, want the live meters' 20", snap.TotalKW)
	}
}

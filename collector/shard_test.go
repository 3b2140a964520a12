package collector

import (
	"fmt"
	"testing"
)

func TestShardsPartitionSources(t *testing.T) {
	const n, devices = 3, 3000
	owners := make([]int, devices)
	per := make([]int, n)
	for i := 1; i <= n; i++ {
		s, err := ParseShard(fmt.Sprintf("%d/%d", i, n))
		if err != nil {
			t.Fatal(err)
		}
		for d := 0; d < devices; d++ {
			if s.Owns(fmt.Sprintf("pdu-%04d", d)) {
				owners[d]++
				per[i-1]++
			}
		}
	}
	for d, o := range owners {
		if o != 1 {
			t.Fatalf("device %d owned by %d shards, want exactly 1", d, o)
		}
	}
	for i, c := range per {
		if c < devices/n*8/10 || c > devices/n*12/10 {
			t.Errorf("shard %d has %d devices, want about %d", i+1, c, devices/n)
		}
	}
}

func TestParseShardErrors(t *testing.T) {
	for _, bad := range []string{"0/3", "4/3", "x/3", "1/0", "1", "1/2/3"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if s, err := ParseShard(""); err != nil || !s.Owns("anything") {
		t.Error("empty shard must own everything")
	}
}

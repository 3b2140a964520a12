package server

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingReader answers every build with a meter whose kW is the build's
// number, so that each snapshot differs from the one before.
type countingReader struct {
	queries atomic.Int64
}

func (c *countingReader) Latest(ctx context.Context, m, site string, _ time.Duration) ([]Sample, error) {
	n := c.queries.Add(1)
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
	}
	if m != "power" {
		return nil, nil
	}
	kw := float64((n + 2) / 3)
	return []Sample{
		{Field: "kw", Tags: map[string]string{"site": site, "meter": "pdu-secret-a1", "room": "A", "rack": "A01"}, Time: time.Now(), Value: kw},
		{Field: "kw", Tags: map[string]string{"site": site, "meter": "crac-1", "room": "A"}, Time: time.Now(), Value: 7.0},
	}, nil
}

// TestSitesEncodedOncePerSnapshot: 50 parallel GET /api/v1/sites on one
// snapshot cost one encoding and all get the same bytes, those of
// json.Marshal(BuildSiteView(snapshot)) (what the handler sent before);
// a new snapshot gives a new body; a customer is refused and never gets
// the tree's bytes.
func TestSitesEncodedOncePerSnapshot(t *testing.T) {
	reader := &countingReader{}
	live := NewLive("dc1", reader, nil, time.Hour, nil)
	r := newRig(t, func(c *Config) { c.Live = live })

	get := func(n int, user string) []response {
		out := make([]response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = r.do("GET", "/api/v1/sites", "", as(user))
			}()
		}
		wg.Wait()
		return out
	}
	want := func() []byte {
		js, err := json.Marshal(BuildSiteView(live.Snapshot(context.Background())))
		if err != nil {
			t.Fatal(err)
		}
		return js
	}

	first := get(50, "vera")
	if got := live.ViewBuilds("sites"); got != 1 {
		t.Errorf("50 requests on one snapshot: %d builds of the tree, want 1", got)
	}
	if live.Builds() != 1 {
		t.Errorf("%d snapshots built, want 1", live.Builds())
	}
	w1 := want()
	for i, res := range first {
		if res.code != 200 || !strings.HasPrefix(res.head.Get("Content-Type"), "application/json") || !bytes.Equal(res.body, w1) {
			t.Fatalf("request %d: %d %q\n%s\nwant\n%s", i, res.code, res.head.Get("Content-Type"), res.body, w1)
		}
	}
	if !bytes.Contains(w1, []byte(`"kw":1`)) {
		t.Errorf("first tree %s: want the first build's 1 kW", w1)
	}

	// A customer is refused: it gets neither the tree's bytes nor a build.
	for _, res := range get(5, "cora") {
		if res.code != 403 || bytes.Contains(res.body, []byte("pdu-secret-a1")) || bytes.Contains(res.body, []byte("A01")) {
			t.Errorf("customer: %d %s, want 403 without the tree", res.code, res.body)
		}
	}

	// A new snapshot: a new body, built once for the next 50.
	live.update(context.Background(), time.Now())
	second := get(50, "ada")
	if got := live.ViewBuilds("sites"); got != 2 {
		t.Errorf("after a new snapshot: %d builds, want 2", got)
	}
	w2 := want()
	if bytes.Equal(w1, w2) || !bytes.Contains(w2, []byte(`"kw":2`)) {
		t.Fatalf("the new snapshot's tree %s equals the old one or lacks its 2 kW", w2)
	}
	for i, res := range second {
		if res.code != 200 || !bytes.Equal(res.body, w2) {
			t.Fatalf("request %d after the new snapshot: %d\n%s\nwant\n%s", i, res.code, res.body, w2)
		}
	}
	if live.Builds() != 2 {
		t.Errorf("%d snapshots built, want 2", live.Builds())
	}
}

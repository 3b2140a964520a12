package influx

import (
	"strings"
	"testing"
	"time"
)

// TestDecodeSumsChunked: influxd's chunked answer is one document per
// chunk, a series going on in the next one (partial); the windows of both
// chunks come back as one series, in order, and an error in a later chunk
// is an error.
func TestDecodeSumsChunked(t *testing.T) {
	body := `{"results":[{"statement_id":0,"series":[{"name":"power_1h","tags":{"site":"dc1","meter":"a","rack":""},"columns":["time","s","n"],"values":[[0,120,60],[3600000000000,60,10]],"partial":true}],"partial":true}]}
{"results":[{"statement_id":0,"series":[{"name":"power_1h","tags":{"site":"dc1","meter":"a","rack":""},"columns":["time","s","n"],"values":[[7200000000000,30,3]]},{"name":"power_1h","tags":{"site":"dc1","meter":"b","rack":"A01"},"columns":["time","s","n"],"values":[[0,5,1]]}]}]}
`
	got, err := decodeSums(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	a, b := got[tagKey(map[string]string{"meter": "a"})], got[tagKey(map[string]string{"meter": "b", "rack": "A01"})]
	if len(got) != 2 || a == nil || b == nil || len(a.starts) != 3 || a.starts[2] != 7200000000000 || a.sums[1] != 60 || a.counts[2] != 3 {
		t.Fatalf("decoded %+v", got)
	}
	q := SeriesQuery{From: time.Unix(0, 0), To: time.Unix(9000, 0), Every: time.Hour}
	s := seriesOfSums(q, got)
	if len(s) != 2 || s[0].Values[0] != 2 || s[0].Values[1] != 6 || s[0].Values[2] != 10 || !s[0].Times[2].Equal(time.Unix(9000, 0)) {
		t.Errorf("series %+v (want means 2, 6, 10, the last window's end clipped to the range's end)", s)
	}
	if _, err := decodeSums(strings.NewReader(body + `{"results":[{"statement_id":0,"error":"max-series-per-database limit exceeded"}]}`)); err == nil || !strings.Contains(err.Error(), "max-series") {
		t.Errorf("an error in a later chunk: %v", err)
	}
}

package obix

import (
	"strings"
	"testing"
	"time"
)

// TestHistoryRecordsPrototype: an oBIX 1.1 HistoryQueryOut with its
// prototype as a child named "prototype", after the data list, records
// whose value comes before the timestamp and whose timestamps carry no
// offset: the unit and the zone come from the prototype.
func TestHistoryRecordsPrototype(t *testing.T) {
	doc := `<obj is="obix:HistoryQueryOut" xmlns="http://obix.org/ns/schema/1.0">
  <list name="data" of="obix:HistoryRecord">
    <obj><real name="value" val="21.5"/><abstime name="timestamp" val="2026-07-01T10:00:00"/></obj>
    <obj><real name="value" val="21.0"/><abstime name="timestamp" val="2026-07-01T09:55:00"/></obj>
  </list>
  <int name="count" val="2"/>
  <obj name="prototype" is="obix:HistoryRecord"><abstime name="timestamp" tz="Asia/Tokyo"/><real name="value" unit="obix:units/celsius"/></obj>
</obj>`
	root, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := historyRecords(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	want := time.Date(2026, 7, 1, 0, 55, 0, 0, time.UTC) // 09:55 in Tokyo
	if !recs[0].Time.Equal(want) || recs[0].Value != 21.0 || recs[0].Unit != "obix:units/celsius" {
		t.Errorf("first record %+v, want 21.0 °C at %s", recs[0], want)
	}
	if !recs[1].Time.Equal(want.Add(5*time.Minute)) || recs[1].Value != 21.5 {
		t.Errorf("second record %+v", recs[1])
	}
}

func TestHistoryGetURL(t *testing.T) {
	for _, c := range []struct{ history, query, want string }{
		{"http://gw/obix/histories/A/", "http://gw/obix/histories/A/~historyQuery/", "http://gw/obix/histories/A/~historyQuery"},
		{"http://gw/obix/histories/A", "", "http://gw/obix/histories/A/~historyQuery"},
		{"http://gw/obix/histories/A/", "http://gw/obix/histories/A/query/", "http://gw/obix/histories/A/~historyQuery"},
	} {
		if got := historyGetURL(c.history, c.query); got != c.want {
			t.Errorf("historyGetURL(%q, %q) = %q, want %q", c.history, c.query, got, c.want)
		}
	}
}

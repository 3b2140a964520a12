package demand

import (
	"strings"
	"testing"
	"time"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBlockOf(t *testing.T) {
	tokyo, kolkata, ny := mustLoc(t, "Asia/Tokyo"), mustLoc(t, "Asia/Kolkata"), mustLoc(t, "America/New_York")
	at := time.Date(2024, 7, 1, 4, 50, 0, 0, time.UTC) // 13:50 JST, 10:20 IST
	for _, c := range []struct {
		name   string
		length time.Duration
		loc    *time.Location
		want   string // local start
	}{
		{"tokyo 30m", 30 * time.Minute, tokyo, "2024-07-01T13:30:00+09:00"},
		{"utc 30m", 30 * time.Minute, time.UTC, "2024-07-01T04:30:00Z"},
		{"tokyo 60m", time.Hour, tokyo, "2024-07-01T13:00:00+09:00"},
		{"tokyo 15m", 15 * time.Minute, tokyo, "2024-07-01T13:45:00+09:00"},
		// +5:30: the hourly block is on the local hour, half past in UTC.
		{"kolkata 60m", time.Hour, kolkata, "2024-07-01T10:00:00+05:30"},
		{"utc 60m", time.Hour, time.UTC, "2024-07-01T04:00:00Z"},
	} {
		b := BlockOf(at, c.length, c.loc)
		if got := b.Start.Format(time.RFC3339); got != c.want || b.Length() != c.length || !b.Contains(at) {
			t.Errorf("%s: block %s (length %s), want start %s", c.name, b, b.Length(), c.want)
		}
	}
	// Before the epoch too.
	if b := BlockOf(time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC), 30*time.Minute, nil); b.Start.Format("15:04") != "23:30" {
		t.Errorf("pre-epoch block %s", b)
	}
	// Across a DST change blocks stay contiguous and on the local clock.
	b := BlockOf(time.Date(2024, 3, 10, 1, 40, 0, 0, ny), 30*time.Minute, ny)
	next := BlockOf(b.End, 30*time.Minute, ny)
	if !next.Start.Equal(b.End) || next.Start.Format("15:04 MST") != "03:00 EDT" {
		t.Errorf("DST: %s then %s", b, next)
	}
	if err := ValidBlockLength(45 * time.Minute); err == nil || !strings.Contains(err.Error(), "15m, 30m or 60m") {
		t.Errorf("45m: %v", err)
	}
}

func TestCalendar(t *testing.T) {
	tokyo := mustLoc(t, "Asia/Tokyo")
	c := Restriction2011()
	c.Holidays = []Date{{2024, time.July, 15}}
	for _, x := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2024, 7, 3, 9, 0, 0, 0, tokyo), true},      // Wednesday 09:00
		{time.Date(2024, 7, 3, 8, 59, 0, 0, tokyo), false},    // before
		{time.Date(2024, 7, 3, 19, 59, 0, 0, tokyo), true},    // last minute
		{time.Date(2024, 7, 3, 20, 0, 0, 0, tokyo), false},    // 20:00 is out
		{time.Date(2024, 7, 6, 13, 0, 0, 0, tokyo), false},    // Saturday
		{time.Date(2024, 7, 15, 13, 0, 0, 0, tokyo), false},   // holiday (Marine Day)
		{time.Date(2024, 9, 9, 13, 0, 0, 0, tokyo), true},     // last day
		{time.Date(2024, 9, 10, 13, 0, 0, 0, tokyo), false},   // after
		{time.Date(2024, 6, 28, 13, 0, 0, 0, tokyo), false},   // before 1 July
		{time.Date(2024, 7, 3, 4, 0, 0, 0, time.UTC), true},   // 13:00 JST
		{time.Date(2024, 7, 3, 12, 0, 0, 0, time.UTC), false}, // 21:00 JST
	} {
		if got := c.Contains(x.at, tokyo); got != x.want {
			t.Errorf("Contains(%s) = %v, want %v", x.at.Format(time.RFC3339), got, x.want)
		}
	}
	if !c.ContainsBlock(BlockOf(time.Date(2024, 7, 3, 19, 30, 0, 0, tokyo), time.Hour, tokyo), tokyo) {
		t.Error("19:00–20:00 block not in the calendar")
	}
	if c.ContainsBlock(BlockOf(time.Date(2024, 7, 3, 20, 30, 0, 0, tokyo), time.Hour, tokyo), tokyo) {
		t.Error("20:00–21:00 block in the calendar")
	}
	// A range across the year end.
	w := Calendar{Dates: []DateRange{{MonthDay{12, 1}, MonthDay{2, 28}}}}
	if !w.Contains(time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), nil) || w.Contains(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), nil) {
		t.Error("year-end range")
	}
	bad := Calendar{From: 20 * time.Hour, To: 9 * time.Hour}
	if err := bad.Validate(); err == nil {
		t.Error("hours 20:00..09:00 accepted")
	}
	for _, s := range []string{"7-01", "13-01", "02-30"} {
		if _, err := ParseMonthDay(s); err == nil {
			t.Errorf("ParseMonthDay(%q) accepted", s)
		}
	}
	if d, err := ParseClock("24:00"); err != nil || d != 24*time.Hour {
		t.Errorf("24:00 = %v, %v", d, err)
	}
	if _, err := ParseClock("24:01"); err == nil {
		t.Error("24:01 accepted")
	}
	if w, err := ParseWeekday("Wed"); err != nil || w != time.Wednesday {
		t.Errorf("Wed = %v, %v", w, err)
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cfg.BlockLength = 20 * time.Minute
	cfg.Stages.ShedAt = 0.9
	cfg.Limits = []Limit{
		ContractLimit{KW: 0, Block: 30 * time.Minute},
		CapLimit{Name: "restriction-2011", BaselineKW: 500, Reduction: 0.15, Block: time.Hour, Calendar: Calendar{From: 21 * time.Hour, To: 9 * time.Hour}},
		ExternalTarget{KW: 100, Source: "agg"},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{
		"demand.block: block length 20m0s",
		"demand.stages: thresholds caution 0.95, shed 0.9",
		`demand.limits[0] (contract "contract"): kw 0`,
		`demand.limits[1] (cap "restriction-2011"): calendar: hours 21:00..09:00`,
		`demand.limits[2] (external "external:agg"): window`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

package sla_test

import (
	"strings"
	"testing"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

func TestParseServiceHours(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
		err  string
	}{
		{in: []string{"24x7"}, want: "24x7"},
		{in: nil, want: "24x7"},
		{in: []string{"Mon-Fri 09:00-18:00"}, want: "Mon,Tue,Wed,Thu,Fri 09:00-18:00"},
		{in: []string{"Sat,Sun 10:00-14:00", "Fri-Mon 22:00-06:00"}, want: "Sun,Sat 10:00-14:00; Sun,Mon,Fri,Sat 22:00-06:00"},
		{in: []string{"Mon-Fri 09:00-24:00"}, want: "Mon,Tue,Wed,Thu,Fri 09:00-24:00"},
		{in: []string{"Mon-Fry 09:00-18:00"}, err: `unknown day "Fry"`},
		{in: []string{"Mon 9-18"}, err: "bad time of day"},
		{in: []string{"Mon 09:00"}, err: "expected HH:MM-HH:MM"},
		{in: []string{"Mon 09:00-09:00"}, err: "empty window"},
		{in: []string{"Mon 09:00-25:00"}, err: "bad time of day"},
		{in: []string{"24x7", "Mon 09:00-10:00"}, err: "cannot be combined"},
	} {
		h, err := sla.ParseServiceHours(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || h.String() != tc.want {
			t.Errorf("%q = %q, %v; want %q", tc.in, h.String(), err, tc.want)
		}
	}
}

func TestServiceHoursIntervals(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	h, _ := sla.ParseServiceHours([]string{"Mon-Fri 22:00-06:00"})
	// Friday 2025-04-11 to Tuesday 2025-04-15: Fri 22-Sat 06, Mon 22-Tue 06
	// (the window starting Friday runs into Saturday; none starts on the
	// weekend).
	from := time.Date(2025, 4, 11, 0, 0, 0, 0, tokyo)
	to := time.Date(2025, 4, 15, 12, 0, 0, 0, tokyo)
	var total time.Duration
	for _, iv := range h.Intervals(from, to, tokyo) {
		total += iv.Duration()
	}
	// Also Thu 22:00 - Fri 06:00 contributes its Friday part (6 h).
	if want := 6*time.Hour + 8*time.Hour + 8*time.Hour; total != want {
		t.Errorf("overnight windows: %s, want %s", total, want)
	}

	// DST: Europe/Berlin on 2025-03-30 loses an hour; 00:00-24:00 that day is 23 h.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata for Europe/Berlin")
	}
	day, _ := sla.ParseServiceHours([]string{"Sun 00:00-24:00"})
	ivs := day.Intervals(time.Date(2025, 3, 29, 0, 0, 0, 0, berlin), time.Date(2025, 4, 1, 0, 0, 0, 0, berlin), berlin)
	if len(ivs) != 1 || ivs[0].Duration() != 23*time.Hour {
		t.Errorf("DST Sunday: %v", ivs)
	}
	p, _ := sla.Month("2025-03", berlin)
	if got := p.Duration(); got != 31*24*time.Hour-time.Hour {
		t.Errorf("March 2025 in Berlin lasts %s", got)
	}
	if days := p.Days(berlin); len(days) != 31 || days[29].Duration() != 23*time.Hour {
		t.Errorf("March days: %d, 30th lasts %s", len(days), days[29].Duration())
	}
}

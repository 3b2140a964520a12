package jpholiday

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

// The computed holidays of 2019–2027 are exactly the published lists.
func TestKnownYears(t *testing.T) {
	f, err := os.Open("testdata/known.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[int][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, d := range strings.Fields(line) {
			tm, err := time.Parse("2006-01-02", d)
			if err != nil {
				t.Fatal(err)
			}
			want[tm.Year()] = append(want[tm.Year()], d)
		}
	}
	if len(want) != 9 {
		t.Fatalf("%d years in known.txt", len(want))
	}
	for y, days := range want {
		var got []string
		for _, h := range Year(y) {
			got = append(got, h.Date.Format("2006-01-02"))
		}
		if strings.Join(got, " ") != strings.Join(days, " ") {
			t.Errorf("%d:\n got  %v\n want %v", y, got, days)
		}
	}
}

// Days the rules make in other years: the old substitute and citizens'
// rules, one-off days, the equinox formula's earlier constants.
func TestRulesInOtherYears(t *testing.T) {
	for _, c := range []struct {
		date, name string
		off        bool
	}{
		{"2009-09-22", NameCitizens, true},   // 21 敬老の日 Mon, 23 秋分
		{"2015-09-22", NameCitizens, true},   //
		{"2006-05-04", NameCitizens, true},   // between 5/3 and 5/5 before 2007
		{"2008-05-06", NameSubstitute, true}, // 5/4 Sunday (みどりの日): first day after that is not a holiday
		{"2001-12-24", NameSubstitute, true}, // 12/23 Sunday
		{"1989-02-24", "昭和天皇の大喪の礼", true},
		{"1990-11-12", "即位礼正殿の儀", true},
		{"1993-06-09", "皇太子徳仁親王の結婚の儀", true},
		{"1959-04-10", "皇太子明仁親王の結婚の儀", true},
		{"1999-01-15", "成人の日", true},
		{"2000-01-10", "成人の日", true}, // Happy Monday
		{"2002-07-20", "海の日", true},
		{"2003-07-21", "海の日", true},
		{"1979-03-21", "春分の日", true},         // 1900–1979 constants
		{"1979-09-24", "秋分の日", true},         //
		{"2019-12-23", "", false},            // no emperor's birthday in 2019
		{"2019-02-23", "", false},            //
		{"1973-02-12", "", false},            // 2/11 Sunday, before substitute holidays (12 Apr 1973)
		{"1973-04-30", NameSubstitute, true}, // the first one
		{"1985-05-04", "", false},            // before citizens' holidays
		{"2012-05-04", "みどりの日", true},        //
	} {
		d, _ := time.Parse("2006-01-02", c.date)
		name, off := Is(d.Year(), d.Month(), d.Day())
		if off != c.off || name != c.name {
			t.Errorf("%s: %q %v, want %q %v", c.date, name, off, c.name, c.off)
		}
	}
	if Year(1948) != nil {
		t.Error("holidays before the law")
	}
	// Every year 1949–2150: no duplicate day, sorted, at most a Sunday's
	// substitute a holiday on a Sunday after 2007.
	for y := 1949; y <= 2150; y++ {
		hs := Year(y)
		for i := 1; i < len(hs); i++ {
			if !hs[i].Date.After(hs[i-1].Date) {
				t.Fatalf("%d: %s after %s", y, hs[i].Date, hs[i-1].Date)
			}
		}
		if n := len(hs); y >= 2016 && (n < 16 || n > 22) {
			t.Errorf("%d: %d holidays", y, n)
		}
	}
}

func TestOverrides(t *testing.T) {
	c, err := ParseOverrides(strings.NewReader("# company calendar\n2026-08-13 summer break\n2026-12-29..2027-01-03 year end\n-2026-11-03 stock-taking\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		y    int
		m    time.Month
		d    int
		name string
		off  bool
	}{
		{2026, 8, 13, "summer break", true},
		{2026, 12, 31, "year end", true},
		{2027, 1, 1, "year end", true}, // the company's name wins
		{2026, 11, 3, "", false},       // 文化の日, worked
		{2026, 11, 23, "勤労感謝の日", true},
		{2026, 8, 14, "", false},
	} {
		if name, off := c.DayOff(x.y, x.m, x.d); off != x.off || name != x.name {
			t.Errorf("%d-%02d-%02d: %q %v, want %q %v", x.y, x.m, x.d, name, off, x.name, x.off)
		}
	}
	for _, bad := range []string{"2026-13-01", "2026-08-13..2026-08-01", "tomorrow", "2026-01-01..2028-01-01"} {
		if _, err := ParseOverrides(strings.NewReader("\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: %v, want an error naming line 2", bad, err)
		}
	}
}

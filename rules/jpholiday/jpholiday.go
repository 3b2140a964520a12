// Package jpholiday computes Japan's national holidays for any year from
// the rules of the Act on National Holidays (国民の祝日に関する法律, 1948, as
// amended), so that nobody has to type this year's and last year's
// holidays into a demand calendar:
//
//   - the fixed-date holidays, with the dates each had in its years (成人の日
//     15 Jan until 1999, then the 2nd Monday; 天皇誕生日 29 Apr → 23 Dec from
//     1989 → none in 2019 → 23 Feb from 2020; 4/29 みどりの日 1989–2006,
//     then 昭和の日 and みどりの日 on 4 May; …);
//   - the Happy Monday rules (2000: 成人の日, 体育の日; 2003: 海の日, 敬老の日);
//   - the vernal and autumnal equinox days by the standard approximation
//     formula (the day is fixed each February by the Cabinet from the
//     National Astronomical Observatory's ephemeris; the formula agrees
//     with it for 1900–2099 and is the usual extension beyond);
//   - 振替休日 (substitute holiday, from 12 Apr 1973): a holiday on a Sunday
//     moves to the next day (until 2006), or to the first following day that
//     is not a holiday (from 2007);
//   - 国民の休日 (citizens' holiday, from 27 Dec 1985): a day between two
//     national holidays that is not one itself (until 2006 not on a Sunday);
//   - the one-off days: 1959-04-10, 1989-02-24, 1990-11-12, 1993-06-09,
//     the 2019 accession (5/1, 10/22) and the Olympic moves of 2020 and 2021
//     (海の日, スポーツの日, 山の日).
//
// Years before 1949 have no holidays here (the law took effect in July
// 1948).
package jpholiday

import (
	"sort"
	"time"
)

// Holiday is one day off.
type Holiday struct {
	Date time.Time // midnight UTC of the civil date
	Name string
}

// Substitute and citizens' holiday names.
const (
	NameSubstitute = "振替休日"
	NameCitizens   = "国民の休日"
)

// Year returns the holidays of year, sorted by date.
func Year(year int) []Holiday {
	if year < 1949 {
		return nil
	}
	named := nationalHolidays(year)
	days := map[int]string{} // day of year → name
	for _, h := range named {
		days[h.Date.YearDay()] = h.Name
	}
	isNational := func(t time.Time) bool {
		if t.Year() != year {
			// Neighbours across the year end: 12/31 and 1/2 are never
			// holidays, 1/1 always is.
			return t.Month() == time.January && t.Day() == 1
		}
		_, ok := days[t.YearDay()]
		return ok
	}
	var extra []Holiday
	// 国民の休日.
	for d := date(year, 1, 1); d.Year() == year; d = d.AddDate(0, 0, 1) {
		if !d.Before(date(1985, 12, 27)) && !isNational(d) && isNational(d.AddDate(0, 0, -1)) && isNational(d.AddDate(0, 0, 1)) &&
			(year >= 2007 || d.Weekday() != time.Sunday) {
			extra = append(extra, Holiday{Date: d, Name: NameCitizens})
		}
	}
	taken := func(t time.Time) bool {
		if isNational(t) {
			return true
		}
		for _, h := range extra {
			if h.Date.Equal(t) {
				return true
			}
		}
		return false
	}
	// 振替休日.
	for _, h := range named {
		if h.Date.Weekday() != time.Sunday || h.Date.Before(date(1973, 4, 12)) {
			continue
		}
		next := h.Date.AddDate(0, 0, 1)
		if year >= 2007 {
			for taken(next) {
				next = next.AddDate(0, 0, 1)
			}
		} else if taken(next) {
			continue
		}
		if next.Year() == year {
			extra = append(extra, Holiday{Date: next, Name: NameSubstitute})
		}
	}
	all := append(named, extra...)
	sort.Slice(all, func(i, j int) bool { return all[i].Date.Before(all[j].Date) })
	return all
}

// Is reports whether the civil date y-m-d is a national holiday (and its
// name).
func Is(y int, m time.Month, d int) (string, bool) {
	t := date(y, m, d)
	for _, h := range Year(t.Year()) {
		if h.Date.Equal(t) {
			return h.Name, true
		}
	}
	return "", false
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// nthMonday is the n-th Monday of the month.
func nthMonday(y int, m time.Month, n int) time.Time {
	first := date(y, m, 1)
	off := (int(time.Monday) - int(first.Weekday()) + 7) % 7
	return first.AddDate(0, 0, off+7*(n-1))
}

// VernalEquinoxDay is the day of March of 春分の日 by the approximation
// formula (1900–2150).
func VernalEquinoxDay(y int) int {
	return equinox(y, 20.8357, 20.8431, 21.8510)
}

// AutumnalEquinoxDay is the day of September of 秋分の日.
func AutumnalEquinoxDay(y int) int {
	return equinox(y, 23.2588, 23.2488, 24.2488)
}

// equinox is int(c + 0.242194·(y − 1980) − int((y − base)/4)) with the
// constant of y's period: base 1983 before 1980, 1980 after.
func equinox(y int, before1980, to2099, after2099 float64) int {
	c, base := to2099, 1980
	switch {
	case y < 1980:
		c, base = before1980, 1983
	case y > 2099:
		c = after2099
	}
	return int(c + 0.242194*float64(y-1980) - float64(floorDiv(y-base, 4)))
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// nationalHolidays are the 国民の祝日 of year (no substitutes, no
// citizens' holidays).
func nationalHolidays(y int) []Holiday {
	var out []Holiday
	add := func(t time.Time, name string) { out = append(out, Holiday{Date: t, Name: name}) }
	add(date(y, 1, 1), "元日")
	if y < 2000 {
		add(date(y, 1, 15), "成人の日")
	} else {
		add(nthMonday(y, time.January, 2), "成人の日")
	}
	if y >= 1967 {
		add(date(y, 2, 11), "建国記念の日")
	}
	if y >= 2020 {
		add(date(y, 2, 23), "天皇誕生日")
	}
	add(date(y, 3, VernalEquinoxDay(y)), "春分の日")
	switch {
	case y < 1989:
		add(date(y, 4, 29), "天皇誕生日")
	case y < 2007:
		add(date(y, 4, 29), "みどりの日")
	default:
		add(date(y, 4, 29), "昭和の日")
	}
	add(date(y, 5, 3), "憲法記念日")
	if y >= 2007 {
		add(date(y, 5, 4), "みどりの日")
	}
	add(date(y, 5, 5), "こどもの日")
	switch {
	case y == 2020:
		add(date(y, 7, 23), "海の日")
	case y == 2021:
		add(date(y, 7, 22), "海の日")
	case y >= 2003:
		add(nthMonday(y, time.July, 3), "海の日")
	case y >= 1996:
		add(date(y, 7, 20), "海の日")
	}
	switch {
	case y == 2020:
		add(date(y, 8, 10), "山の日")
	case y == 2021:
		add(date(y, 8, 8), "山の日")
	case y >= 2016:
		add(date(y, 8, 11), "山の日")
	}
	switch {
	case y >= 2003:
		add(nthMonday(y, time.September, 3), "敬老の日")
	case y >= 1966:
		add(date(y, 9, 15), "敬老の日")
	}
	add(date(y, 9, AutumnalEquinoxDay(y)), "秋分の日")
	switch {
	case y == 2020:
		add(date(y, 7, 24), "スポーツの日")
	case y == 2021:
		add(date(y, 7, 23), "スポーツの日")
	case y >= 2022:
		add(nthMonday(y, time.October, 2), "スポーツの日")
	case y >= 2000:
		add(nthMonday(y, time.October, 2), "体育の日")
	case y >= 1966:
		add(date(y, 10, 10), "体育の日")
	}
	add(date(y, 11, 3), "文化の日")
	add(date(y, 11, 23), "勤労感謝の日")
	if y >= 1989 && y <= 2018 {
		add(date(y, 12, 23), "天皇誕生日")
	}
	// One-off days by special acts.
	switch y {
	case 1959:
		add(date(y, 4, 10), "皇太子明仁親王の結婚の儀")
	case 1989:
		add(date(y, 2, 24), "昭和天皇の大喪の礼")
	case 1990:
		add(date(y, 11, 12), "即位礼正殿の儀")
	case 1993:
		add(date(y, 6, 9), "皇太子徳仁親王の結婚の儀")
	case 2019:
		add(date(y, 5, 1), "天皇の即位の日")
		add(date(y, 10, 22), "即位礼正殿の儀")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date.Before(out[j].Date) })
	return out
}

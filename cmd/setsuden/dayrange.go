package main

import (
	"errors"
	"time"
)

// errDayRange is the one message of every command that takes --from and
// --to as days.
var errDayRange = errors.New("--from and --to are days YYYY-MM-DD, --to not before --from")

// dayRange turns --from and --to (days, --to included) into [from, to) in
// the site's time zone.
func dayRange(fromDay, toDay string, loc *time.Location) (from, to time.Time, err error) {
	from, err1 := time.ParseInLocation("2006-01-02", fromDay, loc)
	last, err2 := time.ParseInLocation("2006-01-02", toDay, loc)
	if err1 != nil || err2 != nil || last.Before(from) {
		return time.Time{}, time.Time{}, errDayRange
	}
	return from, last.AddDate(0, 0, 1), nil
}

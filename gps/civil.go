package gps

import (
	"time"

	"github.com/gpsntp/gpsntp/internal/timebase"
)

// Calendar arithmetic without time.Date, so the hot path allocates nothing and cannot be surprised by
// normalisation (time.Date quietly turns 31 February into 3 March; here it is an error).

const (
	day     = 24 * time.Hour
	gpsWeek = 7 * day
	// rolloverPeriod is the span of a 10-bit GPS week number: 1024 weeks, about 19.6 years.
	rolloverPeriod = 1024 * gpsWeek
)

// gpsEpochDays is 1980-01-06, the start of GPS week 0, in days since 1970-01-01.
var gpsEpochDays = daysFromCivil(1980, 1, 6)

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}

func isLeapYear(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeapYear(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// validDate reports whether y-m-d is a real calendar date in a range a receiver could mean.
func validDate(y, m, d int) bool {
	return y >= 1980 && y <= 2200 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m)
}

// dayStart returns midnight UTC of a date as an Instant.
func dayStart(y, m, d int) timebase.Instant {
	return timebase.Instant(daysFromCivil(y, m, d)) * timebase.Instant(day)
}

// splitDay splits an instant into its date and its time since midnight.
func splitDay(t timebase.Instant) (y, m, d int, tod time.Duration) {
	days := int64(t) / int64(day)
	rem := int64(t) % int64(day)
	if rem < 0 {
		days--
		rem += int64(day)
	}
	y, m, d = civilFromDays(days)
	return y, m, d, time.Duration(rem)
}

// fullYear maps a two-digit year to the century window [floorYear-50, floorYear+50): with a 2026 floor,
// 99 is 1999 (a week-rollover date, corrected later) and 75 is 2075.
func fullYear(yy, floorYear int) int {
	base := floorYear - 50
	off := (yy - base%100) % 100
	if off < 0 {
		off += 100
	}
	return base + off
}

// gpsToInstant converts a GPS week and time of week on the GPS time scale to an Instant on the same scale
// (no leap seconds removed).
func gpsToInstant(week int, tow time.Duration) timebase.Instant {
	return timebase.Instant(gpsEpochDays)*timebase.Instant(day) + timebase.Instant(week)*timebase.Instant(gpsWeek) + timebase.Instant(tow)
}

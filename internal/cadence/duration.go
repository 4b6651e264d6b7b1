package cadence

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Unit is the unit of a cadence Duration. Seconds and minutes exist for demos and tests;
// business units count only open hours of a calendar.
type Unit string

const (
	Seconds       Unit = "seconds"
	Minutes       Unit = "minutes"
	Hours         Unit = "hours"
	Days          Unit = "days"
	BusinessHours Unit = "business_hours"
	BusinessDays  Unit = "business_days"
)

// Duration is an amount of a unit, kept as written so that "2 business days" stays that
// and is not flattened into 48 hours before a calendar has had its say.
type Duration struct {
	Amount int  `json:"amount"`
	Unit   Unit `json:"unit"`
}

// Zero is the duration "0": right away.
var Zero = Duration{Amount: 0, Unit: Seconds}

// Of builds a Duration.
func Of(amount int, unit Unit) Duration { return Duration{Amount: amount, Unit: unit} }

// IsZero reports whether d is "right away".
func (d Duration) IsZero() bool { return d.Amount == 0 }

// Validate reports a negative amount or an unknown unit.
func (d Duration) Validate() error {
	if d.Amount < 0 {
		return fmt.Errorf("duration %q: amount must not be negative", d.String())
	}
	switch d.Unit {
	case Seconds, Minutes, Hours, Days, BusinessHours, BusinessDays:
		return nil
	case "":
		if d.Amount == 0 {
			return nil
		}
	}
	return fmt.Errorf("duration %q: unknown unit %q (want seconds, minutes, hours, days, business hours or business days)", d.String(), d.Unit)
}

func (d Duration) String() string {
	if d.IsZero() {
		return "0"
	}
	unit := strings.ReplaceAll(string(d.Unit), "_", " ")
	if d.Amount == 1 {
		unit = strings.TrimSuffix(unit, "s")
	}
	return fmt.Sprintf("%d %s", d.Amount, unit)
}

// ParseDuration reads "0", "30 seconds", "1 business day", "10 business days".
func ParseDuration(s string) (Duration, error) {
	fields := strings.Fields(strings.ToLower(strings.TrimSpace(s)))
	if len(fields) == 1 && fields[0] == "0" {
		return Zero, nil
	}
	if len(fields) < 2 || len(fields) > 3 {
		return Duration{}, fmt.Errorf("duration %q: want an amount and a unit, like \"2 business days\"", s)
	}
	amount, err := strconv.Atoi(fields[0])
	if err != nil {
		return Duration{}, fmt.Errorf("duration %q: amount %q is not a whole number", s, fields[0])
	}
	unitWord := strings.Join(fields[1:], "_")
	if !strings.HasSuffix(unitWord, "s") {
		unitWord += "s"
	}
	d := Duration{Amount: amount, Unit: Unit(unitWord)}
	if err := d.Validate(); err != nil {
		return Duration{}, err
	}
	if len(fields) == 3 && !strings.HasPrefix(unitWord, "business_") {
		return Duration{}, fmt.Errorf("duration %q: unknown unit", s)
	}
	return d, nil
}

// Calendar adds cadence durations to instants. Business units count open time only; the
// calendar issue brings real business hours and holidays behind this same interface.
type Calendar interface {
	Add(from time.Time, d Duration) time.Time
}

// AlwaysOpen is the version-0 calendar: every hour is a business hour and a business day is
// a calendar day. It is also the calendar of seconds- and minutes-scale demo pipelines.
type AlwaysOpen struct{}

var errUnknownUnit = errors.New("unknown unit")

// Add implements Calendar.
func (AlwaysOpen) Add(from time.Time, d Duration) time.Time {
	switch d.Unit {
	case Seconds:
		return from.Add(time.Duration(d.Amount) * time.Second)
	case Minutes:
		return from.Add(time.Duration(d.Amount) * time.Minute)
	case Hours, BusinessHours:
		return from.Add(time.Duration(d.Amount) * time.Hour)
	case Days, BusinessDays:
		return from.AddDate(0, 0, d.Amount)
	default:
		if d.Amount == 0 {
			return from
		}
		panic(fmt.Errorf("cadence: %w %q (validate pipelines before planning)", errUnknownUnit, d.Unit))
	}
}

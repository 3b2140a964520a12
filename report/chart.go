package report

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/setsuden/setsuden/rules/sla"
)

// chartFloors are the candidate bottoms of the daily availability axis: a
// month at 99.9% drawn from 0% would show 30 identical full bars, so the
// axis starts at the highest floor below the worst day and the objective.
var chartFloors = [...]float64{0.999, 0.995, 0.99, 0.98, 0.95, 0.9, 0.8, 0.5, 0}

// barKind says how a day is drawn.
type barKind int

const (
	barNone    barKind = iota // no service time that day (e.g. a weekend)
	barMet                    // availability at or above the objective
	barMissed                 // below the objective
	barUnknown                // service time, but none of it known
	barPlanned                // only planned maintenance
)

type dayBar struct {
	Date   string
	Day    string // day of month
	Kind   barKind
	A      sla.Ratio
	Height float64 // 0..1 of the plot
	Title  string
	// HasUnknown and HasPlanned mark days with some unknown or planned
	// time (a strip under the bar), which the availability alone hides.
	HasUnknown, HasPlanned bool
}

type dailyChart struct {
	Bars      []dayBar
	Floor     float64
	Objective float64
	ObjY      float64 // objective's height, 0..1
}

func newDailyChart(f sla.Figures) dailyChart {
	c := dailyChart{Objective: f.Objective}
	lowest := f.Objective
	for _, d := range f.Daily {
		if a := d.Availability(); a.Valid() && a.Value() < lowest {
			lowest = a.Value()
		}
	}
	for _, fl := range chartFloors {
		c.Floor = fl
		if fl < lowest {
			break
		}
	}
	scale := func(x float64) float64 { return min(1, max(0, (x-c.Floor)/(1-c.Floor))) }
	c.ObjY = scale(f.Objective)
	for _, d := range f.Daily {
		b := dayBar{Date: d.Date, Day: strings.TrimLeft(d.Date[len(d.Date)-2:], "0"), A: d.Availability(),
			HasUnknown: d.Unknown > 0, HasPlanned: d.Planned > 0}
		switch {
		case d.Up+d.Down+d.Unknown+d.Planned == 0:
			b.Kind, b.Title = barNone, d.Date+": no service time"
		case b.A.Valid():
			b.Kind = barMet
			if b.A.Value() < f.Objective {
				b.Kind = barMissed
			}
			b.Height = max(scale(b.A.Value()), 0.01)
			b.Title = fmt.Sprintf("%s: %s (down %s)", d.Date, b.A.Percent(3), HumanDuration(d.Down))
			if b.HasUnknown {
				b.Title += fmt.Sprintf(", %s unknown", HumanDuration(d.Unknown))
			}
			if b.HasPlanned {
				b.Title += fmt.Sprintf(", %s planned", HumanDuration(d.Planned))
			}
		case d.Unknown > 0:
			b.Kind, b.Height, b.Title = barUnknown, 1, fmt.Sprintf("%s: no data (%s unknown)", d.Date, HumanDuration(d.Unknown))
		default:
			b.Kind, b.Height, b.Title = barPlanned, 1, fmt.Sprintf("%s: planned maintenance", d.Date)
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}

// barColors are RGB per kind, shared by the SVG and the PDF.
var barColors = [...][3]int{
	barNone:    {255, 255, 255},
	barMet:     {46, 139, 87},
	barMissed:  {200, 40, 40},
	barUnknown: {170, 170, 170},
	barPlanned: {100, 149, 237},
}

// svg draws the chart as inline SVG.
func (c dailyChart) svg() template.HTML {
	const w, h, left, bottom, top = 720.0, 176.0, 52.0, 24.0, 8.0
	plotW, plotH := w-left-4, h-bottom-top
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="daily availability">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="#f8f8f8" stroke="#ccc"/>`, left, top, plotW, plotH)
	for _, tick := range []struct {
		y     float64
		label string
	}{{0, percent(c.Floor, 1)}, {1, "100%"}} {
		y := top + plotH*(1-tick.y)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="10" text-anchor="end" dominant-baseline="middle">%s</text>`, left-4, y, tick.label)
	}
	n := float64(max(len(c.Bars), 1))
	slot := plotW / n
	for i, bar := range c.Bars {
		x := left + float64(i)*slot
		if bar.Kind != barNone {
			col := barColors[bar.Kind]
			bh := plotH * bar.Height
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="rgb(%d,%d,%d)"><title>%s</title></rect>`,
				x+slot*0.15, top+plotH-bh, slot*0.7, bh, col[0], col[1], col[2], template.HTMLEscapeString(bar.Title))
		}
		for i, mark := range []struct {
			on  bool
			col [3]int
		}{{bar.HasUnknown, barColors[barUnknown]}, {bar.HasPlanned, barColors[barPlanned]}} {
			if mark.on && bar.Kind != barUnknown && bar.Kind != barPlanned {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="2.5" fill="rgb(%d,%d,%d)"/>`,
					x+slot*0.15, top+plotH+1.5+3*float64(i), slot*0.7, mark.col[0], mark.col[1], mark.col[2])
			}
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="9" text-anchor="middle">%s</text>`, x+slot/2, h-4, bar.Day)
	}
	oy := top + plotH*(1-c.ObjY)
	fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#333" stroke-dasharray="4 3"/>`, left, oy, left+plotW, oy)
	fmt.Fprintf(&b, `<text x="%g" y="%.1f" font-size="9" text-anchor="end" paint-order="stroke" stroke="white" stroke-width="3">objective %s</text>`, left+plotW-3, oy-3, percent(c.Objective, 2))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

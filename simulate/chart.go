package simulate

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
)

// chart geometry
const (
	chartW, chartH = 1200, 420
	padL, padR     = 70, 20
	padT, padB     = 40, 50
)

type series struct {
	name  string
	color color.RGBA
	y     []float64
}

func (r Result) chartSeries() ([]series, float64, float64) {
	b := series{name: "baseline (no shedding)", color: color.RGBA{150, 150, 150, 255}}
	a := series{name: "with shedding", color: color.RGBA{30, 100, 200, 255}}
	t := series{name: "target", color: color.RGBA{210, 40, 40, 255}}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range r.Series {
		b.y = append(b.y, p.BaselineKW)
		a.y = append(a.y, p.AchievedKW)
		if p.InForce {
			t.y = append(t.y, p.TargetKW)
		} else {
			t.y = append(t.y, math.NaN())
		}
		for _, v := range []float64{p.BaselineKW, p.AchievedKW} {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if p.InForce {
			lo, hi = math.Min(lo, p.TargetKW), math.Max(hi, p.TargetKW)
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	lo = math.Floor(lo*0.95/10) * 10
	hi = math.Ceil(hi*1.02/10) * 10
	return []series{b, a, t}, lo, hi
}

func xy(i, n int, v, lo, hi float64) (float64, float64) {
	x := float64(padL) + float64(i)/math.Max(float64(n-1), 1)*float64(chartW-padL-padR)
	y := float64(padT) + (1-(v-lo)/(hi-lo))*float64(chartH-padT-padB)
	return x, y
}

// SVG draws block demand with and without shedding against the target.
func (r Result) SVG(w io.Writer) error {
	ss, lo, hi := r.chartSeries()
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">%s: block demand (kW), %d days; peak %.1f -> %.1f kW (%.1f%% cut)</text>`+"\n",
		padL, r.Scenario, r.Days, r.BaselinePeakKW, r.AchievedPeakKW, r.PeakCutPct)
	for k := 0; k <= 4; k++ {
		v := lo + (hi-lo)*float64(k)/4
		_, y := xy(0, 2, v, lo, hi)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/><text x="5" y="%.1f">%.0f kW</text>`+"\n", padL, y, chartW-padR, y, y+4, v)
	}
	n := len(r.Series)
	for i, p := range r.Series {
		if i == 0 || p.Start.Day() != r.Series[i-1].Start.Day() {
			x, _ := xy(i, n, lo, lo, hi)
			if n < 24*40 || p.Start.Day() == 1 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10">%s</text>`+"\n", x, chartH-padB+15, p.Start.Format("01-02"))
			}
		}
	}
	for k, s := range ss {
		var path strings.Builder
		pen := false
		for i, v := range s.y {
			if math.IsNaN(v) {
				pen = false
				continue
			}
			x, y := xy(i, n, v, lo, hi)
			if pen {
				fmt.Fprintf(&path, " L%.1f,%.1f", x, y)
			} else {
				fmt.Fprintf(&path, " M%.1f,%.1f", x, y)
				pen = true
			}
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="rgb(%d,%d,%d)" stroke-width="1.5"/>`+"\n", path.String(), s.color.R, s.color.G, s.color.B)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="3" fill="rgb(%d,%d,%d)"/><text x="%d" y="%d">%s</text>`+"\n",
			padL+k*220, chartH-15, s.color.R, s.color.G, s.color.B, padL+k*220+16, chartH-11, s.name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// PNG draws the same chart as a raster image (no text).
func (r Result) PNG(w io.Writer) error {
	ss, lo, hi := r.chartSeries()
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	grid := color.RGBA{235, 235, 235, 255}
	for k := 0; k <= 4; k++ {
		_, y := xy(0, 2, lo+(hi-lo)*float64(k)/4, lo, hi)
		line(img, padL, int(y), chartW-padR, int(y), grid)
	}
	n := len(r.Series)
	for _, s := range ss {
		px, py, pen := 0, 0, false
		for i, v := range s.y {
			if math.IsNaN(v) {
				pen = false
				continue
			}
			x, y := xy(i, n, v, lo, hi)
			if pen {
				line(img, px, py, int(x), int(y), s.color)
			}
			px, py, pen = int(x), int(y), true
		}
	}
	return png.Encode(w, img)
}

func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
)

// A chart is a stack of panels of horizontal grouped bars, one bar per
// series in each group, each panel on its own scale (produce, catch-up and
// tail reads differ by an order of magnitude).
type chart struct {
	title  string
	series []string // legend, in bar order
	panels []panel
}

type panel struct {
	title  string
	groups []group
}

type group struct {
	label  string
	values []float64 // per series; NaN when not measured
}

var (
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{30, 30, 30, 255}
	grey    = color.RGBA{200, 200, 200, 255}
	palette = []color.RGBA{
		{31, 119, 180, 255}, // blue
		{255, 127, 14, 255}, // orange
		{44, 160, 44, 255},  // green
		{148, 103, 189, 255},
		{214, 39, 40, 255},
	}
)

const (
	chartW   = 1000
	labelW   = 190 // group labels
	valueW   = 110 // room for the value after the longest bar
	barH     = 14
	barGap   = 3
	groupGap = 12
	textS    = 2 // font scale
	lineH    = glyphH*textS + 10
)

// legendRows places the legend entries, wrapping them to the chart width,
// and returns each entry's position relative to the legend's top-left.
func (c chart) legendRows() (pos []image.Point, rows int) {
	x, y := 0, 0
	for _, s := range c.series {
		w := 20 + textWidth(s, textS)
		if x > 0 && 10+x+w > chartW-10 {
			x, y = 0, y+lineH
		}
		pos = append(pos, image.Pt(x, y))
		x += w + 30
	}
	return pos, y/lineH + 1
}

func (c chart) render() *image.RGBA {
	legend, legendRows := c.legendRows()
	h := 10 + lineH*(1+legendRows) + 10
	for _, p := range c.panels {
		h += lineH + 4
		for range p.groups {
			h += len(c.series)*(barH+barGap) + groupGap
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, chartW, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)

	y := 10
	drawText(img, 10, y, c.title, textS, black)
	y += lineH
	for i, s := range c.series {
		x, ly := 10+legend[i].X, y+legend[i].Y
		fill(img, x, ly, 14, 14, palette[i%len(palette)])
		drawText(img, x+20, ly, s, textS, black)
	}
	y += lineH*legendRows + 10

	barArea := chartW - labelW - valueW - 10
	for _, p := range c.panels {
		drawText(img, 10, y, p.title, textS, black)
		y += lineH + 4
		maxV := 0.0
		for _, g := range p.groups {
			for _, v := range g.values {
				if !math.IsNaN(v) {
					maxV = max(maxV, v)
				}
			}
		}
		for _, g := range p.groups {
			gh := len(c.series)*(barH+barGap) - barGap
			drawText(img, labelW-10-textWidth(g.label, textS), y+(gh-glyphH*textS)/2, g.label, textS, black)
			fill(img, labelW, y-2, 1, gh+4, grey)
			for i, v := range g.values {
				by := y + i*(barH+barGap)
				if math.IsNaN(v) {
					drawText(img, labelW+6, by, "n/a", textS, black)
					continue
				}
				w := 0
				if maxV > 0 {
					w = int(math.Round(v / maxV * float64(barArea)))
				}
				fill(img, labelW+1, by, w, barH, palette[i%len(palette)])
				drawText(img, labelW+w+6, by, fmtValue(v), textS, black)
			}
			y += gh + barGap + groupGap
		}
	}
	return img
}

func fill(img *image.RGBA, x, y, w, h int, c color.Color) {
	draw.Draw(img, image.Rect(x, y, x+w, y+h), &image.Uniform{c}, image.Point{}, draw.Src)
}

// fmtValue keeps three significant digits or so; the thresholds sit just
// below the powers of ten so that 99.97 prints as 100, not 100.0.
func fmtValue(v float64) string {
	switch {
	case v >= 99.95:
		return fmt.Sprintf("%.0f", v)
	case v >= 9.995:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

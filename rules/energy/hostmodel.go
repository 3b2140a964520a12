package energy

import (
	"fmt"
	"math"
	"time"
)

// HostModel is a host's wall power as a line in CPU utilisation:
// P(u) = IdleW + SlopeW·u, u in 0..1. It gives the idle part that per-VM
// attribution needs and the saving of powering a host off (sla_peak.md
// §3.3: saving ≈ P_idle × PUE).
type HostModel struct {
	IdleW  float64
	SlopeW float64
	// Source is "fitted" (least squares on the host's own metered history)
	// or "nameplate" (configured idle and maximum power).
	Source string
	// Samples and R2 describe a fit (0 for a nameplate model).
	Samples int
	R2      float64
}

// PowerW is the modelled power at utilisation u (clamped to 0..1).
func (m HostModel) PowerW(u float64) float64 {
	return m.IdleW + m.SlopeW*math.Min(math.Max(u, 0), 1)
}

// HostSample is one observation for fitting: utilisation and the power the
// host's own meter (PDU outlet, BMC) read at the same time.
type HostSample struct {
	CPUUtil float64 // 0..1
	PowerW  float64
}

// Fit requirements: enough points, and utilisation spread wide enough that
// the slope is not noise.
const (
	MinFitSamples = 10
	MinFitSpread  = 0.1 // max − min utilisation
)

// FitHostModel fits P = IdleW + SlopeW·u by ordinary least squares. It
// fails when there are fewer than MinFitSamples points, the utilisation
// spread is under MinFitSpread, or the fit is unphysical (negative idle
// power or slope); the caller then uses NameplateModel.
func FitHostModel(history []HostSample) (HostModel, error) {
	n := len(history)
	if n < MinFitSamples {
		return HostModel{}, fmt.Errorf("host model: %d samples, need at least %d", n, MinFitSamples)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	var su, sp float64
	for _, h := range history {
		su += h.CPUUtil
		sp += h.PowerW
		lo, hi = math.Min(lo, h.CPUUtil), math.Max(hi, h.CPUUtil)
	}
	if hi-lo < MinFitSpread {
		return HostModel{}, fmt.Errorf("host model: utilisation only spans %.3f..%.3f, need a spread of %.2f", lo, hi, MinFitSpread)
	}
	mu, mp := su/float64(n), sp/float64(n)
	var suu, sup, spp float64
	for _, h := range history {
		du, dp := h.CPUUtil-mu, h.PowerW-mp
		suu += du * du
		sup += du * dp
		spp += dp * dp
	}
	slope := sup / suu
	m := HostModel{IdleW: mp - slope*mu, SlopeW: slope, Source: "fitted", Samples: n}
	if spp > 0 {
		m.R2 = sup * sup / (suu * spp)
	}
	if m.IdleW < 0 || m.SlopeW < 0 {
		return HostModel{}, fmt.Errorf("host model: fit gives idle %.1f W, slope %.1f W: not physical", m.IdleW, m.SlopeW)
	}
	return m, nil
}

// NameplateModel is the model from configured idle and full-load power.
func NameplateModel(idleW, maxW float64) (HostModel, error) {
	if idleW < 0 || maxW < idleW {
		return HostModel{}, fmt.Errorf("host model: nameplate idle %.1f W, max %.1f W: want 0 <= idle <= max", idleW, maxW)
	}
	return HostModel{IdleW: idleW, SlopeW: maxW - idleW, Source: "nameplate"}, nil
}

// SelectHostModel fits the host's own history when it can and otherwise
// falls back to its nameplate.
func SelectHostModel(history []HostSample, idleW, maxW float64) (HostModel, error) {
	if m, err := FitHostModel(history); err == nil {
		return m, nil
	}
	return NameplateModel(idleW, maxW)
}

// UtilSample is a host's CPU utilisation (0..1) at a time (field cpu_util
// of measurement host).
type UtilSample struct {
	Time time.Time
	Util float64
}

// KWh is the modelled energy of an unmetered host in [from, to): the model
// applied to each utilisation sample, then integrated like metered power.
func (m HostModel) KWh(util []UtilSample, from, to time.Time, maxGap time.Duration) Energy {
	p := make([]PowerSample, len(util))
	for i, u := range util {
		p[i] = PowerSample{Time: u.Time, KW: m.PowerW(u.Util) / 1000}
	}
	return Integrate(p, from, to, maxGap)
}

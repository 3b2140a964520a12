package libvirt

import (
	"hash/fnv"
	"math"
	"strings"
	"time"
)

// cpuSample is a domain's cumulative CPU time at one Collect.
type cpuSample struct {
	cpuNs uint64
	at    time.Time
}

// utilFromDelta is the share of its vCPUs a domain used between two
// samples: CPU-time delta / (wall delta × vCPUs), clamped to 0..1. ok is
// false when there is no usable delta (first sample, clock not advancing,
// CPU time going backwards after a restart).
func utilFromDelta(prev, cur cpuSample, vcpus int64) (util float64, ok bool) {
	wall := cur.at.Sub(prev.at)
	if wall <= 0 || vcpus <= 0 || cur.cpuNs < prev.cpuNs {
		return 0, false
	}
	return clamp01(float64(cur.cpuNs-prev.cpuNs) / (float64(wall.Nanoseconds()) * float64(vcpus))), true
}

func clamp01(v float64) float64 {
	return math.Max(0, math.Min(1, v))
}

// SyntheticCPUUtil is the CPU utilisation (0..1) a running VM called name
// reports at t on the test driver, whose CPU time is fake (wall-clock
// nanoseconds, the same for every domain) and so useless for a delta.
//
// It depends only on the name and t's time of day in t's location, so a
// demo, a test or a replay gets the same value for the same instant. Each
// name hashes to a mean load (10..55 %), a daily swing (30..80 % of the
// mean) peaking at a name-dependent hour (08:00..20:00; 00:00..05:00 for
// names starting with "batch"), and a ±4 % wobble that moves smoothly
// between 5-minute knots.
func SyntheticCPUUtil(name string, t time.Time) float64 {
	h := hash64(name)
	mean := 0.10 + 0.45*unitOf(h, 0)
	swing := 0.30 + 0.50*unitOf(h, 1)
	peak := 8 + 12*unitOf(h, 2) // hour of day
	if strings.HasPrefix(name, "batch") {
		peak = 5 * unitOf(h, 2)
	}
	// Clock time of day, so days with a DST change still wrap at 24:00.
	secs := float64(t.Hour()*3600+t.Minute()*60+t.Second()) + float64(t.Nanosecond())/1e9
	hour := secs / 3600
	daily := math.Cos(2 * math.Pi * (hour - peak) / 24) // 1 at the peak, -1 twelve hours away

	const knot = 300.0                // seconds between wobble knots
	const knots = int64(86400 / knot) // per day; the last knot joins the first
	k := math.Floor(secs / knot)
	f := (secs - k*knot) / knot
	f = f * f * (3 - 2*f) // smoothstep: no kinks at the knots
	w0 := 2*unitOf(hash64(name, int64(k)%knots), 3) - 1
	w1 := 2*unitOf(hash64(name, (int64(k)+1)%knots), 3) - 1
	wobble := 0.04 * (w0 + (w1-w0)*f)

	return math.Max(0.01, math.Min(0.98, mean*(1+swing*daily)+wobble))
}

// hash64 is FNV-1a of the name and the optional knot index.
func hash64(name string, knot ...int64) uint64 {
	f := fnv.New64a()
	f.Write([]byte(name))
	for _, k := range knot {
		var b [8]byte
		for i := range b {
			b[i] = byte(uint64(k) >> (8 * i))
		}
		f.Write(b[:])
	}
	return f.Sum64()
}

// unitOf derives the i-th independent value in [0,1) from h (splitmix64).
func unitOf(h uint64, i uint64) float64 {
	z := h + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

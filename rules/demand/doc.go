// Package demand predicts and controls the average power of fixed demand
// blocks: the 30-minute billing demand of Japanese high-voltage tariffs,
// hourly regulatory caps such as the 2011 Electricity Usage Restriction,
// and external (aggregator, DR) targets.
//
// The package is pure, like a Prometheus rule (shared/style.md): Evaluate
// is a function of (config, state, samples, now) that returns a Decision
// and the next State. It reads no clock and does no I/O; the daemon queries
// the store (adapters/influx Reader.SitePower) and hands the samples in, a
// test hands in a CSV, and Replay drives the same code over a whole summer
// of history in seconds.
//
// The quantities follow commercial demand controllers (Osaki, Tridium;
// shared/research/sla_peak.md §2.2 and §5b):
//
//	current demand      D_now  = E(τ) / L                 (Osaki 現在電力)
//	target ramp         D_lim · τ / L                      (目標現在電力)
//	predicted demand    D_pred = (E(τ) + P̂·r) / L         (予測電力)
//	adjustment power    ΔP     = (D_pred − D_lim)·L / max(r, r_min)   (調整電力)
//
// where L is the block length, τ the time elapsed in the block, r = L − τ
// the time left, E(τ) the energy so far and P̂ the recent load from a
// Predictor. Stages (Normal → Caution → Shed → Limit) are explicit data
// with hysteresis and a no-action time at the start of each block.
package demand

// Package energy turns meter readings into kWh and the figures built on
// kWh: per-meter and per-period energy with its data coverage, roll-ups by
// the site → room → rack → meter hierarchy, PUE as an energy ratio, host
// power models and per-VM energy attribution.
//
// The package is pure: no I/O, no wall clock. Callers (adapters/influx, the
// report and demand engines) pass samples in and get numbers out, so the
// same code computes a live dashboard figure and replays a whole summer.
//
// Sources of the rules (shared/research/sla_peak.md):
//   - §3.2: prefer energy registers over integrated power; integrate power
//     by the trapezoid rule only within a gap bound, never bridge longer
//     gaps, split at period boundaries by interpolation, and report
//     coverage; a register decrease that is not a wrap is a reset.
//   - §3.1: PUE = E_DC / E_IT measured as energy, labelled by measurement
//     category, "interim" when shorter than 12 months.
//   - §3.3: Kepler's attribution: split host energy into idle and active
//     parts and share the active part by CPU time.
package energy

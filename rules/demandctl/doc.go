// Package demandctl runs demand control for one site: the executor side of
// rules/demand, which stays pure.
//
// A Controller owns time and I/O, as the Prometheus rules manager does
// (shared/style.md): at every tick (a gocron/v2 duration job in singleton
// mode, so ticks never overlap; an injectable clock in tests) it reads the
// site's power and energy for the blocks in force from a Store (the
// InfluxDB reader), calls demand.EvaluateMetered with the State it carries,
// and carries the Decision out:
//
//   - a `demand` point every tick and a `demand_stage` point on each stage
//     transition (docs/schema.md), through a PointWriter (the write queue);
//   - each transition logged, and posted to the webhooks through a
//     Notifier (adapters/webhook), which queues and never blocks the tick;
//   - Prometheus gauges setsuden_demand_kw, setsuden_demand_predicted_kw,
//     setsuden_demand_stage and a few more;
//   - the latest Decision for the shedding engine: Latest and Subscribe.
//
// Limits come from the configuration (LimitSpec); a cap whose baseline or
// cut is to be taken from last year's stored history is completed by
// ResolveCaps at start and again each day. External targets (an
// aggregator's demand response event) are set at run time with
// SetExternalTarget or the operator API (Extension: GET /api/v1/demand,
// POST and DELETE /api/v1/demand/target).
//
// ReadHistory reads a long span in chunks for replays (setsuden demand
// replay) and baselines.
package demandctl

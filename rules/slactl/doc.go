// Package slactl runs SLA accounting for one site: the executor side of
// rules/sla, which stays pure.
//
// A Controller owns time and I/O, as the Prometheus rules manager does
// (shared/style.md):
//
//   - ProbeSources turns the configured probes into collector sources, so
//     the collector schedules them like meters and their "probe" points go
//     through the write path.
//   - Tap wraps the collector's sink: every point on its way to InfluxDB
//     is also read for SLA state. probe points are checks (ObserveCheck);
//     host points say a host answered (UP), a libvirt collector_errors
//     point says it did not (UNKNOWN: a failed poll is not a host outage);
//     vm and vm_event points give each VM's state (UP while it runs on any
//     host). The Tracker combines them host -> VM -> service as rules/sla
//     defines. ObserveComponent takes what the executor knows better
//     (a host it powered down is DOWN, cause energy-action).
//   - Run ticks (a gocron/v2 duration job, singleton; an injectable clock
//     in tests): Tracker.Advance(now), and each settled service change is
//     written as an sla_state_change point; at the first tick of a month
//     every state is re-asserted (docs/schema.md). A second job evaluates
//     the burn-rate and data-absent alerts on the settled timeline of the
//     last 72 hours and logs and posts (Notifier, adapters/webhook) each
//     alert that starts or stops firing. A monthly job issues the report
//     of the month before into the archive (report.Archive): all
//     customers, and each customer on its own; a run the daemon missed is
//     caught up at start.
//   - API is a server.Extension: the current state of every service, the
//     archived report revisions and their files, recomputation, and the
//     maintenance log (announcements are operator-only and append-only).
//
// The maintenance log is a sla.FileMaintenanceStore, which assumes one
// owner: OpenMaintenanceLog takes an exclusive lock beside it, and
// ReadMaintenanceLog reads it without writing, for reports and listings
// made while the daemon runs.
package slactl

// Package sla computes what a customer's SLA promises were worth over a
// period: availability against service hours, planned versus unplanned
// outages, failures against their limit, each failure's time to recover
// against the RTO, response time against its bound, and the error budget.
//
// The package follows the Prometheus rules model (shared/style.md): every
// evaluation is a pure function of its inputs (state changes, maintenance
// records, probe samples) and of the times it is given. Nothing here reads
// the wall clock or does I/O while evaluating; stores and the probe runner
// are separate types at the edges, and a scheduler owned by the caller
// decides when to evaluate. The same code therefore produces the monthly
// report, replays history and answers tests.
//
// Definitions follow shared/research/sla_peak.md section 5(a); where they
// differ from the tools surveyed in section 1 the code says so:
//
//   - State classes on the effective window, by precedence PLANNED >
//     UNKNOWN > DOWN > UP. PLANNED needs an audited maintenance record
//     announced at least the notice period (30 days by default, from the
//     SLA table in shared/mission.md) before it starts. Zabbix counts any
//     excluded downtime as good time and never checks when it was entered
//     (§1.1); here short-notice maintenance is downtime, labelled so.
//   - UNKNOWN is time without valid data (monitor or collector down, stale
//     data, nothing yet). It is never silently UP (Uptime Kuma #2401/#6475,
//     §1.4) nor DOWN: A excludes it, A_min counts it as down, and coverage
//     says how much of the time was known (Nagios' "% known time", §1.2).
//   - DOWN is a confirmed failure (N consecutive failed checks), back-dated
//     to the first failed check; Nagios and Icinga start at the hard state
//     (§1.2, §1.3), which under-reports every outage by the retry time.
//   - Time outside service hours and before the service was created is
//     outside the window, not good time (Zabbix counts it as good, §1.1).
//   - Figures are kept in seconds (durations) and ratios are computed from
//     them, so quarters and years are sums of seconds, never averages of
//     monthly percentages (§5a "Time base").
//
// State is derived from changes, never from samples: an evaluation costs
// the number of state changes and maintenance records, plus one pass over
// the probe samples for response time, or, with daily probe summaries
// (ProbeSummary, Evaluation.UseSummaries), over the summaries and the
// samples of the few service-days they cannot stand for.
package sla

package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/setsuden/setsuden/rules/sla"
)

// Definition is one paragraph of "How to read this report": what a term
// means as the code computes it, naming the parameters that change it.
type Definition struct {
	Term string
	Text string
}

// Definitions are the report's definitions under pol and checks (the
// site's policy and check policy; a zero check policy is the default one:
// a 1-minute interval). They are the single source of the glossary of the
// PDF and HTML reports and of docs/sla.md (TestDocsDefinitions keeps that
// file's copy, rendered with the defaults, the same). Parameters are named
// as in the sla section of setsuden.yaml; per-SLA ones (notice_period,
// rto, max_failures, response_bound, service_hours) by name only, as they
// differ between SLAs.
func Definitions(pol sla.Policy, checks sla.CheckPolicy) []Definition {
	pol = pol.WithDefaults()
	if checks.Interval <= 0 {
		checks.Interval = time.Minute
	}
	checks = checks.WithDefaults()
	d := HumanDuration
	return []Definition{
		{"Availability", "Availability = up / (up + down) over service time: the SLA's service_hours within the month, " +
			"from the service's created time on. Time outside it is not good time; it is not counted at all."},
		{"Down and up", fmt.Sprintf("A service behind a probe is DOWN after checks.failures_to_confirm (%d) consecutive failed checks, "+
			"from the first failed check, not from when the failure was confirmed; it is UP again after checks.oks_to_recover (%d) "+
			"consecutive successful checks, from the first of them. Fewer failed checks in a row are up time. A service on hosts or VMs "+
			"follows them: a VM is up while any host runs it.", checks.FailuresToConfirm, checks.OKsToRecover)},
		{"Unknown", fmt.Sprintf("Unknown is service time without valid monitoring data. When no check result arrives for longer than "+
			"checks.stale_after (%s; default 3 x checks.interval), unknown starts when the missed check was due, the last check plus "+
			"checks.interval (%s), and ends at the next check. A host whose libvirt poll fails is unknown until a poll succeeds, and a "+
			"service is unknown before its first check and while setsuden was not running. Unknown is neither up nor down: A min counts "+
			"it as down; coverage is the share of service time that was known; a month that meets the objective only on known time while "+
			"coverage is below policy.min_coverage (%s) is INSUFFICIENT DATA.", d(checks.StaleAfter), d(checks.Interval), percent(pol.MinCoverage, 1))},
		{"Maintenance", fmt.Sprintf("A maintenance window announced at least the SLA's notice_period before it starts is planned and "+
			"excluded from service time; announced later it is short-notice maintenance and counts as downtime. Downtime after a window's "+
			"end is an overrun. Every record keeps who announced it, when they say they did (announced) and when setsuden recorded it: "+
			"an announcement earlier than its recording by more than policy.backdate_tolerance (%s) is back-dated and counts from the "+
			"recording, unless approved (backdate_approved_by) or imported from a calendar (setsuden maintenance import), whose "+
			"announcement times count; the report shows both times.", d(pol.BackdateTolerance))},
		{"Incidents", fmt.Sprintf("An incident is downtime; stretches of it less than policy.merge_gap (%s) of up time apart are one "+
			"incident. An incident counts in the month it started; its downtime is split across months.", d(pol.MergeGap))},
		{"Failures and MTTR", "Every incident is a failure except one whose only cause is short-notice maintenance, which is downtime " +
			"but not a failure; downtime caused by setsuden's own energy actions is a failure. Failures count against the SLA's " +
			"max_failures and rto. Time to recover is service time from an incident's start to its recovery, planned time excluded; " +
			"MTTR = the failures' time to recover / failures, MTBF = up / failures; both are 0 in a month without failures."},
		{"Error budget and response", "Error budget = (1 - objective) x (up + down); spent = down. Response time counts valid probes " +
			"(in service time, not planned, not unknown) against the SLA's response_bound; failed probes are not within the bound."},
		{"Quarters and years", "Quarterly and yearly figures are sums of seconds, never averages of monthly percentages."},
	}
}

// DefinitionsMarkdown renders defs as docs/sla.md holds them: one bullet
// per definition, the term in bold.
func DefinitionsMarkdown(defs []Definition) string {
	var b strings.Builder
	for _, x := range defs {
		fmt.Fprintf(&b, "- **%s.** %s\n", x.Term, x.Text)
	}
	return b.String()
}

package report_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/setsuden/setsuden/report"
	"github.com/setsuden/setsuden/rules/sla"
)

var updateDocs = flag.Bool("update", false, "rewrite the definitions block of docs/sla.md")

const (
	defsBegin = "<!-- definitions:begin (generated from report.Definitions; do not edit by hand) -->\n"
	defsEnd   = "<!-- definitions:end -->"
)

// TestDocsDefinitions: docs/sla.md states the report's definitions, word
// for word, rendered with the default parameters.
func TestDocsDefinitions(t *testing.T) {
	const path = "../docs/sla.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, defsBegin), strings.Index(doc, defsEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no definitions block (%q ... %q)", path, defsBegin, defsEnd)
	}
	want := report.DefinitionsMarkdown(report.Definitions(sla.Policy{}, sla.CheckPolicy{}))
	got := doc[i+len(defsBegin) : j]
	if *updateDocs {
		if err := os.WriteFile(path, []byte(doc[:i+len(defsBegin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != want {
		t.Errorf("the definitions in %s differ from report.Definitions (go test ./report -run TestDocsDefinitions -update):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// The definitions agree with what the code computes: an incident caused
// only by short-notice maintenance is not a failure (the table leaves it
// out, and so does the text), and each parameter's value is printed.
func TestDefinitionsFollowParameters(t *testing.T) {
	defs := report.Definitions(sla.Policy{MergeGap: 10 * 60e9, MinCoverage: 0.95}, sla.CheckPolicy{Interval: 30e9, FailuresToConfirm: 5})
	text := report.DefinitionsMarkdown(defs)
	for _, w := range []string{"checks.failures_to_confirm (5)", "checks.stale_after (1m 30s;", "checks.interval (30s)",
		"policy.merge_gap (10m 00s)", "policy.min_coverage (95.0%)", "except one whose only cause is short-notice maintenance"} {
		if !strings.Contains(text, w) {
			t.Errorf("definitions lack %q:\n%s", w, text)
		}
	}
}

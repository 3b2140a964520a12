package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleApprovesAPlanInChromium drives the Peak-shaving page against
// `setsuden demo --shed-mode approve` in a real headless Chromium: the
// demo operator logs in, sees the plan waiting for approval with its steps
// and expected kW, approves it, and watches its status change to done as
// the demo's migrator carries it out (live, through the stream's plans
// event), with a screenshot of each state.
func TestConsoleApprovesAPlanInChromium(t *testing.T) {
	br, password, _ := startConsole(t, 6*time.Minute, "--shed-mode", "approve") // on the login page
	base, ctx, shots := br.base, br.ctx, br.shots
	step, text, waitFor, shot := br.step, br.text, br.waitFor, br.shot
	br.explain = func() string { return fmt.Sprintf("plans: %q", text("#plans")) }

	step("log in", consoleLogin("demo", password, "site-kw")...)
	step("peak page", chromedp.Click(chromedp.CSS(`#nav a[href="#peak"]`)), chromedp.WaitVisible(chromedp.ID("plans")))
	waitFor("the approve mode", `document.getElementById("plan-mode").textContent.startsWith("Mode: approve")`, 30*time.Second)

	// From here the page's 10 s poll is stopped: what changes on the page
	// arrives through the stream's plans event (and the click's answer).
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`stopPage(); S.timers.length`)); err != nil || n != 0 {
		t.Fatalf("stopping the page's poll: %d %v", n, err)
	}

	// The demo's demand-response target starts a shed whose plan waits.
	waitFor("a plan waiting for approval", `document.querySelector('#plans .plan[data-status="waiting"] button[id^="approve-"]') !== null`, 180*time.Second)
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#plans .plan[data-status="waiting"]').id.slice(5)`))
	if err != nil || id == "" {
		t.Fatalf("the waiting plan's id: %q %v", id, err)
	}
	box := `#plan-` + id
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("`+box+` table.steps tbody tr").length`)); n == 0 {
		t.Errorf("the waiting plan shows no steps: %q", text(box))
	}
	if v := text(box + ` table.steps`); !strings.Contains(v, "migrate") || !strings.Contains(v, "pending") {
		t.Errorf("the steps do not say what they do and their status: %q", v)
	}
	if v := text("#plan-expected-" + id); !strings.HasSuffix(v, " kW") || v == "0.0 kW" {
		t.Errorf("expected kW %q", v)
	}
	if v := text("#plan-measured-" + id); v != "—" {
		t.Errorf("a waiting plan shows a measured kW %q", v)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("cancel-`+id+`") !== null`)); !v {
		t.Error("no Cancel button on the waiting plan")
	}
	shot("09-peak-plan-waiting")

	// The operator's click goes through with the session's CSRF token.
	step("approve", chromedp.Click(chromedp.ID("approve-"+id)))
	waitFor("the approval's answer", `document.getElementById("plan-result-`+id+`") && document.getElementById("plan-result-`+id+`").textContent.startsWith("Approved")`, 30*time.Second)
	waitFor("the plan to be done", `document.querySelector("`+box+`") && document.querySelector("`+box+`").dataset.status === "done"`, 180*time.Second)
	if v := text(box + ` table.steps`); strings.Contains(v, "pending") || !strings.Contains(v, "done") {
		t.Errorf("the done plan's steps: %q", v)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("approve-`+id+`") === null`)); !v {
		t.Error("the done plan still offers Approve")
	}
	shot("10-peak-plan-done")

	// The daemon agrees with the page.
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/plans/"+id, nil)
	req.SetBasicAuth("demo", password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &p); err != nil || p.Status != "done" {
		t.Errorf("GET /api/v1/plans/%s: %d %s", id, resp.StatusCode, b)
	}

	// Reports: this month's bill from the demo's meters (GET /api/v1/cost).
	step("reports page", chromedp.Click(chromedp.CSS(`#nav a[href="#reports"]`)), chromedp.WaitVisible(chromedp.ID("bill-total")))
	month := time.Now().In(time.FixedZone("JST", 9*3600)).Format("2006-01")
	waitFor("the month's bill", `/^\d+ yen \(`+month+`\)$/.test(document.getElementById("bill-total").textContent)`, 60*time.Second)
	if v := text("#bill-lines"); !strings.Contains(v, "basic charge") || !strings.Contains(v, "energy charge") {
		t.Errorf("bill lines %q", v)
	}
	if v := text("#bill-coverage"); !strings.HasSuffix(v, " %") {
		t.Errorf("bill coverage %q", v)
	}
	// The value of the month's shed events (?shed=1) and its CO2.
	if v := text("#bill-shed"); !regexp.MustCompile(`^\d+ events, [\d,]+ yen saved \(estimate\)$`).MatchString(v) {
		t.Errorf("bill shed value %q", v)
	}
	if v := text("#bill-co2"); !regexp.MustCompile(`^[\d,]+ kg location-based, [\d,]+ kg adjusted \(kepco 2018\)$`).MatchString(v) {
		t.Errorf("bill CO2 %q", v)
	}
	shot("11-reports-bill")
	t.Logf("screenshots in %s", shots)
}

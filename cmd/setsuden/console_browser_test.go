package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/setsuden/setsuden/adapters/influx"
)

// startDemo runs `setsuden demo` and returns its URL and account password;
// the demo is stopped (SIGTERM) when the test ends.
func startDemo(t *testing.T, args ...string) (base, password, data string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts influxd, simulators and Chromium")
	}
	if _, err := influx.FindInfluxd(); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	data = t.TempDir()
	cmd := exec.Command(bin, append([]string{"demo", "--listen", "127.0.0.1:0", "--data", data}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	logf, err := os.Create(filepath.Join(data, "demo.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("demo log:\n%s", b)
		}
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	wait := func() string {
		select {
		case l := <-lines:
			return l
		case err := <-exited:
			t.Fatalf("demo exited: %v", err)
		case <-time.After(120 * time.Second):
			t.Fatal("demo: no output within 120 s")
		}
		return ""
	}
	m := regexp.MustCompile(`^setsuden ready: (http://\S+)$`).FindStringSubmatch(wait())
	if m == nil {
		t.Fatal("no ready line")
	}
	acct := regexp.MustCompile(`^console login: user demo, password (\S+) `).FindStringSubmatch(wait())
	if acct == nil {
		t.Fatal("the demo did not print its account")
	}
	if acct[1] != demoPassword(t, data) {
		t.Error("the printed password is not the one in the data directory")
	}
	return m[1], acct[1], data
}

// customerPassword is the demo customer's password.
func customerPassword(t *testing.T, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "customer-password"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// screenshotDir is where the browser test saves a PNG per page for review.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("SETSUDEN_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "setsuden-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestConsoleInChromium drives the console against `setsuden demo` in a
// real headless Chromium: log in, watch the power change live, open a rack
// and a host, switch to Japanese, announce a maintenance window, download a
// report, and save a screenshot of every page.
func TestConsoleInChromium(t *testing.T) {
	br, password, data := startConsole(t, 4*time.Minute) // on the login page
	base, ctx, shots := br.base, br.ctx, br.shots
	step, text, waitFor, shot := br.step, br.text, br.waitFor, br.shot

	// 1. Anonymous: the login page, nothing else.
	if v := text("#page-overview"); strings.Contains(v, "pdu-a1") {
		t.Error("the overview is filled in before login")
	}
	step("wrong password", consoleLogin("demo", "not-it", "login-error")...)
	shot("01-login")
	step("log in", consoleLogin("", password, "site-kw")...) // the name stays typed

	// 2. Overview: power arrives and changes without a reload.
	waitFor("site power", `/^\d+\.\d$/.test(document.getElementById("site-kw").textContent) && document.getElementById("conn").textContent === "live"`, 40*time.Second)
	first, updated := text("#site-kw"), text("#updated")
	waitFor("the power value to change", fmt.Sprintf(`document.getElementById("updated").textContent !== %q`, updated), 30*time.Second)
	if kw, err := strconv.ParseFloat(first, 64); err != nil || kw <= 0 {
		t.Errorf("site power %q", first)
	}
	waitFor("the block gauge", `/^(normal|caution|shed|limit)$/.test(document.getElementById("demand-stage").textContent)`, 40*time.Second)
	waitFor("today's curve", `document.querySelector("#chart-today canvas") !== null`, 70*time.Second)
	if v := text("#pue-now"); !regexp.MustCompile(`^\d\.\d\d$`).MatchString(v) {
		t.Errorf("PUE now %q", v)
	}
	if v := text("#hot-inlets"); !strings.Contains(v, "°C") {
		t.Errorf("hottest inlets %q", v)
	}
	if v := text("#sources"); !strings.Contains(v, "pdu-a1") {
		t.Errorf("collectors' health %q", v)
	}
	shot("02-overview")

	// 3. Floor: the racks, then a rack, then a host with its VMs.
	step("floor", chromedp.Click(chromedp.CSS(`#nav a[href="#floor"]`)), chromedp.WaitVisible(chromedp.ID("rack-A-A01")))
	step("open rack", chromedp.Click(chromedp.ID("rack-A-A01")), chromedp.WaitVisible(chromedp.ID("rack-detail")))
	waitFor("the rack's meters and chart", `document.getElementById("rack-meters").textContent.includes("pdu-a1") && document.querySelector("#chart-rack canvas") !== null`, 30*time.Second)
	step("open host", chromedp.Click(chromedp.CSS(`#rack-hosts button`)), chromedp.WaitVisible(chromedp.ID("host-detail")))
	waitFor("the host's VMs", `document.querySelectorAll("#host-vms tbody tr").length > 0`, 30*time.Second)
	shot("03-floor-rack-host")

	// 4. Japanese.
	step("switch to Japanese", chromedp.Click(chromedp.ID("lang")))
	waitFor("Japanese labels", `document.querySelector('#nav a[href="#floor"]').textContent === "フロア" && document.documentElement.lang === "ja"`, 10*time.Second)
	step("overview in Japanese", chromedp.Click(chromedp.CSS(`#nav a[href="#overview"]`)), chromedp.WaitVisible(chromedp.ID("site-kw")))
	waitFor("the stage in Japanese", `["通常","注意","削減","限界"].includes(document.getElementById("demand-stage").textContent)`, 20*time.Second)
	// The power chart's axes follow the switch, the time axis in the site's zone.
	waitFor("the power chart's axes in Japanese", `(() => { const u = S.charts["chart-today"];
		return !!u && u.axes[1].label === "電力 (kW)" && u.axes[0].label === "時刻 (Asia/Tokyo)" &&
			document.querySelector("#chart-today .u-legend").textContent.includes("本日 kW") &&
			document.querySelector("#chart-today .u-legend").textContent.includes("時刻"); })()`, 70*time.Second)
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const u = S.charts["chart-today"]; return u.axes[0].values(u, [Date.UTC(2026, 6, 1, 3, 0) / 1000]).join(); })()`)); err != nil || v != "12:00" {
		t.Errorf("the time axis labels 03:00 UTC as %q (%v), want 12:00 in Asia/Tokyo", v, err)
	}
	waitFor("the open alarms from the server", `Array.isArray(S.alarms) && document.querySelectorAll("#alarms li").length === Math.max(1, S.alarms.length)`, 20*time.Second)
	shot("04-overview-ja")

	// 5. A maintenance window, with the notice rule shown before saving.
	step("SLA page", chromedp.Click(chromedp.CSS(`#nav a[href="#sla"]`)), chromedp.WaitVisible(chromedp.ID("maint-form")))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`/\d+\.\d{3} %/.test(document.getElementById("sla-services").textContent)`,
		chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(500*time.Millisecond))); err != nil {
		t.Errorf("the SLA page shows no month's availability: %v (%q)", err, text("#sla-services"))
	}
	waitFor("the month's incidents", `document.getElementById("incidents-month").value !== "" &&
		(document.querySelectorAll("#sla-incidents tbody tr").length > 0 || !document.getElementById("incidents-empty").hidden) &&
		document.querySelector("#page-sla h2[data-i18n='sl.incidents']").textContent === "インシデント" &&
		document.getElementById("incidents-response").textContent.includes("web の応答時間: 3.0 秒以内")`, 30*time.Second)
	start := time.Now().Add(40 * 24 * time.Hour).In(time.FixedZone("JST", 9*3600))
	step("fill the window",
		chromedp.SetValue(chromedp.ID("maint-services"), "web"),
		chromedp.SetValue(chromedp.ID("maint-start"), start.Format("2006-01-02T15:04")),
		chromedp.SetValue(chromedp.ID("maint-end"), start.Add(2*time.Hour).Format("2006-01-02T15:04")),
		chromedp.SetValue(chromedp.ID("maint-reason"), "storage firmware <script>alert(1)</script>"),
		chromedp.Click(chromedp.ID("maint-check")))
	waitFor("the notice rule", `document.getElementById("maint-notice").textContent.includes("計画メンテナンス") && !document.getElementById("maint-save").disabled`, 20*time.Second)
	step("save", chromedp.Click(chromedp.ID("maint-save")))
	waitFor("the saved window in the list", `document.getElementById("maint-list").textContent.includes("storage firmware <script>")`, 20*time.Second)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#maint-list script").length`)); n != 0 {
		t.Error("a maintenance reason reached the page as markup")
	}
	shot("05-sla-maintenance")

	// 6. Peak shaving (the executor's plans appear once it is wired).
	step("peak page", chromedp.Click(chromedp.CSS(`#nav a[href="#peak"]`)), chromedp.WaitVisible(chromedp.ID("peak-limits")))
	waitFor("the limits", `document.querySelectorAll("#peak-limits tbody tr").length > 0`, 20*time.Second)
	shot("06-peak")

	// 7. Reports: issue last month's by hand, then view and download it.
	prev := time.Now().In(time.FixedZone("JST", 9*3600)).AddDate(0, -1, 0).Format("2006-01")
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/reports/"+prev+"/recompute", strings.NewReader(`{"reason": "browser test"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("demo", password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Fatalf("recompute %s: %d %s", prev, resp.StatusCode, body)
	}
	step("reports page", chromedp.Click(chromedp.CSS(`#nav a[href="#reports"]`)), chromedp.WaitVisible(chromedp.CSS(`#report-list a[data-format="csv"]`)))
	csv, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('#report-list a[data-format="csv"]').href, {credentials: "same-origin"}).then(r => r.status + " " + r.headers.get("Content-Disposition") + "\n" + r.text()).then(x => x)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('#report-list a[data-format="csv"]').href).then(async r => r.status + " " + r.headers.get("Content-Disposition") + "\n" + await r.text())`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(got, "200 attachment; filename=\"sla-report-"+prev) || !strings.Contains(got, "web") {
		t.Errorf("report download from the page: %v %.300q (%.80q)", err, got, csv)
	}
	shot("07-reports")

	// 8. Logout: the API refuses the browser again.
	step("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-name")))
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/api/v1/live").then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 401 {
		t.Errorf("after logout /api/v1/live: %d %v, want 401", status, err)
	}

	// 9. The customer: its own services and reports, nothing else.
	step("customer login", chromedp.SetValue(chromedp.ID("login-name"), "demo-corp"), chromedp.SetValue(chromedp.ID("login-password"), customerPassword(t, data)),
		chromedp.Click(chromedp.ID("login-submit")), chromedp.WaitVisible(chromedp.ID("sla-services")))
	waitFor("the customer's service", `document.getElementById("sla-services").textContent.includes("Demo Corp.")`, 20*time.Second)
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`getComputedStyle(document.querySelector('#nav a[href="#floor"]')).display === "none"`)); !v {
		t.Error("the customer sees the floor in the menu")
	}
	status, err = chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/api/v1/live").then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Errorf("customer /api/v1/live: %d %v, want 403", status, err)
	}
	scopes, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch("/api/v1/reports").then(r => r.json()).then(j => j.revisions.map(x => x.scope).join(","))`, chromedp.EvalAwaitPromise))
	if err != nil || scopes != "Demo Corp." {
		t.Errorf("customer's reports: %q %v, want Demo Corp.'s only", scopes, err)
	}
	step("customer reports", chromedp.Click(chromedp.CSS(`#nav a[href="#reports"]`)), chromedp.WaitVisible(chromedp.CSS(`#report-list a[data-format="pdf"]`)))
	shot("08-customer-reports")
	t.Logf("screenshots in %s", shots)

}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleUsersPageInChromium: the demo's admin manages a user on the
// Users page of `setsuden demo` in a real headless Chromium, and the API
// shows each change took effect: the created operator logs in (a fresh
// browser context) and is logged out when disabled; enabled again, then
// demoted to viewer, they lose the operator's reads; a too-short password
// is refused naming the field; the reset password works and the old one
// does not; a named API token is shown once, authenticates as the user,
// is listed with its last use (never the secret) and stops when revoked.
func TestConsoleUsersPageInChromium(t *testing.T) {
	admin, password, _ := startConsole(t, 5*time.Minute)
	base := admin.base
	admin.explain = func() string {
		return "result: " + admin.text("#user-result") + " | edit: " + admin.text("#edit-result")
	}
	// call is an API request from the test (outside the browser).
	call := func(method, path string, auth func(*http.Request)) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		auth(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	basicAuth := func(user, pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, pass) }
	}
	bearer := func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	}
	row := func(user string, has ...string) string {
		conds := []string{`r.cells[0].textContent === "` + user + `"`}
		for _, h := range has {
			conds = append(conds, `r.textContent.includes("`+h+`")`)
		}
		return `[...document.querySelectorAll("#user-list tbody tr")].some(r => ` + strings.Join(conds, " && ") + `)`
	}

	admin.login("demo", password, "whoami")
	const opPassword = "operator password 1"
	admin.step("users page", chromedp.Navigate(base+"/?lang=en#users"), chromedp.WaitVisible(chromedp.ID("user-form")))
	admin.waitFor("the password rules on the create form", `document.getElementById("user-password-rules").textContent === "Passwords: at least 12 characters, at most 72 bytes."`, 30*time.Second)
	admin.step("create olga", chromedp.SendKeys(chromedp.ID("user-name"), "olga"), chromedp.SetValue(chromedp.ID("user-role"), "operator"),
		chromedp.SendKeys(chromedp.ID("user-password"), opPassword), chromedp.Click(chromedp.ID("user-create")))
	admin.waitFor("olga in the list", row("olga", "operator", "store"), 60*time.Second)

	// The operator logs in in a fresh browser context (its own cookies).
	op := admin.newUser()
	op.login("olga", opPassword, "whoami")
	op.waitFor("olga logged in", `document.getElementById("whoami").textContent.includes("olga (operator)")`, 60*time.Second)

	// Disabled: the operator's session stops at once.
	admin.step("disable olga", chromedp.Click(chromedp.CSS(`#user-list button.user-disable[data-user="olga"]`)))
	admin.waitFor("olga disabled", row("olga", "disabled"), 60*time.Second)
	if status, err := eval[int](op, `fetch("/api/v1/session", {credentials: "same-origin"}).then(r => r.status)`); err != nil || status != 401 {
		t.Fatalf("olga's session after disable: %d %v, want 401", status, err)
	}
	// Enabled again: the password works; as an operator olga reads the cost.
	admin.step("enable olga", chromedp.Click(chromedp.CSS(`#user-list button.user-enable[data-user="olga"]`)))
	admin.waitFor("olga enabled", row("olga", "enabled")+` && document.getElementById("user-result").textContent === "User enabled"`, 60*time.Second)
	if code, _ := call("GET", "/api/v1/cost", basicAuth("olga", opPassword)); code == 401 || code == 403 {
		t.Fatalf("enabled operator olga reads the cost: %d", code)
	}

	// The edit card: demote to viewer; the operator's reads are refused.
	admin.step("edit olga", chromedp.Click(chromedp.CSS(`#user-list button.user-edit[data-user="olga"]`)), chromedp.WaitVisible(chromedp.ID("user-edit")))
	admin.waitFor("the edit card for olga", `document.getElementById("edit-name").textContent === "olga" && document.getElementById("edit-role").value === "operator" &&
		document.getElementById("edit-password-rules").textContent.startsWith("Passwords: at least 12 characters")`, 30*time.Second)
	admin.step("demote olga", chromedp.SetValue(chromedp.ID("edit-role"), "viewer"), chromedp.Click(chromedp.ID("edit-role-save")))
	admin.waitFor("olga a viewer", `document.getElementById("edit-result").textContent === "olga is now viewer" && `+row("olga", "viewer"), 60*time.Second)
	if code, _ := call("GET", "/api/v1/cost", basicAuth("olga", opPassword)); code != 403 {
		t.Fatalf("viewer olga reads the cost: %d, want 403", code)
	}
	if code, _ := call("GET", "/api/v1/live", basicAuth("olga", opPassword)); code != 200 {
		t.Fatalf("viewer olga reads live: %d, want 200", code)
	}

	// A password against the rules: refused, the field named on the page.
	admin.step("short password", chromedp.SendKeys(chromedp.ID("edit-password"), "short"), chromedp.Click(chromedp.ID("edit-password-save")))
	admin.waitFor("the refusal naming the field", `document.getElementById("edit-result").textContent.startsWith("Not saved: password: too short (expected at least 12 characters)") &&
		document.getElementById("edit-result").classList.contains("failed")`, 30*time.Second)
	// The reset: the new password logs in, the old one does not.
	const newPassword = "olga reset password 2"
	admin.step("reset olga's password", chromedp.SetValue(chromedp.ID("edit-password"), newPassword),
		chromedp.Click(chromedp.ID("edit-password-save")))
	admin.waitFor("the reset", `document.getElementById("edit-result").textContent === "Password of olga reset" && document.getElementById("edit-password").value === ""`, 60*time.Second)
	if code, m := call("GET", "/api/v1/session", basicAuth("olga", newPassword)); code != 200 || m["user"].(map[string]any)["role"] != "viewer" {
		t.Fatalf("olga's new password: %d %v", code, m)
	}
	if code, _ := call("GET", "/api/v1/session", basicAuth("olga", opPassword)); code != 401 {
		t.Fatalf("olga's old password after the reset: %d, want 401", code)
	}
	op.step("olga's session ended", chromedp.Navigate(base+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("login-name")), chromedp.SetValue(chromedp.ID("login-name"), "olga"))
	op.login("", newPassword, "whoami")
	op.waitFor("olga logged in again", `document.getElementById("whoami").textContent.includes("olga (viewer)")`, 60*time.Second)

	// A named token, shown once with the copy hint.
	admin.step("create a token", chromedp.SendKeys(chromedp.ID("edit-token-name"), "ci-script"), chromedp.Click(chromedp.ID("edit-token-create")))
	admin.waitFor("the token shown once", `!document.getElementById("edit-token-new").hidden && document.getElementById("edit-token-value").value.startsWith("sst_") &&
		document.getElementById("edit-token-new").textContent.includes("shown only once") && document.getElementById("edit-result").textContent === "Token ci-script created"`, 60*time.Second)
	token, err := eval[string](admin, `document.getElementById("edit-token-value").value`)
	if err != nil {
		t.Fatal(err)
	}
	admin.step("copy", chromedp.Click(chromedp.ID("edit-token-copy")))
	admin.waitFor("the copy hint", `["Copied to the clipboard", "Selected: press Ctrl+C (⌘C) to copy"].includes(document.getElementById("edit-token-copied").textContent)`, 10*time.Second)
	admin.waitFor("the token listed", `[...document.querySelectorAll("#edit-token-list tbody tr")].some(r => r.cells[0].textContent === "ci-script" && r.cells[3].textContent === "never")`, 30*time.Second)
	admin.shot("12-users-token-once")
	if code, m := call("GET", "/api/v1/session", bearer(token)); code != 200 || m["user"].(map[string]any)["name"] != "olga" || m["user"].(map[string]any)["role"] != "viewer" {
		t.Fatalf("olga's token: %d %v", code, m)
	}
	// Listed afterwards with its last use, never the secret.
	admin.step("leave and come back", chromedp.Click(chromedp.CSS(`#nav a[href="#overview"]`)), chromedp.WaitVisible(chromedp.ID("site-kw")),
		chromedp.Click(chromedp.CSS(`#nav a[href="#users"]`)), chromedp.WaitVisible(chromedp.ID("user-list")))
	admin.waitFor("the last use in the list", `[...document.querySelectorAll("#edit-token-list tbody tr")].some(r => r.cells[0].textContent === "ci-script" && /\d\d:\d\d/.test(r.cells[3].textContent))`, 30*time.Second)
	if shown, err := eval[bool](admin, `document.documentElement.outerHTML.includes(`+jsString(token)+`) || document.getElementById("edit-token-value").value !== "" || !document.getElementById("edit-token-new").hidden`); err != nil || shown {
		t.Fatalf("the token is shown again after leaving the page: %v %v", shown, err)
	}
	if code, m := call("GET", "/api/v1/users", basicAuth("demo", password)); code != 200 || strings.Contains(jsonString(m), token) {
		t.Fatalf("the user list shows the token: %d", code)
	}
	// A second token of the same name: refused, the field named.
	admin.step("duplicate token name", chromedp.SendKeys(chromedp.ID("edit-token-name"), "ci-script"), chromedp.Click(chromedp.ID("edit-token-create")))
	admin.waitFor("the refusal naming the field", `document.getElementById("edit-result").textContent.startsWith("Not saved: name: user \"olga\" has a token named \"ci-script\" already") &&
		document.getElementById("edit-token-new").hidden`, 30*time.Second)

	// Revoked: the token stops at once.
	if ok, err := eval[bool](admin, `window.confirm = () => true; true`); err != nil || !ok { // the page asks before revoking
		t.Fatalf("answering the page's confirm: %v", err)
	}
	admin.step("revoke", chromedp.Click(chromedp.CSS(`#edit-token-list button.token-revoke`)))
	admin.waitFor("the token gone", `document.getElementById("edit-result").textContent === "Token ci-script revoked" && document.querySelectorAll("#edit-token-list tbody tr").length === 0`, 60*time.Second)
	if code, _ := call("GET", "/api/v1/session", bearer(token)); code != 401 {
		t.Fatalf("olga's revoked token: %d, want 401", code)
	}
	admin.shot("13-users-edit")
	// In Japanese: the new labels and the rules are translated.
	admin.step("switch to Japanese", chromedp.Click(chromedp.ID("lang")))
	admin.waitFor("the edit card in Japanese", `document.querySelector("#user-edit h2 span[data-i18n='us.edit']").textContent === "ユーザーを編集" &&
		document.getElementById("edit-token-create").textContent === "トークンを作成" &&
		document.getElementById("edit-password-rules").textContent.startsWith("パスワード: 12 文字以上、72 バイト以下。")`, 30*time.Second)
	admin.shot("14-users-edit-ja")
	t.Logf("screenshots in %s", admin.shots)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

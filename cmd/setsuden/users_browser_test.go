package main

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleUsersPageInChromium: the demo's admin creates an operator on
// the Users page; the operator logs in in a fresh browser context; the
// admin disables them and the operator's session stops working at once.
func TestConsoleUsersPageInChromium(t *testing.T) {
	base, password, _ := startDemo(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	admin, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	admin, cancelT := context.WithTimeout(admin, 4*time.Minute)
	defer cancelT()
	run := func(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll := func(ctx context.Context, what, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(250*time.Millisecond))); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	login := func(ctx context.Context, name, pw string) {
		t.Helper()
		run(ctx, "log in as "+name, chromedp.Navigate(base+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("login-name")),
			chromedp.SendKeys(chromedp.ID("login-name"), name), chromedp.SendKeys(chromedp.ID("login-password"), pw),
			chromedp.Click(chromedp.ID("login-submit")), chromedp.WaitVisible(chromedp.ID("whoami")))
	}
	login(admin, "demo", password)
	const opPassword = "operator password 1"
	run(admin, "users page", chromedp.Navigate(base+"/?lang=en#users"), chromedp.WaitVisible(chromedp.ID("user-form")),
		chromedp.SendKeys(chromedp.ID("user-name"), "olga"), chromedp.SetValue(chromedp.ID("user-role"), "operator"),
		chromedp.SendKeys(chromedp.ID("user-password"), opPassword), chromedp.Click(chromedp.ID("user-create")))
	poll(admin, "olga in the list", `[...document.querySelectorAll("#user-list tbody tr")].some(r => r.textContent.includes("olga") && r.textContent.includes("operator") && r.textContent.includes("store"))`)

	// A fresh browser context (its own cookies) for the operator.
	op, cancelOp := chromedp.NewContext(admin, chromedp.WithNewBrowserContext())
	defer cancelOp()
	login(op, "olga", opPassword)
	poll(op, "olga logged in", `document.getElementById("whoami").textContent.includes("olga (operator)")`)

	run(admin, "disable olga", chromedp.Click(chromedp.CSS(`#user-list button.user-disable[data-user="olga"]`)))
	poll(admin, "olga disabled", `[...document.querySelectorAll("#user-list tbody tr")].some(r => r.textContent.includes("olga") && r.textContent.includes("disabled"))`)

	status, err := chromedp.Run(op, chromedp.Evaluate[int](`fetch("/api/v1/session", {credentials: "same-origin"}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("olga's session: %v", err)
	}
	if status != 401 {
		t.Fatalf("olga's session after disable: %v, want 401", status)
	}
}

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is a tab of a real headless Chromium on the console of a
// running `setsuden demo`, for the browser tests.
type chromium struct {
	t     *testing.T
	ctx   context.Context
	base  string // the console's URL
	shots string // where shot saves its PNGs
	// explain, when set, adds what the page shows to a failed wait.
	explain func() string
}

// startConsole starts `setsuden demo` with args and a headless Chromium
// (its own profile) whose tab lives at most limit and shows the login page
// in English; both stop when the test ends. It returns the tab, the demo
// account's password and the demo's data directory.
func startConsole(t *testing.T, limit time.Duration, args ...string) (b *chromium, password, data string) {
	t.Helper()
	base, password, data := startDemo(t, args...)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	b = &chromium{t: t, ctx: ctx, base: base, shots: screenshotDir(t)}
	b.step("open", chromedp.Navigate(base+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("login-name")))
	return b, password, data
}

// newUser is another tab in a fresh browser context (its own cookies) on
// the login page: a second user at the same console.
func (b *chromium) newUser() *chromium {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	o := &chromium{t: b.t, ctx: ctx, base: b.base, shots: b.shots}
	o.step("open", chromedp.Navigate(b.base+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("login-name")))
	return o
}

// login logs in from the login page and waits for the element waitID.
func (b *chromium) login(name, password, waitID string) {
	b.t.Helper()
	b.step("log in as "+name, consoleLogin(name, password, waitID)...)
}

// step runs the actions, failing the test with name.
func (b *chromium) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", name, err)
	}
}

// text is the trimmed textContent of the element sel.
func (b *chromium) text(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// waitFor polls js until it is true, for at most limit.
func (b *chromium) waitFor(what, js string, limit time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(limit), chromedp.WithPollingInterval(250*time.Millisecond))); err != nil {
		if b.explain != nil {
			b.t.Fatalf("waiting for %s: %v (%s)", what, err, b.explain())
		}
		b.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// shot saves a full-page screenshot as name.png.
func (b *chromium) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// eval is the value of js in the page (a promise is awaited).
func eval[T any](b *chromium, js string) (T, error) {
	return chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

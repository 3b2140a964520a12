package main

import "github.com/chromedp/chromedp"

// consoleLogin types name (none when "": the field keeps what it has) and
// password into the console's login form, sends it and waits until the
// element with id waitID is visible: the first page after a login, or
// "login-error".
func consoleLogin(name, password, waitID string) []chromedp.Action[chromedp.Void] {
	var a []chromedp.Action[chromedp.Void]
	if name != "" {
		a = append(a, chromedp.SendKeys(chromedp.ID("login-name"), name))
	}
	return append(a, chromedp.SendKeys(chromedp.ID("login-password"), password),
		chromedp.Click(chromedp.ID("login-submit")), chromedp.WaitVisible(chromedp.ID(waitID)))
}

package obix

import (
	"errors"
	"fmt"
	"strings"
)

// Contracts of the <err> objects a server answers with (notes §4.1).
const (
	BadUriErr      = "obix:BadUriErr"      // the URI does not resolve to an object
	UnsupportedErr = "obix:UnsupportedErr" // the request is not supported (e.g. writing a read-only object)
	PermissionErr  = "obix:PermissionErr"  // the user may not do this
	GenericErr     = "obix:Err"            // an err naming none of the above
)

// Error is an oBIX <err> object: the whole answer to a request, or one item
// of a BatchOut or WatchOut.
type Error struct {
	// Contract is BadUriErr, UnsupportedErr, PermissionErr or, when the err
	// names none of them, its first contract (GenericErr if it has none).
	Contract string
	// Href is the URI the error is about: the err's href, else the URL of
	// the request or the batch item.
	Href string
	// Display is the server's explanation, if any.
	Display string
	// StatusCode is the HTTP status the err came with (0 for an item of a
	// batch or watch).
	StatusCode int
}

func newError(o *Obj) *Error {
	e := &Error{Contract: GenericErr, Href: o.AbsHref(), Display: o.Display}
	cs := o.Contracts()
	if len(cs) > 0 {
		e.Contract = cs[0]
	}
	for _, c := range cs {
		switch c {
		case BadUriErr, UnsupportedErr, PermissionErr:
			e.Contract = c
			return e
		}
	}
	return e
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("oBIX ")
	b.WriteString(strings.TrimPrefix(e.Contract, "obix:"))
	if e.Href != "" {
		fmt.Fprintf(&b, " for %s", e.Href)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if d := strings.TrimSpace(e.Display); d != "" {
		fmt.Fprintf(&b, ": %s", clip(d, 200))
	}
	return b.String()
}

// IsErr reports whether err is, or wraps, an oBIX <err> with the contract
// (BadUriErr, UnsupportedErr, PermissionErr, GenericErr).
func IsErr(err error, contract string) bool {
	var e *Error
	return errors.As(err, &e) && e.Contract == contract
}

// HTTPError is an HTTP answer other than 2xx that carried no oBIX <err>.
type HTTPError struct {
	Method     string
	URL        string // without credentials
	StatusCode int
	Status     string // e.g. "401 Unauthorized"
	Body       string // the start of the body, for the log
	User       string // the user name sent, "" if none
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %s", e.Method, e.URL, e.Status)
	switch e.StatusCode {
	case 401:
		if e.User == "" {
			return msg + " (no credentials configured; the server wants a user name and password)"
		}
		return fmt.Sprintf("%s (the server rejected user %q and its password)", msg, e.User)
	case 403:
		return fmt.Sprintf("%s (user %q may not access this URL)", msg, e.User)
	}
	if b := strings.Join(strings.Fields(e.Body), " "); b != "" {
		msg += ": " + clip(b, 160)
	}
	return msg
}

// ParseError is an answer that is not a valid oBIX document (malformed XML,
// a root that is no oBIX element).
type ParseError struct {
	Method string
	URL    string // without credentials
	Err    error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s %s: %v", e.Method, e.URL, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

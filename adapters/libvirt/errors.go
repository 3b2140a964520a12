package libvirt

import (
	"errors"
	"fmt"

	lv "libvirt.org/go/libvirt"
)

// HostError is any error of a Host: it names the host, its URI and the
// operation that failed, and wraps the cause (usually an lv.Error, which
// errors.As finds).
type HostError struct {
	Host string
	URI  string
	Op   string // "connect", "list domains", "node info", ...
	Err  error
}

func (e *HostError) Error() string {
	return fmt.Sprintf("libvirt host %q (%s): %s: %s", e.Host, e.URI, e.Op, describe(e.Err))
}

func (e *HostError) Unwrap() error { return e.Err }

// describe prints an lv.Error as its message and code instead of the
// binding's "virError(Code=38, Domain=7, Message='...')".
func describe(err error) string {
	var le lv.Error
	if errors.As(err, &le) {
		return fmt.Sprintf("%s (libvirt error code %d, domain %d)", le.Message, le.Code, le.Domain)
	}
	return err.Error()
}

func (h *Host) errorf(op string, err error) error {
	return &HostError{Host: h.cfg.Name, URI: h.cfg.URI, Op: op, Err: err}
}

// isNoDomain reports whether err says the domain is gone: it was undefined
// between listing and reading it, which is not a failure of the host.
func isNoDomain(err error) bool {
	var le lv.Error
	return errors.As(err, &le) && le.Code == lv.ERR_NO_DOMAIN
}

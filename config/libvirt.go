package config

import "time"

// libvirtReconnect checks a host's reconnect and keepalive options.
func (v *validator) libvirtReconnect(p string, h LibvirtHost) {
	if h.ReconnectBackoff < 10*time.Millisecond || h.ReconnectBackoff > time.Minute {
		v.add(p+".reconnect_backoff", "%s is out of range (expected 10ms to 1m; default 250ms)", h.ReconnectBackoff)
	}
	if h.ReconnectBackoffMax < h.ReconnectBackoff || h.ReconnectBackoffMax > time.Hour {
		v.add(p+".reconnect_backoff_max", "%s is out of range (expected reconnect_backoff (%s) to 1h; default 30s)", h.ReconnectBackoffMax, h.ReconnectBackoff)
	}
	if h.KeepaliveInterval < time.Second || h.KeepaliveInterval > time.Hour || h.KeepaliveInterval%time.Second != 0 {
		v.add(p+".keepalive_interval", "%s is not a whole number of seconds from 1s to 1h (expected e.g. 5s, the default)", h.KeepaliveInterval)
	}
	if h.KeepaliveCount < 1 || h.KeepaliveCount > 100 {
		v.add(p+".keepalive_count", "%d is out of range (expected 1 to 100 unanswered probes; default 3)", h.KeepaliveCount)
	}
}

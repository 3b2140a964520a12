package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits and choices. Messages quote them, so they are said once.
const (
	maxUnitID       = 247
	maxRetries      = 10
	maxBatchSize    = 100000
	minFlush        = 10 * time.Millisecond
	minModbusPeriod = 100 * time.Millisecond
	minLibvirtEvery = time.Second
	minObixEvery    = time.Second
)

// The tags setsuden sets itself; a configured tag may not replace them.
// (uuid is on every vm point, next to host and vm.)
func reservedTags() []string { return []string{"site", "meter", "model", "host", "vm", "uuid"} }

func baudRates() []int { return []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200} }

// Validate checks a configuration and returns every problem, in the order
// of the fields, with Path and Msg set (Load adds file and line). It is for
// configurations built in code; Load and Parse call it too. It reads the
// file system only to see that model_dirs exist.
func (c *Config) Validate(opt Options) Problems {
	var v validator
	v.site(c.Site)
	v.influx(c.Influx, opt)
	v.listen("server.listen", c.Server.Listen)
	v.operators(c.Server.Operators)
	v.server(c.Server)
	v.oneOf("log.level", c.Log.Level, "a log level", "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "a log format", "text", "json")
	if c.Runtime.GCPercent != 0 && c.Runtime.GCPercent < 25 {
		v.add("runtime.gc_percent", "%d is below 25 (expected a percentage of 25 or more, or 0 for the default 400)", c.Runtime.GCPercent)
	}
	if c.Runtime.MemoryLimitMiB < 0 {
		v.add("runtime.memory_limit_mib", "%d is negative (expected MiB, or 0 for no limit)", c.Runtime.MemoryLimitMiB)
	}
	v.modbus(c.Modbus, opt)
	v.libvirt(c.Libvirt)
	v.obix(c.Obix)
	v.demand(c.Demand, c.Site)
	loc, _ := time.LoadLocation(c.Site.Timezone)
	v.tariff(c.Tariff, loc)
	if opt.RequireSecrets {
		v.demandSecrets(c.Demand)
	}
	v.shedExecutor(c)
	v.uniqueNames(c)
	return v.probs
}

type validator struct{ probs Problems }

func (v *validator) add(path, format string, args ...any) {
	v.probs = append(v.probs, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// required reports a missing value and says whether it is there.
func (v *validator) required(path, s string) bool {
	if s == "" {
		v.add(path, "missing (required)")
		return false
	}
	return true
}

func (v *validator) site(s Site) {
	if v.required("site.name", s.Name) {
		v.name("site.name", s.Name)
	}
	if v.required("site.timezone", s.Timezone) {
		if _, err := time.LoadLocation(s.Timezone); err != nil {
			v.add("site.timezone", "%q is not a known time zone (expected an IANA name such as Asia/Tokyo)", s.Timezone)
		}
	}
}

// name checks a name that becomes a tag value.
func (v *validator) name(path, s string) {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			v.add(path, "%q has a character other than letters, digits, _ . - (expected e.g. dc1 or pdu-a1)", s)
			return
		}
	}
}

func (v *validator) influx(in Influx, opt Options) {
	if in.URL == "" {
		if opt.RequireInflux {
			v.add("influx.url", "missing (required: setsuden run writes to InfluxDB)")
		}
	} else if u, err := url.Parse(in.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add("influx.url", "%q is not an http or https URL (expected e.g. http://127.0.0.1:8086)", redactURL(in.URL))
	}
	if in.Bucket == "" && (in.URL != "" || opt.RequireInflux) {
		v.add("influx.bucket", "missing (required; for InfluxDB 1.8 db/rp, e.g. setsuden/autogen)")
	}
	if in.Token != "" && in.TokenFile != "" {
		v.add("influx.token_file", "set together with influx.token (expected one of them)")
	}
	if in.BatchSize < 1 || in.BatchSize > maxBatchSize {
		v.add("influx.batch_size", "%d is out of range (expected 1..%d)", in.BatchSize, maxBatchSize)
	}
	if in.FlushInterval < minFlush {
		v.add("influx.flush_interval", "%s is too short (expected at least %s)", in.FlushInterval, minFlush)
	}
	if in.Timeout <= 0 {
		v.add("influx.timeout", "%s is too short (expected more than 0s)", in.Timeout)
	}
	if in.QueueMaxBytes < MinQueueMaxBytes {
		v.add("influx.queue_max_bytes", "%d is too small (expected at least %d, 64 KiB: the queue's smallest segments are 4 KiB)", in.QueueMaxBytes, MinQueueMaxBytes)
	}
}

// redactURL drops a password from a URL before it goes into a message.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

func (v *validator) listen(path, addr string) {
	if !v.required(path, addr) {
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || !validPort(port, 0) {
		v.add(path, "%q is not host:port (expected e.g. 127.0.0.1:8080)", addr)
	}
}

func validPort(port string, lowest int) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= lowest && n <= 65535
}

func (v *validator) oneOf(path, s, what string, choices ...string) {
	if v.required(path, s) && !slices.Contains(choices, s) {
		v.add(path, "%q is not %s (expected %s)", s, what, orList(choices))
	}
}

// orList renders "a, b or c".
func orList[T any](choices []T) string {
	s := make([]string, len(choices))
	for i, c := range choices {
		s[i] = fmt.Sprint(c)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func (v *validator) modbus(m Modbus, opt Options) {
	if m.MaxConnections < 0 {
		v.add("modbus.max_connections", "%d is negative (expected a number of connections, or 0 for the open-file limit less 1,024)", m.MaxConnections)
	} else if m.MaxConnections == 1 {
		v.add("modbus.max_connections", "1 is too few (expected 2 or more: one kept, one for meters that connect per sample)")
	}
	for i, dir := range m.ModelDirs {
		path := fmt.Sprintf("modbus.model_dirs[%d]", i)
		if !v.required(path, dir) {
			continue
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			v.add(path, "%q is not a directory (expected an existing directory of model files)", dir)
		}
	}
	for i, d := range m.Devices {
		v.device(fmt.Sprintf("modbus.devices[%d]", i), d, opt)
	}
}

func (v *validator) device(p string, d ModbusDevice, opt Options) {
	if v.required(p+".name", d.Name) {
		v.name(p+".name", d.Name)
	}
	if v.required(p+".model", d.Model) && opt.KnownModel != nil && !opt.KnownModel(d.Model) {
		if len(opt.modelNames) > 0 {
			v.add(p+".model", "unknown meter model %q (expected one of: %s)", d.Model, strings.Join(opt.modelNames, ", "))
		} else {
			v.add(p+".model", "unknown meter model %q (expected a built-in model or one in modbus.model_dirs)", d.Model)
		}
	}
	v.oneOf(p+".transport", d.Transport, "a transport", "tcp", "rtu", "rtuovertcp")
	if v.required(p+".address", d.Address) {
		switch d.Transport {
		case "tcp", "rtuovertcp":
			if host, port, err := net.SplitHostPort(d.Address); err != nil || host == "" || !validPort(port, 1) {
				v.add(p+".address", "%q is not host:port (expected e.g. 10.0.10.21:502)", d.Address)
			}
		case "rtu":
			if !filepath.IsAbs(d.Address) {
				v.add(p+".address", "%q is not a device path (expected e.g. /dev/ttyUSB0)", d.Address)
			}
		}
	}
	if d.UnitID < 0 || d.UnitID > maxUnitID {
		v.add(p+".unit_id", "%d is out of range (expected 0..%d)", d.UnitID, maxUnitID)
	}
	if d.Interval < minModbusPeriod {
		v.add(p+".interval", "%s is too short (expected at least %s)", d.Interval, minModbusPeriod)
	}
	switch {
	case d.Timeout <= 0:
		v.add(p+".timeout", "%s is too short (expected more than 0s)", d.Timeout)
	case d.Timeout >= d.Interval && d.Interval >= minModbusPeriod:
		v.add(p+".timeout", "%s is not shorter than interval %s (expected timeout < interval)", d.Timeout, d.Interval)
	}
	if d.Retries < 0 || d.Retries > maxRetries {
		v.add(p+".retries", "%d is out of range (expected 0..%d)", d.Retries, maxRetries)
	}
	if d.RatedKW < 0 {
		v.add(p+".rated_kw", "%g is negative (expected the meter's rated power in kW, or leave it out for the model's)", d.RatedKW)
	}
	v.tags(p+".tags", d.Tags)
	switch {
	case d.Transport == "rtu":
		v.serial(p+".serial", d.Serial)
	case d.Serial != Serial{} && (d.Transport == "tcp" || d.Transport == "rtuovertcp"):
		v.add(p+".serial", "allowed only with transport rtu (expected no serial block with transport %s)", d.Transport)
	}
}

func (v *validator) serial(p string, s Serial) {
	if s == (Serial{}) {
		v.add(p, "missing (required for transport rtu: baud_rate, data_bits, parity, stop_bits)")
		return
	}
	switch {
	case s.BaudRate == 0:
		v.add(p+".baud_rate", "missing (required)")
	case !slices.Contains(baudRates(), s.BaudRate):
		v.add(p+".baud_rate", "%d is not a standard baud rate (expected %s)", s.BaudRate, orList(baudRates()))
	}
	switch s.DataBits {
	case 7, 8:
	case 0:
		v.add(p+".data_bits", "missing (required)")
	default:
		v.add(p+".data_bits", "%d is not allowed (expected 7 or 8)", s.DataBits)
	}
	v.oneOf(p+".parity", s.Parity, "a parity", "N", "E", "O")
	switch s.StopBits {
	case 1, 2:
	case 0:
		v.add(p+".stop_bits", "missing (required)")
	default:
		v.add(p+".stop_bits", "%d is not allowed (expected 1 or 2)", s.StopBits)
	}
}

func (v *validator) tags(p string, tags map[string]string) {
	v.tagsExcept(p, tags)
}

// tagsExcept checks tags, allowing some reserved keys: an oBIX point names
// its own meter, since no adapter sets that tag for it.
func (v *validator) tagsExcept(p string, tags map[string]string, allowed ...string) {
	reserved := slices.DeleteFunc(reservedTags(), func(k string) bool { return slices.Contains(allowed, k) })
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch {
		case k == "":
			v.add(p, "a tag has an empty key (expected a name)")
		case slices.Contains(reserved, k):
			v.add(p+"."+k, "%s is set by setsuden (expected a key other than %s)", k, orList(reserved))
		case tags[k] == "":
			v.add(p+"."+k, "empty value (expected a tag value)")
		}
	}
}

func (v *validator) libvirt(l Libvirt) {
	for i, h := range l.Hosts {
		p := fmt.Sprintf("libvirt.hosts[%d]", i)
		if v.required(p+".name", h.Name) {
			v.name(p+".name", h.Name)
		}
		if v.required(p+".uri", h.URI) && !strings.Contains(h.URI, "://") {
			v.add(p+".uri", "%q is not a libvirt URI (expected e.g. qemu+ssh://root@host-01/system)", redactURL(h.URI))
		}
		if h.Interval < minLibvirtEvery {
			v.add(p+".interval", "%s is too short (expected at least %s)", h.Interval, minLibvirtEvery)
		}
		v.tags(p+".tags", h.Tags)
		v.libvirtReconnect(p, h)
	}
}

func (v *validator) operators(ops []Operator) {
	seen := map[string]bool{}
	for i, op := range ops {
		p := fmt.Sprintf("server.operators[%d]", i)
		if v.required(p+".name", op.Name) {
			v.name(p+".name", op.Name)
			if seen[op.Name] {
				v.add(p+".name", "%q is listed twice (expected each operator once)", op.Name)
			}
			seen[op.Name] = true
		}
		h := op.PasswordHash
		if v.required(p+".password_hash", h) && (len(h) != 60 || !(strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$"))) {
			v.add(p+".password_hash", "is not a bcrypt hash (expected the output of `setsuden hash-password`, never a password)")
		}
	}
}

func (v *validator) obix(o Obix) {
	for i, g := range o.Gateways {
		p := fmt.Sprintf("obix.gateways[%d]", i)
		if v.required(p+".name", g.Name) {
			v.name(p+".name", g.Name)
		}
		if v.required(p+".url", g.URL) {
			if u, err := url.Parse(g.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add(p+".url", "%q is not an http or https URL (expected e.g. https://gw.example/obix)", redactURL(g.URL))
			}
		}
		if g.Password != "" && g.PasswordFile != "" {
			v.add(p+".password_file", "set together with password (expected one of them)")
		}
		if g.Interval < minObixEvery {
			v.add(p+".interval", "%s is too short (expected at least %s)", g.Interval, minObixEvery)
		}
		if g.Timeout <= 0 || g.Timeout >= g.Interval {
			v.add(p+".timeout", "%s is out of range (expected more than 0s and less than interval %s)", g.Timeout, g.Interval)
		}
		v.obixReads(p, g)
		v.obixDiscover(p+".discover", g.Discover)
		if len(g.Points) == 0 && g.Discover.Root == "" {
			v.add(p+".points", "missing (expected at least one point: href, measurement, field)")
		}
		for j, pt := range g.Points {
			pp := fmt.Sprintf("%s.points[%d]", p, j)
			v.required(pp+".href", pt.Href)
			if v.required(pp+".measurement", pt.Measurement) {
				v.name(pp+".measurement", pt.Measurement)
			}
			if v.required(pp+".field", pt.Field) {
				v.name(pp+".field", pt.Field)
			}
			v.tagsExcept(pp+".tags", pt.Tags, "meter")
		}
	}
}

// uniqueNames checks that device and host names, the source names of the
// collector and of its shards, are unique together.
func (v *validator) uniqueNames(c *Config) {
	first := map[string]string{}
	check := func(path, name string) {
		if name == "" {
			return
		}
		if prev, dup := first[name]; dup {
			v.add(path, "%q is already the name of %s (expected names unique among modbus devices, libvirt hosts and obix gateways)", name, prev)
			return
		}
		first[name] = path
	}
	for i, d := range c.Modbus.Devices {
		check(fmt.Sprintf("modbus.devices[%d].name", i), d.Name)
	}
	for i, h := range c.Libvirt.Hosts {
		check(fmt.Sprintf("libvirt.hosts[%d].name", i), h.Name)
	}
	for i, g := range c.Obix.Gateways {
		check(fmt.Sprintf("obix.gateways[%d].name", i), g.Name)
	}
}

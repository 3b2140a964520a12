// Package config is setsuden's one YAML configuration file: its schema, its
// defaults and its validation. Every problem names the file, the line and
// the field, and all problems of a file are reported at once:
//
//	setsuden.yaml:14: modbus.devices[1].unit_id: 300 is out of range (expected 0..247)
//
// setsuden.example.yaml at the repository root documents every option; the
// tests load it.
package config

import (
	"fmt"
	"log/slog"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file.
type Config struct {
	Site    Site    `yaml:"site"`
	Influx  Influx  `yaml:"influx"`
	Server  Server  `yaml:"server"`
	Log     Log     `yaml:"log"`
	Runtime Runtime `yaml:"runtime"`
	Modbus  Modbus  `yaml:"modbus"`
	Libvirt Libvirt `yaml:"libvirt"`
	Obix    Obix    `yaml:"obix"`
	// SLA is the sla: section, kept as written: rules/sla decodes and
	// validates it (sla.DecodeConfig), with the same file:line problems.
	SLA    *yaml.Node `yaml:"sla"`
	Demand Demand     `yaml:"demand"`
	Tariff Tariff     `yaml:"tariff"`
	// Shed and Executor are the shedding controller and its executor
	// (executor.go).
	Shed     Shed     `yaml:"shed"`
	Executor Executor `yaml:"executor"`
}

// Site is the datacenter this process serves.
type Site struct {
	// Name becomes the `site` tag of every point.
	Name string `yaml:"name"`
	// Timezone is an IANA name (Asia/Tokyo); demand periods and reports use it.
	Timezone string `yaml:"timezone"`
}

// Influx is where points go. InfluxDB 2.x takes an API token, an org and a
// bucket; InfluxDB 1.8's compatibility API takes "user:pass" (or "") as the
// token and "db/rp" as the bucket.
//
// After Load, Token holds the resolved token (${VAR} expanded, or read from
// TokenFile, which is then empty). String, GoString and LogValue redact it.
type Influx struct {
	URL           string        `yaml:"url"`
	Token         string        `yaml:"token"`
	TokenFile     string        `yaml:"token_file"`
	Org           string        `yaml:"org"`
	Bucket        string        `yaml:"bucket"`
	BatchSize     int           `yaml:"batch_size"`
	FlushInterval time.Duration `yaml:"flush_interval"`
	Timeout       time.Duration `yaml:"timeout"`
	// QueueDir is the on-disk write queue that outlives outages and
	// restarts; "" leaves the choice to the command (a data directory).
	QueueDir      string `yaml:"queue_dir"`
	QueueMaxBytes int64  `yaml:"queue_max_bytes"`
}

// Server is the HTTP server (web UI, API, /metrics).
type Server struct {
	Listen string `yaml:"listen"`
	// Operators may change things through the API (maintenance windows,
	// demand targets, plans). Only bcrypt hashes are configured; with none,
	// every mutating endpoint is refused.
	Operators []Operator `yaml:"operators"`
	// Users, Tokens, TLS, MetricsPublic, SessionTTL: config/server.go.
	Users         []User        `yaml:"users"`
	Tokens        []APIToken    `yaml:"tokens"`
	TLS           ServerTLS     `yaml:"tls"`
	MetricsPublic bool          `yaml:"metrics_public"`
	SessionTTL    time.Duration `yaml:"session_ttl"`
	Locale        string        `yaml:"locale"`
	// UserStore is the SQLite file of the users an admin manages (default:
	// executor.store; neither: users come from the configuration only).
	UserStore string `yaml:"user_store"`
}

// Operator is one person allowed to make changes.
type Operator struct {
	Name string `yaml:"name"`
	// PasswordHash is a bcrypt hash (`setsuden hash-password` makes one).
	PasswordHash string `yaml:"password_hash"`
}

// Log configures the process's own logs.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Runtime tunes the Go runtime of the daemon.
type Runtime struct {
	// GCPercent is the garbage collector's target (Go's GOGC): the heap may
	// grow by this percentage of the live heap before a collection. Default
	// 400: bench/collector measured the default 100 spending about a fifth
	// of the collector's CPU in the collector and in regrowing goroutine
	// stacks it shrank. 0 means the default. The GOGC environment
	// variable, if set, wins.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitMiB is a soft limit on the process's memory (Go's
	// GOMEMLIMIT) in MiB: near it the collector runs more often, whatever
	// GCPercent says. 0 means no limit. GOMEMLIMIT, if set, wins.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// Modbus lists the Modbus meters to poll.
type Modbus struct {
	// ModelDirs are extra directories of meter-model YAML files, read after
	// the built-in models.
	ModelDirs []string `yaml:"model_dirs"`
	// MaxConnections bounds the TCP connections to meters and gateways open
	// at once (0: the process's open-file limit less 1,024 for everything
	// else). Within it meters keep their connections between samples;
	// beyond it they connect for each sample (modbus.ConnBudget).
	MaxConnections int            `yaml:"max_connections"`
	Devices        []ModbusDevice `yaml:"devices"`
}

// ModbusDevice is one meter.
type ModbusDevice struct {
	// Name is the `meter` tag; unique among all sources.
	Name  string `yaml:"name"`
	Model string `yaml:"model"`
	// Transport is tcp, rtu or rtuovertcp.
	Transport string `yaml:"transport"`
	// Address is host:port for tcp and rtuovertcp, a device path for rtu.
	Address  string        `yaml:"address"`
	UnitID   int           `yaml:"unit_id"`
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
	Retries  int           `yaml:"retries"`
	// Tags are added to every point of the device.
	Tags map[string]string `yaml:"tags"`
	// Serial is the line setting of an rtu device (and only of one).
	Serial Serial `yaml:"serial"`
	// RatedKW is the meter's rated power (kW), overriding the model's
	// rated_kw: an energy counter rising faster is flagged as a reset
	// (kwh_reset), not added. 0 takes the model's.
	RatedKW float64 `yaml:"rated_kw"`
}

// Serial is a serial line's setting. All four are required for rtu: the
// Modbus specification's default (8E1) and the common practice (8N1)
// differ, so setsuden does not guess.
type Serial struct {
	BaudRate int    `yaml:"baud_rate"`
	DataBits int    `yaml:"data_bits"`
	Parity   string `yaml:"parity"` // N, E or O
	StopBits int    `yaml:"stop_bits"`
}

// Libvirt lists the hypervisors to watch.
type Libvirt struct {
	Hosts []LibvirtHost `yaml:"hosts"`
}

// LibvirtHost is one hypervisor.
type LibvirtHost struct {
	// Name is the `host` tag; unique among all sources.
	Name     string            `yaml:"name"`
	URI      string            `yaml:"uri"`
	Interval time.Duration     `yaml:"interval"`
	Tags     map[string]string `yaml:"tags"`
	// ReconnectBackoff: a closed connection is reconnected at once, then
	// after this wait, doubling up to ReconnectBackoffMax.
	ReconnectBackoff    time.Duration `yaml:"reconnect_backoff"`
	ReconnectBackoffMax time.Duration `yaml:"reconnect_backoff_max"`
	// KeepaliveInterval and KeepaliveCount: libvirt keepalive probes; the
	// connection is closed (and reconnected) after Count unanswered ones.
	KeepaliveInterval time.Duration `yaml:"keepalive_interval"`
	KeepaliveCount    int           `yaml:"keepalive_count"`
}

// Obix lists the oBIX gateways (building automation: meters, chillers,
// CRAC units behind one HTTP gateway) to read.
type Obix struct {
	Gateways []ObixGateway `yaml:"gateways"`
}

// ObixGateway is one oBIX server. Password is redacted by String and
// LogValue; after Load it holds the resolved password (${VAR} expanded or
// read from PasswordFile, which is then empty).
type ObixGateway struct {
	// Name names the source in errors and metrics; unique among all sources.
	Name string `yaml:"name"`
	// URL is the server's base, e.g. https://gw.example/obix (the Lobby).
	URL          string        `yaml:"url"`
	Username     string        `yaml:"username"`
	Password     string        `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	Interval     time.Duration `yaml:"interval"`
	Timeout      time.Duration `yaml:"timeout"`
	// Watch reads through a server-side watch (pollChanges) instead of a
	// batch read per sample.
	Watch bool `yaml:"watch"`
	// Reads, WatchLease and Discover: see config/obix.go.
	Reads      string        `yaml:"reads"`
	WatchLease time.Duration `yaml:"watch_lease"`
	Discover   ObixDiscover  `yaml:"discover"`
	Points     []ObixPoint   `yaml:"points"`
}

// ObixPoint maps one oBIX point to one field of a measurement.
type ObixPoint struct {
	Href string `yaml:"href"`
	// History is the point's history, for backfilling a gap after an
	// outage; empty means the point's own history ref, if it has one.
	History     string            `yaml:"history"`
	Measurement string            `yaml:"measurement"`
	Field       string            `yaml:"field"`
	Tags        map[string]string `yaml:"tags"`
}

// DefaultObixGateway returns a gateway with every default filled in.
func DefaultObixGateway() ObixGateway {
	return ObixGateway{Interval: 30 * time.Second, Timeout: 10 * time.Second, Reads: ObixReadsBatch,
		Discover: ObixDiscover{Depth: 4}}
}

type obixFields ObixGateway

// String prints the gateway with its password redacted.
func (g ObixGateway) String() string {
	r := obixFields(g)
	if r.Password != "" {
		r.Password = "<redacted>"
	}
	return fmt.Sprintf("%+v", r)
}

// GoString is String for %#v.
func (g ObixGateway) GoString() string { return "config.ObixGateway" + g.String() }

// LogValue keeps the password out of structured logs.
func (g ObixGateway) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", g.Name), slog.String("url", g.URL), slog.String("username", g.Username))
}

// Default returns a configuration with every default filled in and no
// devices or hosts. Site.Name, and Influx.URL and Bucket for `run`, are left
// for the caller.
func Default() Config {
	return Config{
		Site: Site{Timezone: "UTC"},
		Influx: Influx{
			BatchSize:     5000,
			FlushInterval: time.Second,
			Timeout:       10 * time.Second,
			QueueMaxBytes: 1 << 30,
		},
		Server:  Server{Listen: "127.0.0.1:8080"},
		Log:     Log{Level: "info", Format: "text"},
		Runtime: Runtime{GCPercent: 400},

		Shed:     DefaultShed(),
		Executor: DefaultExecutor(),
	}
}

// DefaultModbusDevice returns a device with every default filled in; a
// device read from a file starts from it.
func DefaultModbusDevice() ModbusDevice {
	return ModbusDevice{
		Transport: "tcp",
		UnitID:    1,
		Interval:  10 * time.Second,
		Timeout:   time.Second,
		Retries:   2,
	}
}

// DefaultLibvirtHost returns a host with every default filled in; a host
// read from a file starts from it.
func DefaultLibvirtHost() LibvirtHost {
	return LibvirtHost{Interval: 10 * time.Second, ReconnectBackoff: 250 * time.Millisecond, ReconnectBackoffMax: 30 * time.Second,
		KeepaliveInterval: 5 * time.Second, KeepaliveCount: 3}
}

// influxFields has Influx's fields without its methods, so the redacting
// methods can print a copy without calling themselves.
type influxFields Influx

func (i Influx) redacted() influxFields {
	r := influxFields(i)
	if r.Token != "" {
		r.Token = "<redacted>"
	}
	return r
}

// String prints the settings with the token redacted; fmt uses it for
// %v and %s, also when an Influx is a field of a Config.
func (i Influx) String() string {
	return fmt.Sprintf("%+v", i.redacted())
}

// GoString is String for %#v.
func (i Influx) GoString() string {
	return fmt.Sprintf("config.Influx%+v", i.redacted())
}

// LogValue keeps the token out of structured logs.
func (i Influx) LogValue() slog.Value {
	r := i.redacted()
	return slog.GroupValue(
		slog.String("url", r.URL),
		slog.String("token", r.Token),
		slog.String("token_file", r.TokenFile),
		slog.String("org", r.Org),
		slog.String("bucket", r.Bucket),
		slog.Int("batch_size", r.BatchSize),
		slog.Duration("flush_interval", r.FlushInterval),
		slog.Duration("timeout", r.Timeout),
		slog.String("queue_dir", r.QueueDir),
		slog.Int64("queue_max_bytes", r.QueueMaxBytes),
	)
}

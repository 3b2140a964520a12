package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/setsuden/setsuden/adapters/bmc"
	"github.com/setsuden/setsuden/adapters/libvirt/fleet"
	"github.com/setsuden/setsuden/rules/executor"
)

// executorConfig is the shedding executor's file (setsuden execute
// --config). The lead may fold it into the main configuration as its
// executor: section; every field is documented in docs/shedding-executor.md.
type executorConfig struct {
	Site     string `yaml:"site"`
	Mode     string `yaml:"mode"`  // off | advise (default) | approve | auto
	Store    string `yaml:"store"` // SQLite audit store
	Parallel int    `yaml:"parallel"`
	// LockTTL: a lock without heartbeat this long may be taken over.
	LockTTL         time.Duration `yaml:"lock_ttl"`
	SoftOffWait     time.Duration `yaml:"soft_off_wait"`
	PowerOffTimeout time.Duration `yaml:"power_off_timeout"`
	PowerOnTimeout  time.Duration `yaml:"power_on_timeout"`
	ReserveMiB      int64         `yaml:"reserve_mib"`
	MeasureWindow   time.Duration `yaml:"measure_window"`
	Migration       struct {
		Timeout       time.Duration `yaml:"timeout"`
		BandwidthMiBs uint64        `yaml:"bandwidth_mib_s"`
	} `yaml:"migration"`
	Hosts []executorHost `yaml:"hosts"`
}

type executorHost struct {
	Name string `yaml:"name"`
	URI  string `yaml:"uri"`
	// MigrationURI is where qemu sends memory when this host is the
	// destination (tcp://10.0.0.2); empty: libvirt's choice.
	MigrationURI string     `yaml:"migration_uri"`
	BMC          *bmcConfig `yaml:"bmc"`
}

type bmcConfig struct {
	Type string `yaml:"type"` // ipmi | redfish | wol
	// ipmi: addr host[:port], user, password_file; redfish: url, user,
	// password_file, system (Id; empty: the only one), insecure.
	Addr         string        `yaml:"addr"`
	URL          string        `yaml:"url"`
	User         string        `yaml:"user"`
	PasswordFile string        `yaml:"password_file"`
	System       string        `yaml:"system"`
	Insecure     bool          `yaml:"insecure"`
	Timeout      time.Duration `yaml:"timeout"`
	// wol (power on only; with ipmi or redfish: wake_mac adds WoL for on).
	MAC       string `yaml:"mac"`
	Broadcast string `yaml:"broadcast"`
}

// loadExecutorConfig reads and checks the file; problems name the field.
func loadExecutorConfig(path string) (*executorConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c executorConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var probs []string
	bad := func(f string, a ...any) { probs = append(probs, fmt.Sprintf("%s: ", path)+fmt.Sprintf(f, a...)) }
	if c.Site == "" {
		bad("site: is empty (expected the site this executor acts for)")
	}
	if _, err := executor.ParseMode(c.Mode); err != nil {
		bad("mode: %v", err)
	}
	if c.Store == "" {
		bad("store: is empty (expected the path of the SQLite audit store)")
	}
	seen := map[string]bool{}
	for i, h := range c.Hosts {
		f := fmt.Sprintf("hosts[%d]", i)
		if h.Name == "" {
			bad("%s.name: is empty", f)
		} else if seen[h.Name] {
			bad("%s.name: %q is used twice", f, h.Name)
		}
		seen[h.Name] = true
		if !strings.Contains(h.URI, ":") {
			bad("%s.uri: %q (expected a libvirt URI such as qemu+ssh://root@node/system)", f, h.URI)
		}
		if h.BMC != nil {
			switch h.BMC.Type {
			case "ipmi":
				if h.BMC.Addr == "" || h.BMC.User == "" || h.BMC.PasswordFile == "" {
					bad("%s.bmc: ipmi needs addr, user and password_file", f)
				}
			case "redfish":
				if h.BMC.URL == "" || h.BMC.User == "" || h.BMC.PasswordFile == "" {
					bad("%s.bmc: redfish needs url, user and password_file", f)
				}
			case "wol":
				if h.BMC.MAC == "" || h.BMC.Broadcast == "" {
					bad("%s.bmc: wol needs mac and broadcast (host:port)", f)
				}
			default:
				bad("%s.bmc.type: %q (expected ipmi, redfish or wol)", f, h.BMC.Type)
			}
		}
	}
	if len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "\n"))
	}
	return &c, nil
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// newPower builds a host's BMC client.
func newPower(host string, c *bmcConfig) (executor.Power, error) {
	switch c.Type {
	case "ipmi":
		pw, err := readSecret(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("host %s bmc: %w", host, err)
		}
		b, err := bmc.NewIPMI(bmc.IPMIConfig{Addr: c.Addr, User: c.User, Password: pw, Timeout: c.Timeout})
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", host, err)
		}
		return withWake(b, c)
	case "redfish":
		pw, err := readSecret(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("host %s bmc: %w", host, err)
		}
		b, err := bmc.NewRedfish(bmc.RedfishConfig{URL: c.URL, User: c.User, Password: pw, System: c.System, Insecure: c.Insecure, Timeout: c.Timeout})
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", host, err)
		}
		return withWake(b, c)
	case "wol":
		w, err := bmc.NewWakeOnLAN(c.MAC, c.Broadcast)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", host, err)
		}
		return w, nil
	}
	return nil, fmt.Errorf("host %s: bmc type %q", host, c.Type)
}

func withWake(b executor.Power, c *bmcConfig) (executor.Power, error) {
	if c.MAC == "" {
		return b, nil
	}
	w, err := bmc.NewWakeOnLAN(c.MAC, c.Broadcast)
	if err != nil {
		return nil, err
	}
	return bmc.WakeThenOther{Wake: w, Other: b}, nil
}

// newLibvirtFleet is the executor's Hypervisors over adapters/libvirt, one
// host an executor host.
func newLibvirtFleet(c *executorConfig) *fleet.Fleet {
	hosts := make([]fleet.Host, 0, len(c.Hosts))
	for _, h := range c.Hosts {
		hosts = append(hosts, fleet.Host{Name: h.Name, URI: h.URI, MigrationURI: h.MigrationURI})
	}
	return fleet.New(fleet.Options{Timeout: c.Migration.Timeout, BandwidthMiBs: c.Migration.BandwidthMiBs}, hosts...)
}

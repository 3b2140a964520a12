package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecutorExampleConfigLoads(t *testing.T) {
	c, err := loadExecutorConfig(filepath.Join("..", "..", "docs", "executor.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Site != "tokyo-1" || c.Mode != "advise" || len(c.Hosts) != 3 || c.Hosts[1].BMC.Type != "redfish" || c.Migration.Timeout.Minutes() != 15 {
		t.Fatalf("example decoded as %+v", c)
	}
}

func TestExecutorConfigProblemsNameTheField(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, want string }{
		{"site: a\nstore: x\nmode: sometimes\n", "mode: executor mode \"sometimes\""},
		{"store: x\n", "site: is empty"},
		{"site: a\n", "store: is empty"},
		{"site: a\nstore: x\nhosts:\n  - {name: h, uri: nonsense}\n", "hosts[0].uri"},
		{"site: a\nstore: x\nhosts:\n  - {name: h, uri: 'qemu:///system'}\n  - {name: h, uri: 'qemu:///system'}\n", "hosts[1].name: \"h\" is used twice"},
		{"site: a\nstore: x\nhosts:\n  - {name: h, uri: 'qemu:///system', bmc: {type: ipmi, addr: 'b:623'}}\n", "hosts[0].bmc: ipmi needs addr, user and password_file"},
		{"site: a\nstore: x\nhosts:\n  - {name: h, uri: 'qemu:///system', bmc: {type: snmp}}\n", "hosts[0].bmc.type: \"snmp\""},
		{"site: a\nstore: x\nparalel: 3\n", "field paralel not found"},
	} {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(c.yaml), 0o644)
		_, err := loadExecutorConfig(p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
	// The password file is read at start, never echoed.
	p := filepath.Join(dir, "pw")
	os.WriteFile(p, []byte("s3cret\n"), 0o600)
	if _, err := newPower("h", &bmcConfig{Type: "ipmi", Addr: "127.0.0.1:1", User: "u", PasswordFile: p}); err != nil {
		t.Fatal(err)
	}
	if _, err := newPower("h", &bmcConfig{Type: "ipmi", Addr: "127.0.0.1:1", User: "u", PasswordFile: filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("missing password file: %v", err)
	}
}

package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// User is one person who may use the console and the API. Role is viewer
// (reads everything), operator (also changes things: maintenance windows,
// demand targets, plans), admin (also reads the audit log and the users) or
// customer (reads only the services and reports of Customer).
type User struct {
	Name string `yaml:"name"`
	Role string `yaml:"role"`
	// PasswordHash is a bcrypt hash (`setsuden hash-password` makes one).
	PasswordHash string `yaml:"password_hash"`
	// Customer is the customer a customer-role user sees (exactly as in
	// sla.services[].customer).
	Customer string `yaml:"customer"`
}

// APIToken lets a script use the API with `Authorization: Bearer TOKEN`.
// Only the SHA-256 of the token is configured (`setsuden hash-token`
// makes a token and prints both).
type APIToken struct {
	Name     string `yaml:"name"`
	Role     string `yaml:"role"`
	SHA256   string `yaml:"sha256"`
	Customer string `yaml:"customer"`
}

// ServerTLS serves HTTPS when both files are set.
type ServerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Roles a user or token may have.
func roles() []string { return []string{"viewer", "operator", "admin", "customer"} }

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// server checks the users, tokens and TLS of the server: section.
func (v *validator) server(s Server) {
	seen := map[string]string{}
	for i, op := range s.Operators {
		seen[op.Name] = fmt.Sprintf("server.operators[%d]", i)
	}
	for i, u := range s.Users {
		p := fmt.Sprintf("server.users[%d]", i)
		if v.required(p+".name", u.Name) {
			v.name(p+".name", u.Name)
			if prev, ok := seen[u.Name]; ok {
				v.add(p+".name", "%q is already %s (expected each user once)", u.Name, prev)
			}
			seen[u.Name] = p
		}
		v.role(p, u.Role, u.Customer)
		h := u.PasswordHash
		if v.required(p+".password_hash", h) && (len(h) != 60 || !(strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$"))) {
			v.add(p+".password_hash", "is not a bcrypt hash (expected the output of `setsuden hash-password`, never a password)")
		}
	}
	tokens := map[string]bool{}
	for i, t := range s.Tokens {
		p := fmt.Sprintf("server.tokens[%d]", i)
		if v.required(p+".name", t.Name) {
			v.name(p+".name", t.Name)
		}
		v.role(p, t.Role, t.Customer)
		if v.required(p+".sha256", t.SHA256) {
			if !sha256Hex.MatchString(t.SHA256) {
				v.add(p+".sha256", "is not a SHA-256 in hex (expected the 64 lower-case hex digits `setsuden hash-token` prints, never the token)")
			} else if tokens[t.SHA256] {
				v.add(p+".sha256", "is listed twice (expected each token once)")
			}
			tokens[t.SHA256] = true
		}
	}
	if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		field := "server.tls.key_file"
		if s.TLS.CertFile == "" {
			field = "server.tls.cert_file"
		}
		v.add(field, "missing (expected both cert_file and key_file, or neither)")
	}
	if s.Locale != "" {
		v.oneOf("server.locale", s.Locale, "a console language", "ja", "en")
	}
	if s.SessionTTL != 0 && (s.SessionTTL < 5*time.Minute || s.SessionTTL > 30*24*time.Hour) {
		v.add("server.session_ttl", "%s is out of range (expected 5m to 720h; default 12h)", s.SessionTTL)
	}
}

func (v *validator) role(p, role, customer string) {
	v.oneOf(p+".role", role, "a role", roles()...)
	switch {
	case role == "customer" && strings.TrimSpace(customer) == "":
		v.add(p+".customer", "missing (expected the customer this user sees, as in sla.services[].customer)")
	case role != "customer" && customer != "":
		v.add(p+".customer", "set for role %q (expected only with role customer)", role)
	}
}

// resolveServer expands ${VAR} in users' password hashes and tokens'
// hashes, so a compose file can pass them from .env instead of the file.
func (d *decoder) resolveServer(c *Config) {
	for i := range c.Server.Users {
		u := &c.Server.Users[i]
		expanded, unset := expandEnv(u.PasswordHash)
		for _, name := range unset {
			d.fail(fmt.Sprintf("server.users[%d].password_hash", i), "${%s} is not set in the environment (expected it to hold the bcrypt hash)", name)
		}
		u.PasswordHash = expanded
	}
	for i := range c.Server.Tokens {
		t := &c.Server.Tokens[i]
		expanded, unset := expandEnv(t.SHA256)
		for _, name := range unset {
			d.fail(fmt.Sprintf("server.tokens[%d].sha256", i), "${%s} is not set in the environment (expected it to hold the SHA-256)", name)
		}
		t.SHA256 = expanded
	}
}

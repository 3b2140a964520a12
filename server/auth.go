package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a user may do. Staff roles are ordered: a viewer reads
// everything, an operator also changes things (maintenance windows, demand
// targets, plans), an admin also reads the audit log and the users. A
// customer reads only its own customer's services and reports.
type Role string

// The roles. RolePublic and RoleAnyUser are what a route needs, never a
// user's role.
const (
	RolePublic   Role = "public"
	RoleAnyUser  Role = "user"
	RoleCustomer Role = "customer"
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
)

func (r Role) level() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// allows says whether a user of role r may use a route that needs need.
func (r Role) allows(need Role) bool {
	switch {
	case need == RolePublic:
		return true
	case r == "":
		return false
	case need == RoleAnyUser:
		return true
	case r == RoleCustomer:
		return need == RoleCustomer
	case need == RoleCustomer:
		return true // staff read what customers read
	}
	return r.level() >= need.level()
}

// ParseRole reads a configured role.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleViewer, RoleOperator, RoleAdmin, RoleCustomer:
		return r, nil
	}
	return "", fmt.Errorf("role %q (expected viewer, operator, admin or customer)", s)
}

// User is one person: a bcrypt hash of the password is all that is kept.
type User struct {
	Name         string
	Role         Role
	PasswordHash string
	// Customer is the customer a RoleCustomer user sees (exact match).
	Customer string
}

// Token is an API token for scripts: only the SHA-256 of the token (hex)
// is kept.
type Token struct {
	Name     string
	Role     Role
	SHA256   string
	Customer string
}

// Principal is who makes a request, and how it was authenticated.
type Principal struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Customer string `json:"customer,omitempty"`
	// Via is session, token or basic.
	Via string `json:"via"`
}

// AuthConfig lists the users and tokens.
type AuthConfig struct {
	Users  []User
	Tokens []Token
}

// Authenticator checks passwords and tokens. A verified password is
// remembered for a few minutes as a SHA-256 of the credentials, so a script
// using basic auth does not cost a bcrypt per request. Unknown names cost
// a bcrypt of the same cost as the real ones, so names cannot be told
// apart by timing; at most a few bcrypts run at once, so guesses cannot
// take every core from the live view.
type Authenticator struct {
	users  map[string]User
	tokens map[[32]byte]Token
	dummy  atomic.Pointer[[]byte]
	slots  chan struct{}
	// bcrypts counts the password checks run.
	bcrypts atomic.Int64

	mu    sync.Mutex
	valid map[[32]byte]time.Time
	now   func() time.Time

	// stored are the users and tokens of the user store (users.go),
	// replaced whole after every change an admin makes.
	stored storedAuth
	// cost is the bcrypt cost of the passwords an admin sets.
	cost int
}

// rememberFor is how long a verified credential skips bcrypt.
const rememberFor = 5 * time.Minute

// defaultCost is the bcrypt cost of new hashes, and of the dummy hash when
// no user is configured.
const defaultCost = 12

// NewAuthenticator validates the users' hashes and the tokens.
func NewAuthenticator(cfg AuthConfig) (*Authenticator, error) {
	a := &Authenticator{users: map[string]User{}, tokens: map[[32]byte]Token{}, valid: map[[32]byte]time.Time{}, now: time.Now, cost: defaultCost,
		slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	cost := 0
	for _, u := range cfg.Users {
		if u.Name == "" {
			return nil, errors.New("a user without a name")
		}
		if _, dup := a.users[u.Name]; dup {
			return nil, fmt.Errorf("user %q is listed twice", u.Name)
		}
		if _, err := ParseRole(string(u.Role)); err != nil {
			return nil, fmt.Errorf("user %q: %w", u.Name, err)
		}
		if u.Role == RoleCustomer && u.Customer == "" {
			return nil, fmt.Errorf("user %q: role customer without a customer", u.Name)
		}
		c, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil {
			return nil, fmt.Errorf("user %q: password_hash is not a bcrypt hash (make one with `setsuden hash-password`): %w", u.Name, err)
		}
		cost = max(cost, c)
		a.users[u.Name] = u
	}
	for _, t := range cfg.Tokens {
		raw, err := hex.DecodeString(t.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("token %q: sha256 is not a SHA-256 in hex", t.Name)
		}
		if _, err := ParseRole(string(t.Role)); err != nil {
			return nil, fmt.Errorf("token %q: %w", t.Name, err)
		}
		a.tokens[[32]byte(raw)] = t
	}
	if cost == 0 {
		cost = defaultCost
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	dummy, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(secret)), cost)
	if err != nil {
		return nil, err
	}
	a.dummy.Store(&dummy)
	return a, nil
}

// HasUsers says whether anyone can log in at all.
func (a *Authenticator) HasUsers() bool {
	return a != nil && (len(a.users) > 0 || len(a.tokens) > 0 || a.stored.any())
}

// DummyCost is the bcrypt cost spent on an unknown name.
func (a *Authenticator) DummyCost() int {
	c, _ := bcrypt.Cost(*a.dummy.Load())
	return c
}

// raiseDummyCost makes the dummy hash at least as costly as cost, so an
// unknown name costs what the dearest known one does (stored users are
// hashed at a.cost, which may exceed the configured users' cost).
func (a *Authenticator) raiseDummyCost(cost int) error {
	if a == nil || cost <= a.DummyCost() {
		return nil
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	dummy, err := bcrypt.GenerateFromPassword([]byte(hex.EncodeToString(secret)), cost)
	if err != nil {
		return fmt.Errorf("dummy hash at cost %d: %w", cost, err)
	}
	a.dummy.Store(&dummy)
	return nil
}

// Verify checks name and password and returns the user.
func (a *Authenticator) Verify(name, password string) (User, bool) {
	u, ok, _ := a.verify(name, password, nil)
	return u, ok
}

// verify checks name and password. A credential verified in the last
// minutes is accepted at once; otherwise admit (if set) decides, once a
// bcrypt slot is free, whether the check may run at all: parallel guesses
// wait for the slot and find the rate limit spent.
func (a *Authenticator) verify(name, password string, admit func() bool) (u User, ok, admitted bool) {
	if a == nil {
		return User{}, false, true
	}
	u, known := a.users[name]
	if !known {
		u, known = a.stored.user(name)
	}
	key := sha256.Sum256([]byte(name + "\x00" + password))
	if known {
		a.mu.Lock()
		until, seen := a.valid[key]
		a.mu.Unlock()
		if seen && a.now().Before(until) {
			return u, true, true
		}
	}
	hash := *a.dummy.Load()
	if known {
		hash = []byte(u.PasswordHash)
	}
	a.slots <- struct{}{}
	if admit != nil && !admit() {
		<-a.slots
		return User{}, false, false
	}
	a.bcrypts.Add(1)
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	<-a.slots
	if !known || err != nil {
		return User{}, false, true
	}
	if cur, still := a.current(name); !still || cur.PasswordHash != u.PasswordHash {
		return User{}, false, true // disabled or changed while the bcrypt ran
	}
	a.mu.Lock()
	a.valid[key] = a.now().Add(rememberFor)
	for k, until := range a.valid {
		if a.now().After(until) {
			delete(a.valid, k)
		}
	}
	a.mu.Unlock()
	return u, true, true
}

// VerifyToken checks an API token.
func (a *Authenticator) VerifyToken(token string) (Token, bool) {
	if a == nil || token == "" {
		return Token{}, false
	}
	sum := sha256.Sum256([]byte(token))
	var found Token
	ok := false
	for h, t := range a.tokens { // compare all, in constant time each
		if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
			found, ok = t, true
		}
	}
	if !ok {
		if found, ok = a.stored.token(sum); ok {
			a.stored.touch(found.SHA256, a.now())
		}
	}
	return found, ok
}

// HashPassword makes the bcrypt hash to put in the configuration.
func HashPassword(password string) (string, error) {
	if len(password) < 12 {
		return "", errors.New("password too short (expected at least 12 characters)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), defaultCost)
	return string(h), err
}

// NewToken makes an API token and the SHA-256 to configure.
func NewToken() (token, sum string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = "sst_" + base64.RawURLEncoding.EncodeToString(b)
	s := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(s[:])
}

func basicAuth(h string) (user, pass string, ok bool) {
	const prefix = "Basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok
}

func bearerToken(h string) (string, bool) {
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

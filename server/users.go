package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"
)

// StoredUser is a user an admin manages through the API, kept in the user
// store (the embedded SQLite database): only a bcrypt hash of the password
// and SHA-256s of the API tokens.
type StoredUser struct {
	Name         string
	Role         Role
	Customer     string
	PasswordHash string
	Disabled     bool
	CreatedBy    string
	CreatedAt    time.Time
	UpdatedBy    string
	UpdatedAt    time.Time
	Tokens       []StoredToken
}

// StoredToken is one API token of a stored user.
type StoredToken struct {
	ID        string
	Name      string // the admin's label, may be empty
	SHA256    string // hex
	CreatedBy string
	CreatedAt time.Time
	// LastUsed is when the token last authenticated a request (zero:
	// never); kept with the user's next change.
	LastUsed time.Time
}

// UserStore keeps the managed users. PutUser writes a user whole (its
// tokens included); DeleteUser of an unknown name is not an error.
type UserStore interface {
	ListUsers(ctx context.Context) ([]StoredUser, error)
	PutUser(ctx context.Context, u StoredUser) error
	DeleteUser(ctx context.Context, name string) error
}

// storedAuth is the authenticator's copy of the store: replaced whole.
type storedAuth struct {
	mu     sync.RWMutex
	users  map[string]User
	tokens map[[32]byte]Token

	// used is when each stored token (by its SHA-256 hex) last
	// authenticated a request since the daemon started.
	usedMu sync.Mutex
	used   map[string]time.Time
}

func (s *storedAuth) touch(sum string, at time.Time) {
	s.usedMu.Lock()
	if s.used == nil {
		s.used = map[string]time.Time{}
	}
	s.used[sum] = at
	s.usedMu.Unlock()
}

// lastUsed fills in the tokens' last use since the start where it is later
// than the stored one.
func (s *storedAuth) lastUsed(u StoredUser) StoredUser {
	s.usedMu.Lock()
	defer s.usedMu.Unlock()
	if len(s.used) == 0 || len(u.Tokens) == 0 {
		return u
	}
	ts := append([]StoredToken(nil), u.Tokens...)
	for i, t := range ts {
		if at, ok := s.used[t.SHA256]; ok && at.After(t.LastUsed) {
			ts[i].LastUsed = at
		}
	}
	u.Tokens = ts
	return u
}

func (s *storedAuth) any() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users) > 0
}

func (s *storedAuth) user(name string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[name]
	return u, ok
}

func (s *storedAuth) token(sum [32]byte) (Token, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var found Token
	ok := false
	for h, t := range s.tokens {
		if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
			found, ok = t, true
		}
	}
	return found, ok
}

// current is the user now: a stored user disabled or deleted is gone.
func (a *Authenticator) current(name string) (User, bool) {
	if u, ok := a.users[name]; ok {
		return u, true
	}
	return a.stored.user(name)
}

// replaceStored installs the store's users: disabled ones cannot log in
// and their tokens stop working; remembered passwords are forgotten.
func (a *Authenticator) replaceStored(us []StoredUser) {
	users := map[string]User{}
	tokens := map[[32]byte]Token{}
	for _, u := range us {
		if u.Disabled {
			continue
		}
		users[u.Name] = User{Name: u.Name, Role: u.Role, PasswordHash: u.PasswordHash, Customer: u.Customer}
		for _, t := range u.Tokens {
			raw, err := hex.DecodeString(t.SHA256)
			if err != nil || len(raw) != sha256.Size {
				continue
			}
			tokens[[32]byte(raw)] = Token{Name: u.Name, Role: u.Role, SHA256: t.SHA256, Customer: u.Customer}
		}
	}
	a.stored.mu.Lock()
	a.stored.users, a.stored.tokens = users, tokens
	a.stored.mu.Unlock()
	a.stored.usedMu.Lock()
	for sum := range a.stored.used { // revoked tokens are forgotten
		if raw, err := hex.DecodeString(sum); err != nil || len(raw) != sha256.Size || !hasKey(tokens, [32]byte(raw)) {
			delete(a.stored.used, sum)
		}
	}
	a.stored.usedMu.Unlock()
	a.mu.Lock()
	clear(a.valid)
	a.mu.Unlock()
}

// configured says whether name is a user or token of the configuration.
func (a *Authenticator) configured(name string) bool {
	if _, ok := a.users[name]; ok {
		return true
	}
	for _, t := range a.tokens {
		if t.Name == name {
			return true
		}
	}
	return false
}

// userNameRE is what a managed user's name may be.
var userNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// MinPasswordLength is the password policy of managed users (bcrypt reads
// at most 72 bytes, so that is the most).
const MinPasswordLength = 12

const maxPasswordBytes = 72

// LoadUsers reads the user store into the authenticator. A stored name that
// is also a configured user is refused: a name exists in one place only.
func (s *Server) LoadUsers(ctx context.Context) error {
	if s.cfg.Users == nil || s.cfg.Auth == nil {
		return nil
	}
	us, err := s.cfg.Users.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("user store: %w", err)
	}
	for _, u := range us {
		if s.cfg.Auth.configured(u.Name) {
			return fmt.Errorf("user store: user %q is also in the configuration (server.users or server.tokens); remove one", u.Name)
		}
	}
	cost := s.cfg.Auth.cost // new stored hashes
	for _, u := range us {
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
			cost = max(cost, c)
		}
	}
	if err := s.cfg.Auth.raiseDummyCost(cost); err != nil {
		return fmt.Errorf("user store: %w", err)
	}
	s.cfg.Auth.replaceStored(us)
	return nil
}

func (s *Server) userRoutes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/users", Need: RoleAdmin, Tag: "admin", Summary: "the users and tokens: from the configuration (read-only) and the user store", Handler: s.listUsers},
		{Method: "POST", Path: "/api/v1/users", Need: RoleAdmin, Tag: "admin", Summary: "create a user in the user store",
			Body: `{"name": "bob", "role": "operator", "customer": "", "password": "at least 12 characters"}`, Handler: s.createUser},
		{Method: "PATCH", Path: "/api/v1/users/:name", Need: RoleAdmin, Tag: "admin", Summary: "change a stored user's role, customer or disabled flag",
			Body: `{"role": "viewer", "customer": "", "disabled": true}`, Handler: s.patchUser},
		{Method: "PUT", Path: "/api/v1/users/:name/password", Need: RoleAdmin, Tag: "admin", Summary: "reset a stored user's password (ends their sessions)",
			Body: `{"password": "at least 12 characters"}`, Handler: s.resetPassword},
		{Method: "DELETE", Path: "/api/v1/users/:name", Need: RoleAdmin, Tag: "admin", Summary: "delete a stored user (their sessions and tokens stop at once)", Handler: s.deleteUser},
		{Method: "POST", Path: "/api/v1/users/:name/tokens", Need: RoleAdmin, Tag: "admin", Summary: "issue an API token for a stored user (shown once); optional body {\"name\": \"grafana\"} names it", Handler: s.issueToken},
		{Method: "DELETE", Path: "/api/v1/users/:name/tokens/:id", Need: RoleAdmin, Tag: "admin", Summary: "revoke a stored user's API token", Handler: s.revokeToken},
	}
}

// UserView is a user as an admin sees it (never a hash).
type UserView struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Customer string `json:"customer,omitempty"`
	Kind     string `json:"kind"`   // password or token
	Source   string `json:"source"` // config (read-only) or store
	Disabled bool   `json:"disabled,omitempty"`
	// Tokens are the stored user's API tokens (ids only).
	Tokens    []TokenView `json:"tokens,omitempty"`
	CreatedBy string      `json:"created_by,omitempty"`
	CreatedAt *time.Time  `json:"created_at,omitempty"`
	UpdatedBy string      `json:"updated_by,omitempty"`
	UpdatedAt *time.Time  `json:"updated_at,omitempty"`
}

// TokenView is a stored token without its hash.
type TokenView struct {
	ID        string     `json:"id"`
	Name      string     `json:"name,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
}

func storedView(u StoredUser) UserView {
	v := UserView{Name: u.Name, Role: u.Role, Customer: u.Customer, Kind: "password", Source: "store", Disabled: u.Disabled,
		CreatedBy: u.CreatedBy, UpdatedBy: u.UpdatedBy, Tokens: []TokenView{}}
	if !u.CreatedAt.IsZero() {
		t := u.CreatedAt
		v.CreatedAt = &t
	}
	if !u.UpdatedAt.IsZero() {
		t := u.UpdatedAt
		v.UpdatedAt = &t
	}
	for _, t := range u.Tokens {
		tv := TokenView{ID: t.ID, Name: t.Name, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt}
		if !t.LastUsed.IsZero() {
			at := t.LastUsed
			tv.LastUsed = &at
		}
		v.Tokens = append(v.Tokens, tv)
	}
	return v
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	out := []UserView{}
	if a := s.cfg.Auth; a != nil {
		for _, u := range a.users {
			out = append(out, UserView{Name: u.Name, Role: u.Role, Customer: u.Customer, Kind: "password", Source: "config"})
		}
		for _, t := range a.tokens {
			out = append(out, UserView{Name: t.Name, Role: t.Role, Customer: t.Customer, Kind: "token", Source: "config"})
		}
	}
	if s.cfg.Users != nil {
		us, err := s.cfg.Users.ListUsers(c.UserContext())
		if err != nil {
			return fmt.Errorf("user store: %w", err)
		}
		for _, u := range us {
			out = append(out, storedView(s.cfg.Auth.stored.lastUsed(u)))
		}
	}
	sortBy(out, func(u UserView) string { return u.Kind + "\x00" + u.Name })
	return c.JSON(fiber.Map{"users": out, "store": s.cfg.Users != nil,
		"password_policy": fiber.Map{"min_chars": MinPasswordLength, "max_bytes": maxPasswordBytes}})
}

func (s *Server) needStore() error {
	if s.cfg.Users == nil || s.cfg.Auth == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "no user store is configured (server.user_store or executor.store): users come from the configuration only")
	}
	return nil
}

// findStored returns the stored user of the path's :name (404 if none; a
// configured user is read-only).
func (s *Server) findStored(c *fiber.Ctx) (StoredUser, []StoredUser, error) {
	name := strings.Clone(c.Params("name"))
	us, err := s.cfg.Users.ListUsers(c.UserContext())
	if err != nil {
		return StoredUser{}, nil, fmt.Errorf("user store: %w", err)
	}
	for _, u := range us {
		if u.Name == name {
			return u, us, nil
		}
	}
	if s.cfg.Auth.configured(name) {
		return StoredUser{}, nil, fiber.NewError(fiber.StatusConflict, fmt.Sprintf("user %q is in the configuration (server.users or server.tokens): change it there", name))
	}
	return StoredUser{}, nil, fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("no user %q in the user store", name))
}

// enabledAdmins counts the admins who can log in: the configured ones and
// the enabled stored ones, skipping the stored user named except.
func (s *Server) enabledAdmins(us []StoredUser, except string) int {
	n := 0
	for _, u := range s.cfg.Auth.users {
		if u.Role == RoleAdmin {
			n++
		}
	}
	for _, u := range us {
		if u.Name != except && u.Role == RoleAdmin && !u.Disabled {
			n++
		}
	}
	return n
}

func lastAdmin(field, name, what string) error {
	return fiber.NewError(fiber.StatusConflict, fmt.Sprintf("%s: user %q is the last enabled admin: %s would leave nobody to manage users", field, name, what))
}

func passwordPolicy(probs *problems, pw string) {
	switch {
	case pw == "":
		probs.add("password", "missing (expected at least %d characters)", MinPasswordLength)
	case len([]rune(pw)) < MinPasswordLength:
		probs.add("password", "too short (expected at least %d characters)", MinPasswordLength)
	case len(pw) > maxPasswordBytes:
		probs.add("password", "longer than %d bytes (bcrypt reads no more)", maxPasswordBytes)
	}
}

// checkRole reads a role and its customer.
func checkRole(probs *problems, role, customer string) Role {
	r, err := ParseRole(role)
	if err != nil {
		probs.add("role", "%s", err.Error())
		return ""
	}
	switch {
	case r == RoleCustomer && strings.TrimSpace(customer) == "":
		probs.add("customer", "missing (expected the customer a customer-role user sees, as in sla.services[].customer)")
	case r != RoleCustomer && customer != "":
		probs.add("customer", "only for role customer")
	case len(customer) > 200:
		probs.add("customer", "longer than 200 characters")
	}
	return r
}

func (s *Server) hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.cfg.Auth.cost)
	return string(h), err
}

// saved writes the user, reloads the authenticator and, unless keep, ends
// the user's sessions.
func (s *Server) saved(c *fiber.Ctx, u StoredUser, keepSessions bool) error {
	u = s.cfg.Auth.stored.lastUsed(u)
	if err := s.cfg.Users.PutUser(c.UserContext(), u); err != nil {
		return fmt.Errorf("user store: %w", err)
	}
	return s.reloaded(c, u.Name, keepSessions)
}

func (s *Server) reloaded(c *fiber.Ctx, name string, keepSessions bool) error {
	if !keepSessions {
		s.sessions.deleteUser(name)
	}
	if err := s.LoadUsers(c.UserContext()); err != nil {
		return err
	}
	if !keepSessions {
		s.sessions.deleteUser(name) // a login that raced the change
	}
	return nil
}

// userReq is the input of a user handler: a body decoded strictly (none
// when body is nil) and checked before the store is read.
type userReq struct {
	body  any
	shape string
	check func(*problems)
}

// errUserProblems is a 400 with every problem, from a user handler's step.
type errUserProblems problems

func (e errUserProblems) Error() string { return fmt.Sprint(problems(e)) }

// userCall runs a user handler's steps, answering 400 with the problems a
// step returns as errUserProblems.
func userCall(c *fiber.Ctx, req userReq, s *Server, steps func() error) error {
	err := s.needStore()
	if err == nil && req.body != nil {
		if p := decodeStrict(c.Body(), req.body, req.shape); p != nil {
			err = errUserProblems{*p}
		}
	}
	if err == nil && req.check != nil {
		var probs problems
		req.check(&probs)
		if len(probs) > 0 {
			err = errUserProblems(probs)
		}
	}
	if err == nil {
		err = steps()
	}
	var probs errUserProblems
	if errors.As(err, &probs) {
		return badRequest(c, probs...)
	}
	return err
}

// stamp is who changes a user and when.
type stamp struct {
	by  string
	now time.Time
}

// withStored runs the steps of a handler of the path's stored user: the
// audit names the user, the user exists (us is the whole store).
func (s *Server) withStored(c *fiber.Ctx, req userReq, steps func(u StoredUser, us []StoredUser, st stamp) error) error {
	return userCall(c, req, s, func() error {
		changed(c, "user", strings.Clone(c.Params("name")))
		u, us, err := s.findStored(c)
		if err != nil {
			return err
		}
		return steps(u, us, stamp{by: principalOf(c).Name, now: s.cfg.Now()})
	})
}

// editStored changes the path's stored user: edit changes u and says
// whether the user's sessions are kept; the user is stamped, saved and
// answered with reply (status 200 unless created).
func (s *Server) editStored(c *fiber.Ctx, req userReq, status int, edit func(u *StoredUser, us []StoredUser, st stamp) (keepSessions bool, err error), reply func(StoredUser) any) error {
	return s.withStored(c, req, func(u StoredUser, us []StoredUser, st stamp) error {
		keep, err := edit(&u, us, st)
		if err != nil {
			return err
		}
		u.UpdatedBy, u.UpdatedAt = st.by, st.now
		return s.savedReply(c, u, keep, status, reply)
	})
}

// savedReply is every changing handler's tail: save, reload, answer.
func (s *Server) savedReply(c *fiber.Ctx, u StoredUser, keepSessions bool, status int, reply func(StoredUser) any) error {
	if err := s.saved(c, u, keepSessions); err != nil {
		return err
	}
	return c.Status(status).JSON(reply(u))
}

func viewReply(u StoredUser) any { return storedView(u) }

func (s *Server) createUser(c *fiber.Ctx) error {
	var body struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Customer string `json:"customer"`
		Password string `json:"password"`
	}
	var role Role
	req := userReq{body: &body, shape: `{"name": "bob", "role": "operator", "password": "..."}`, check: func(probs *problems) {
		if !userNameRE.MatchString(body.Name) {
			probs.add("name", "%q is not a user name (expected 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit)", body.Name)
		}
		role = checkRole(probs, body.Role, body.Customer)
		passwordPolicy(probs, body.Password)
	}}
	return userCall(c, req, s, func() error {
		changed(c, "user", body.Name)
		if s.cfg.Auth.configured(body.Name) {
			return fiber.NewError(fiber.StatusConflict, fmt.Sprintf("name: user %q is in the configuration already", body.Name))
		}
		us, err := s.cfg.Users.ListUsers(c.UserContext())
		if err != nil {
			return fmt.Errorf("user store: %w", err)
		}
		for _, u := range us {
			if u.Name == body.Name {
				return fiber.NewError(fiber.StatusConflict, fmt.Sprintf("name: user %q exists already", body.Name))
			}
		}
		hash, err := s.hashPassword(body.Password)
		if err != nil {
			return err
		}
		by, now := principalOf(c).Name, s.cfg.Now()
		u := StoredUser{Name: body.Name, Role: role, Customer: body.Customer, PasswordHash: hash, CreatedBy: by, CreatedAt: now, UpdatedBy: by, UpdatedAt: now}
		changed(c, "role", string(role))
		if body.Customer != "" {
			changed(c, "customer", body.Customer)
		}
		return s.savedReply(c, u, true, fiber.StatusCreated, viewReply)
	})
}

func (s *Server) patchUser(c *fiber.Ctx) error {
	var body struct {
		Role     *string `json:"role"`
		Customer *string `json:"customer"`
		Disabled *bool   `json:"disabled"`
	}
	req := userReq{body: &body, shape: `{"role": "viewer", "customer": "", "disabled": true}`, check: func(probs *problems) {
		if body.Role == nil && body.Customer == nil && body.Disabled == nil {
			probs.add("body", "nothing to change (expected role, customer or disabled)")
		}
	}}
	return s.editStored(c, req, fiber.StatusOK, func(u *StoredUser, us []StoredUser, _ stamp) (bool, error) {
		role, customer := string(u.Role), u.Customer
		if body.Role != nil {
			role = *body.Role
			if Role(role) != RoleCustomer && body.Customer == nil {
				customer = ""
			}
		}
		if body.Customer != nil {
			customer = *body.Customer
		}
		var probs problems
		r := checkRole(&probs, role, customer)
		if len(probs) > 0 {
			return false, errUserProblems(probs)
		}
		disabled := u.Disabled
		if body.Disabled != nil {
			disabled = *body.Disabled
		}
		if u.Role == RoleAdmin && !u.Disabled && (r != RoleAdmin || disabled) && s.enabledAdmins(us, u.Name) == 0 {
			if disabled {
				return false, lastAdmin("disabled", u.Name, "disabling them")
			}
			return false, lastAdmin("role", u.Name, "demoting them")
		}
		if r != u.Role {
			changed(c, "role", fmt.Sprintf("%s -> %s", u.Role, r))
		}
		if customer != u.Customer {
			changed(c, "customer", fmt.Sprintf("%q -> %q", u.Customer, customer))
		}
		if disabled != u.Disabled {
			changed(c, "disabled", disabled)
		}
		keep := r == u.Role && customer == u.Customer && !disabled
		u.Role, u.Customer, u.Disabled = r, customer, disabled
		return keep, nil
	}, viewReply)
}

func (s *Server) resetPassword(c *fiber.Ctx) error {
	var body struct {
		Password string `json:"password"`
	}
	req := userReq{body: &body, shape: `{"password": "..."}`, check: func(probs *problems) { passwordPolicy(probs, body.Password) }}
	return s.editStored(c, req, fiber.StatusOK, func(u *StoredUser, _ []StoredUser, _ stamp) (bool, error) {
		hash, err := s.hashPassword(body.Password)
		if err != nil {
			return false, err
		}
		u.PasswordHash = hash
		changed(c, "password", "reset")
		return false, nil
	}, viewReply)
}

func (s *Server) deleteUser(c *fiber.Ctx) error {
	return s.withStored(c, userReq{}, func(u StoredUser, us []StoredUser, _ stamp) error {
		if u.Role == RoleAdmin && !u.Disabled && s.enabledAdmins(us, u.Name) == 0 {
			return lastAdmin("user", u.Name, "deleting them")
		}
		if err := s.cfg.Users.DeleteUser(c.UserContext(), u.Name); err != nil {
			return fmt.Errorf("user store: %w", err)
		}
		changed(c, "deleted", true)
		if err := s.reloaded(c, u.Name, false); err != nil {
			return err
		}
		return c.JSON(fiber.Map{"deleted": u.Name})
	})
}

// maxTokenName is the longest name of an API token.
const maxTokenName = 64

func (s *Server) issueToken(c *fiber.Ctx) error {
	var body struct {
		Name string `json:"name"`
	}
	req := userReq{shape: `{"name": "grafana"}`, check: func(probs *problems) {
		switch {
		case len([]rune(body.Name)) > maxTokenName:
			probs.add("name", "longer than %d characters", maxTokenName)
		case strings.IndexFunc(body.Name, unicode.IsControl) >= 0:
			probs.add("name", "contains a control character (expected a plain label such as \"grafana\")")
		}
	}}
	if len(bytes.TrimSpace(c.Body())) > 0 { // the body is optional
		req.body = &body
	}
	var token string
	return s.editStored(c, req, fiber.StatusCreated, func(u *StoredUser, _ []StoredUser, st stamp) (bool, error) {
		if len(u.Tokens) >= 20 {
			return false, fiber.NewError(fiber.StatusConflict, fmt.Sprintf("token: user %q has 20 tokens already: revoke one first", u.Name))
		}
		name := strings.TrimSpace(body.Name)
		for _, t := range u.Tokens {
			if name != "" && t.Name == name {
				return false, fiber.NewError(fiber.StatusConflict, fmt.Sprintf("name: user %q has a token named %q already", u.Name, name))
			}
		}
		var sum string
		token, sum = NewToken()
		id := sum[:12]
		u.Tokens = append(u.Tokens, StoredToken{ID: id, Name: name, SHA256: sum, CreatedBy: st.by, CreatedAt: st.now})
		changed(c, "token", "issued "+id)
		if name != "" {
			changed(c, "token_name", name)
		}
		return true, nil
	}, func(u StoredUser) any {
		t := u.Tokens[len(u.Tokens)-1]
		return fiber.Map{"id": t.ID, "name": t.Name, "token": token, "user": u.Name, "note": "shown once: only its SHA-256 is kept"}
	})
}

func (s *Server) revokeToken(c *fiber.Ctx) error {
	id := strings.Clone(c.Params("id"))
	return s.editStored(c, userReq{}, fiber.StatusOK, func(u *StoredUser, _ []StoredUser, _ stamp) (bool, error) {
		kept := u.Tokens[:0:0]
		for _, t := range u.Tokens {
			if t.ID != id {
				kept = append(kept, t)
			}
		}
		if len(kept) == len(u.Tokens) {
			return false, fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("id: user %q has no token %q", u.Name, id))
		}
		u.Tokens = kept
		changed(c, "token", "revoked "+id)
		return true, nil
	}, func(u StoredUser) any { return fiber.Map{"revoked": id, "user": u.Name} })
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

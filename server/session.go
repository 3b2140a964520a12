package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// sessionCookie holds a browser's session token; only its SHA-256 is kept.
const sessionCookie = "setsuden_session"

// csrfHeader carries the session's CSRF token on every mutating call.
const csrfHeader = "X-CSRF-Token"

type session struct {
	principal Principal
	csrf      string
	expires   time.Time
}

// sessions are the browsers logged in, in memory: a restart logs everyone
// out, which is safe.
type sessions struct {
	mu   sync.Mutex
	byID map[[32]byte]*session
	ttl  time.Duration
	now  func() time.Time
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{byID: map[[32]byte]*session{}, ttl: ttl, now: now}
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session and returns the cookie value and CSRF token.
func (s *sessions) create(p Principal) (token string, sess session) {
	token = randomString()
	p.Via = "session"
	sess = session{principal: p, csrf: randomString(), expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.byID {
		if now.After(v.expires) {
			delete(s.byID, k)
		}
	}
	cp := sess
	s.byID[sha256.Sum256([]byte(token))] = &cp
	return token, sess
}

func (s *sessions) get(token string) (session, bool) {
	if token == "" {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sha256.Sum256([]byte(token))
	v, ok := s.byID[key]
	if !ok {
		return session{}, false
	}
	if s.now().After(v.expires) {
		delete(s.byID, key)
		return session{}, false
	}
	return *v, true
}

func (s *sessions) delete(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, sha256.Sum256([]byte(token)))
}

// deleteUser ends every session of a user (removed or changed by an admin).
func (s *sessions) deleteUser(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.byID {
		if v.principal.Name == name {
			delete(s.byID, k)
		}
	}
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

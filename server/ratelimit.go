package server

import (
	"sync"
	"time"
)

// loginLimiter bounds failed password attempts per user name and per
// client address with token buckets: a failure takes a token, and no check
// runs while a bucket is empty. The check is made again once a bcrypt slot
// is free, so parallel guesses are bounded too.
type loginLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// Limits: a user name may fail 5 times, then once per 30 s; an address
// (several people behind one NAT) 20 times, then once per 6 s.
type rate struct {
	burst float64
	every time.Duration
}

var (
	perUser    = rate{burst: 5, every: 30 * time.Second}
	perAddress = rate{burst: 20, every: 6 * time.Second}
)

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{buckets: map[string]*bucket{}, now: now}
}

// allowed says whether both buckets have a token, or how long to wait.
func (l *loginLimiter) allowed(user, addr string) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.allowedLocked(user, addr)
}

func (l *loginLimiter) allowedLocked(user, addr string) (ok bool, retry time.Duration) {
	now := l.now()
	for _, x := range []struct {
		key string
		r   rate
	}{{"u\x00" + user, perUser}, {"a\x00" + addr, perAddress}} {
		b := l.bucket(x.key, x.r, now)
		if b.tokens < 1 {
			ok, retry = false, max(retry, time.Duration((1-b.tokens)*float64(x.r.every)))
		}
	}
	return retry == 0, retry
}

// take is allowed and, when it allows, takes a token from both buckets
// under the same lock: a check that runs is paid for before it runs, so a
// guess admitted while the previous one is between its bcrypt and its
// failure cannot find the token that one is about to spend.
func (l *loginLimiter) take(user, addr string) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, retry = l.allowedLocked(user, addr)
	if ok {
		l.spendLocked(user, addr, 1)
	}
	return ok, retry
}

// refund gives back the tokens of a check that take paid for and that
// succeeded.
func (l *loginLimiter) refund(user, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.spendLocked(user, addr, -1)
}

// fail takes a token from the user's and the address's buckets.
func (l *loginLimiter) fail(user, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.spendLocked(user, addr, 1)
}

func (l *loginLimiter) spendLocked(user, addr string, n float64) {
	now := l.now()
	u, a := l.bucket("u\x00"+user, perUser, now), l.bucket("a\x00"+addr, perAddress, now)
	u.tokens = min(perUser.burst, u.tokens-n)
	a.tokens = min(perAddress.burst, a.tokens-n)
	if len(l.buckets) > 100_000 { // forget the full buckets of a scan
		for k, b := range l.buckets {
			if b.tokens >= perUser.burst {
				delete(l.buckets, k)
			}
		}
	}
}

func (l *loginLimiter) bucket(key string, r rate, now time.Time) *bucket {
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: r.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(r.burst, b.tokens+float64(now.Sub(b.last))/float64(r.every))
	b.last = now
	return b
}

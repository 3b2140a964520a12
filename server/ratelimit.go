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

// fail takes a token from the user's and the address's buckets.
func (l *loginLimiter) fail(user, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.bucket("u\x00"+user, perUser, now).tokens--
	l.bucket("a\x00"+addr, perAddress, now).tokens--
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

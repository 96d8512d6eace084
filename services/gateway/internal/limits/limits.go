// Package limits keeps one principal from taking more than its share of the gateway:
// a request rate per principal and a number of concurrent streams per principal.
package limits

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// idleAfter is how long an unused principal's limiter is kept; a returning principal
// starts with a full bucket, which is what a fresh limiter would give it anyway once
// idle this long.
const idleAfter = 10 * time.Minute

// RateLimiter is a token bucket per principal.
type RateLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	byID      map[string]*entry
	lastSweep time.Time
}

type entry struct {
	lim  *rate.Limiter
	used time.Time
}

// NewRateLimiter allows perSecond requests per principal with bursts of burst. A
// perSecond of zero or less disables the limit (nil limiter).
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(perSecond))
	}
	return &RateLimiter{limit: rate.Limit(perSecond), burst: burst, now: time.Now, byID: map[string]*entry{}}
}

// Allow takes one token for id. When none is left it returns false and how long until
// one will be.
func (r *RateLimiter) Allow(id string) (bool, time.Duration) {
	if r == nil {
		return true, 0
	}
	// The clock is read and the bucket used under one lock, so that concurrent calls
	// reach the bucket in time order (a limiter handed an earlier time than its last
	// credits the interval twice).
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	e, ok := r.byID[id]
	if !ok {
		e = &entry{lim: rate.NewLimiter(r.limit, r.burst)}
		r.byID[id] = e
	}
	e.used = now
	if now.Sub(r.lastSweep) > time.Minute {
		r.sweep(now)
	}
	if e.lim.AllowN(now, 1) {
		return true, 0
	}
	// A refused call takes nothing from the bucket. (Reserving the next token and then
	// cancelling the reservation does not do that: the limiter gives a cancelled token
	// back only when no reservation came after it, so refusals that overlap left the
	// bucket in debt and locked the principal out far longer than the rate says.)
	missing := 1 - e.lim.TokensAt(now)
	return false, max(time.Duration(missing/float64(r.limit)*float64(time.Second)), time.Millisecond)
}

func (r *RateLimiter) sweep(now time.Time) {
	r.lastSweep = now
	for id, e := range r.byID {
		if now.Sub(e.used) > idleAfter {
			delete(r.byID, id)
		}
	}
}

// StreamLimiter counts each principal's open streams.
type StreamLimiter struct {
	max int

	mu   sync.Mutex
	open map[string]int
}

// NewStreamLimiter allows max concurrent streams per principal; max <= 0 means no
// limit (nil limiter).
func NewStreamLimiter(maxStreams int) *StreamLimiter {
	if maxStreams <= 0 {
		return nil
	}
	return &StreamLimiter{max: maxStreams, open: map[string]int{}}
}

// Acquire opens a stream for id; call release when it ends. ok is false when id has
// max streams open already.
func (s *StreamLimiter) Acquire(id string) (release func(), ok bool) {
	if s == nil {
		return func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[id] >= s.max {
		return nil, false
	}
	s.open[id]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.open[id]--; s.open[id] <= 0 {
				delete(s.open, id)
			}
		})
	}, true
}

// Max is the per-principal limit.
func (s *StreamLimiter) Max() int {
	if s == nil {
		return 0
	}
	return s.max
}

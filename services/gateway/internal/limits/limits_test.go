package limits

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	r := NewRateLimiter(2, 3)
	r.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := r.Allow("a"); !ok {
			t.Fatalf("call %d within the burst refused", i)
		}
	}
	ok, retry := r.Allow("a")
	if ok || retry <= 0 || retry > 500*time.Millisecond {
		t.Fatalf("past the burst: ok %v, retry %v; want refused with retry in (0, 500ms]", ok, retry)
	}
	if ok, _ := r.Allow("b"); !ok {
		t.Fatal("another principal refused")
	}
	// A refused call does not eat the next token.
	now = now.Add(500 * time.Millisecond)
	if ok, _ := r.Allow("a"); !ok {
		t.Fatal("refused after the retry delay")
	}
	// Idle limiters are forgotten.
	now = now.Add(idleAfter + 2*time.Minute)
	r.Allow("c")
	r.mu.Lock()
	n := len(r.byID)
	r.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d limiters kept after idling, want 1", n)
	}
	if NewRateLimiter(0, 0) != nil {
		t.Fatal("a zero rate must disable the limit")
	}
	var disabled *RateLimiter
	if ok, _ := disabled.Allow("x"); !ok {
		t.Fatal("a disabled limiter refused")
	}
}

func TestStreamLimiter(t *testing.T) {
	t.Parallel()
	s := NewStreamLimiter(2)
	r1, ok1 := s.Acquire("a")
	_, ok2 := s.Acquire("a")
	_, ok3 := s.Acquire("a")
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("acquire = %v %v %v, want true true false", ok1, ok2, ok3)
	}
	if _, ok := s.Acquire("b"); !ok {
		t.Fatal("another principal refused")
	}
	r1()
	r1() // releasing twice frees one slot only
	if _, ok := s.Acquire("a"); !ok {
		t.Fatal("refused after a release")
	}
	if _, ok := s.Acquire("a"); ok {
		t.Fatal("a double release freed two slots")
	}
}

package limits

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRefusedConcurrentCallsDoNotEatTokens: calls refused by the rate limit must
// not consume the principal's future tokens, also when they arrive concurrently (the
// sequential case is TestRateLimiter's "A refused call does not eat the next token").
// Allow refuses by reserving a token and then cancelling the reservation; x/time/rate's
// CancelAt restores nothing when another reservation was made after the cancelled one,
// so interleaved refusals leave the bucket in debt and lock the principal out for far
// longer than the rate says (and the debt grows with the refused traffic).
//
// The interleaving needs two goroutines between ReserveN and CancelAt at once, so each
// round is a concurrent burst; it takes a few rounds at most on two cores.
func TestRefusedConcurrentCallsDoNotEatTokens(t *testing.T) {
	var nowNanos atomic.Int64
	nowNanos.Store(time.Unix(1_700_000_000, 0).UnixNano())
	r := NewRateLimiter(1, 1) // one call per second, burst 1
	r.now = func() time.Time { return time.Unix(0, nowNanos.Load()) }
	for round := range 50 {
		// The bucket's one token.
		if ok, retry := r.Allow("a"); !ok {
			t.Fatalf("round %d: refused one second after the previous burst: the refused calls left the bucket in debt (retry after %v for a 1/s limit)", round, retry)
		}
		// A burst of concurrent calls in the same instant: all refused, none may take a
		// token.
		const workers, calls = 8, 500
		var wg sync.WaitGroup
		var allowed atomic.Int64
		for range workers {
			wg.Go(func() {
				for range calls {
					if ok, _ := r.Allow("a"); ok {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != 0 {
			t.Fatalf("round %d: %d calls allowed with an empty bucket", round, n)
		}
		// One second later the bucket holds one token again.
		nowNanos.Add(int64(time.Second))
	}
}

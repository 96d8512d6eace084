package benchkit

import (
	"slices"
	"testing"
	"time"
)

// Alternate must give each side the first slot half of the time, or a drift in load
// would always land on the same side.
func TestAlternate(t *testing.T) {
	var order []string
	Alternate(4, func() { order = append(order, "op") }, func() { order = append(order, "base") })
	want := []string{"op", "base", "base", "op", "op", "base", "base", "op"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

func TestPercentileAndRatio(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		lat  []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"median of four is the second", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of four is the last", ms(1, 2, 3, 4), 0.99, 4 * time.Millisecond},
		{"p0 is the first", ms(1, 2, 3, 4), 0, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := Percentile(tt.lat, tt.q); got != tt.want {
			t.Errorf("%s: Percentile = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := Ratio(ms(2, 4, 6, 8), ms(1, 2, 3, 4), 0.5); got != 2 {
		t.Errorf("Ratio = %v, want 2", got)
	}
}

// Compare times both sides, calls each b.N times, and reports the op against the base.
func TestCompare(t *testing.T) {
	var ops, bases int
	res := testing.Benchmark(func(b *testing.B) {
		ops, bases = 0, 0
		Compare(b, "op-", "base-",
			func() error { ops++; time.Sleep(2 * time.Millisecond); return nil },
			func() error { bases++; return nil })
	})
	if ops == 0 || ops != bases || ops != res.N {
		t.Fatalf("op ran %d times, base %d, b.N %d: want each b.N times", ops, bases, res.N)
	}
	for _, m := range []string{"op-p50-ms", "op-p99-ms", "base-p50-ms", "base-p99-ms", "p50-ratio", "p99-ratio"} {
		if _, ok := res.Extra[m]; !ok {
			t.Errorf("metric %s not reported (got %v)", m, res.Extra)
		}
	}
	if res.Extra["op-p50-ms"] < 2 || res.Extra["p50-ratio"] <= 1 {
		t.Errorf("a 2 ms op against a no-op: op p50 %.3f ms, ratio %.1f", res.Extra["op-p50-ms"], res.Extra["p50-ratio"])
	}
}

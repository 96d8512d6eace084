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

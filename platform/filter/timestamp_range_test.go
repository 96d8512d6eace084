package filter

import (
	"testing"
	"time"
)

// TestTimestampOutsideNanosecondRange: a timestamp filter value outside the years
// int64 Unix nanoseconds can hold (1678-2262) must still compare in the right direction.
// `create_time > "1600-01-01"` is true of every stored time, and `< "2300-01-01"` too;
// the bound handed to SQL must therefore be below (resp. above) every representable time.
func TestTimestampOutsideNanosecondRange(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for _, tt := range []struct {
		filter string
		below  bool // the bound must be below now (true) or above it (false)
	}{
		{`when.time > "1600-01-01"`, true},
		{`when.time > "0001-01-01T00:00:00Z"`, true},
		{`when.time < "2300-01-01"`, false},
		{`when.time < "9999-12-31T00:00:00Z"`, false},
	} {
		got, err := Compile(tt.filter, testSchema())
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.filter, err)
		}
		bound := got.Args[0].(int64)
		if tt.below && bound >= now {
			t.Errorf("%s: bound %d (%s) is after 2026: every row from 2026 is wrongly excluded",
				tt.filter, bound, time.Unix(0, bound).UTC().Format(time.RFC3339))
		}
		if !tt.below && bound <= now {
			t.Errorf("%s: bound %d (%s) is before 2026: every row from 2026 is wrongly excluded",
				tt.filter, bound, time.Unix(0, bound).UTC().Format(time.RFC3339))
		}
	}
}

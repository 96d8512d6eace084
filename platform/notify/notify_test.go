package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/notify"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestNotifier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, n *notify.Notifier)
	}{
		{"a notify after taking the channel wakes the reader", func(t *testing.T, n *notify.Notifier) {
			ch := n.Changed()
			if closed(ch) {
				t.Fatal("closed before any Notify")
			}
			n.Notify(1)
			if !closed(ch) {
				t.Fatal("not closed after Notify")
			}
		}},
		{"every reader of a generation is woken", func(t *testing.T, n *notify.Notifier) {
			a, b := n.Changed(), n.Changed()
			n.Notify(1)
			if !closed(a) || !closed(b) {
				t.Fatal("a reader was not woken")
			}
		}},
		{"a new generation starts after a notify", func(t *testing.T, n *notify.Notifier) {
			old := n.Changed()
			n.Notify(1)
			fresh := n.Changed()
			if !closed(old) || closed(fresh) {
				t.Fatal("generations mixed up")
			}
		}},
		{"notifies coalesce and never block without readers", func(t *testing.T, n *notify.Notifier) {
			for i := range 10000 {
				n.Notify(int64(i))
			}
			ch := n.Changed()
			n.Notify(10001)
			n.Notify(10002)
			if !closed(ch) {
				t.Fatal("not woken")
			}
		}},
		{"Last keeps the highest seq", func(t *testing.T, n *notify.Notifier) {
			n.Notify(5)
			n.Notify(3)
			n.Notify(0)
			if got := n.Last(); got != 5 {
				t.Fatalf("Last = %d, want 5", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, notify.New())
		})
	}
}

func TestNilNotifier(t *testing.T) {
	t.Parallel()
	var n *notify.Notifier
	n.Notify(1)
	if n.Changed() != nil || n.Last() != 0 {
		t.Fatal("nil Notifier must be inert")
	}
}

// A reader looping "take channel, read, wait" across many concurrent notifies must always
// observe the final value: no lost wake-up.
func TestNoLostWakeup(t *testing.T) {
	t.Parallel()
	n := notify.New()
	const final = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ch := n.Changed()
			if n.Last() == final { // "read the database"
				return
			}
			<-ch
		}
	}()
	go func() {
		for i := int64(1); i <= final; i++ {
			n.Notify(i)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("reader missed the last notification")
	}
}

// Package notify wakes readers of the change log (Watch streams, the outbox relay) when a
// change commits, instead of having them poll.
//
// A Notifier is a broadcast with generations: a reader takes the current Changed channel
// BEFORE it reads the database and, once caught up, waits on that channel. Notify closes it
// and starts a new generation. A change that commits between the reader's read and its wait
// has therefore already closed the channel the reader holds, so no wake-up is lost; many
// Notify calls before the reader looks coalesce into one; and the writer never blocks,
// however many or slow the readers are.
package notify

import (
	"sync"
)

// Notifier broadcasts "the change log moved" to any number of readers. The zero value is
// ready to use; a nil *Notifier is valid and never fires (readers then rely on their
// fallback timers).
type Notifier struct {
	mu   sync.Mutex
	ch   chan struct{}
	last int64
}

// New returns a Notifier.
func New() *Notifier { return &Notifier{} }

// Notify wakes every reader waiting on the current generation. seq is the change that
// committed (0 when unknown, e.g. after a LISTEN connection was re-established); Last
// reports the highest seq seen.
func (n *Notifier) Notify(seq int64) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if seq > n.last {
		n.last = seq
	}
	if n.ch != nil {
		close(n.ch)
		n.ch = nil // the next Changed call starts a new generation
	}
}

// Changed returns a channel that is closed at the next Notify. Take it before reading, wait on
// it after: see the package comment.
func (n *Notifier) Changed() <-chan struct{} {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

// Last returns the highest seq passed to Notify.
func (n *Notifier) Last() int64 {
	if n == nil {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last
}

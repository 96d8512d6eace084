package tlsfiles

import "time"

// SetCheckInterval lets tests see a change at once (0) or never (a long interval).
func (k *KeyPair) SetCheckInterval(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.checkEvery = d
}

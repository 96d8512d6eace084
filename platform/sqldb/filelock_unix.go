//go:build unix

package sqldb

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// tryLockFile takes an exclusive flock(2) on path. flock locks belong to the open file,
// so two opens in one process exclude each other as two processes do; the in-process
// lock in front spares a second open (and a system call) to a relay that campaigns
// again while its own process already holds the lock.
func tryLockFile(path string) (release func(), ok bool, err error) {
	local, ok := tryLockLocal(path)
	if !ok {
		return nil, false, nil
	}
	f, err := openLockFile(path)
	if err != nil {
		local()
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		local()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("sqldb: lock %s: %w", path, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// Closing the file drops the lock. The file stays: removing it would let a
			// process that opened it just before take a lock on an unlinked file while a
			// third creates and locks a new one.
			_ = f.Close()
			local()
		})
	}, true, nil
}

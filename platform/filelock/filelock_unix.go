//go:build unix

package filelock

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// TryLock takes an exclusive lock on the file at path (created if missing) without
// waiting. ok is false, with no error, when another holder, in this process or another,
// has it; release gives it back and may be called more than once.
//
// The lock is an flock(2). flock locks belong to the open file, so two opens in one
// process exclude each other as two processes do; the in-process lock in front spares a
// second open (and a system call) to a caller that tries again while its own process
// already holds the lock. The file is opened close-on-exec, as Go opens every file, so a
// child process never inherits the lock.
func TryLock(path string) (release func(), ok bool, err error) {
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
		return nil, false, fmt.Errorf("filelock: lock %s: %w", path, err)
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

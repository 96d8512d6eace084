// Package filelock takes exclusive, non-blocking locks on files, for work only one
// process may do at a time on something on disk: one outbox relay per SQLite stream, one
// dev stack per data directory. Where the platform has flock(2) the lock holds across
// processes and the kernel drops it when its process dies, however it dies: a crash or
// a kill -9 never leaves it taken. Elsewhere it holds within this process only.
package filelock

import (
	"fmt"
	"os"
	"sync"
)

// localLocks keeps this process's holders out of each other's way before any file is
// opened, and is the whole lock where the platform has no file locks.
var (
	localMu    sync.Mutex
	localLocks = map[string]bool{}
)

func tryLockLocal(path string) (release func(), ok bool) {
	localMu.Lock()
	defer localMu.Unlock()
	if localLocks[path] {
		return nil, false
	}
	localLocks[path] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			localMu.Lock()
			delete(localLocks, path)
			localMu.Unlock()
		})
	}, true
}

// openLockFile opens (creating) the file a lock lives in. It does not truncate: what a
// holder wrote there (a pid, say) stays readable to those the lock turns away.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("filelock: lock file: %w", err)
	}
	return f, nil
}

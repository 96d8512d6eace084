package sqldb

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// TryLock takes the lock called name on a SQLite database without waiting, for work
// that only one process may do at a time on the file: one outbox relay per stream, and
// a restore against no running service. ok is false when another holder, in this
// process or another, has it; release gives it back. The lock lives in a file beside
// the database ("<db>.<name>.lock"), so it holds across processes (a service and an
// operator's redrive on the same host or volume), and the kernel drops it when its
// process dies: a crash never leaves it taken. Only for SQLite: PostgreSQL callers use
// advisory locks.
func (db *DB) TryLock(name string) (release func(), ok bool, err error) {
	if db.Dialect != SQLite {
		return nil, false, fmt.Errorf("sqldb: TryLock is for SQLite databases, not %s", db.Dialect)
	}
	if name == "" || strings.ContainsAny(name, "/\\\x00") {
		return nil, false, fmt.Errorf("sqldb: lock name %q", name)
	}
	return tryLockFile(db.path + "." + name + ".lock")
}

// localLocks backs tryLockFile where the platform has no file locks: the lock then holds
// within this process only.
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

// openLockFile opens (creating) the file a lock lives in.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqldb: lock file: %w", err)
	}
	return f, nil
}

package sqldb

import (
	"fmt"
	"strings"

	"github.com/guarantor/guarantor/platform/filelock"
)

// TryLock takes the lock called name on a SQLite database without waiting, for work
// that only one process may do at a time on the file: one outbox relay per stream, and
// a restore against no running service. ok is false when another holder, in this
// process or another, has it; release gives it back. The lock lives in a file beside
// the database ("<db>.<name>.lock"), so it holds across processes (a service and an
// operator's redrive on the same host or volume), and the kernel drops it when its
// process dies: a crash never leaves it taken (see package filelock; where the platform
// has no flock(2), it holds within this process only). Only for SQLite: PostgreSQL
// callers use advisory locks.
func (db *DB) TryLock(name string) (release func(), ok bool, err error) {
	if db.Dialect != SQLite {
		return nil, false, fmt.Errorf("sqldb: TryLock is for SQLite databases, not %s", db.Dialect)
	}
	if name == "" || strings.ContainsAny(name, "/\\\x00") {
		return nil, false, fmt.Errorf("sqldb: lock name %q", name)
	}
	release, ok, err = filelock.TryLock(db.path + "." + name + ".lock")
	if err != nil {
		return nil, false, fmt.Errorf("sqldb: %w", err)
	}
	return release, ok, nil
}

//go:build !unix

package filelock

// TryLock, without flock(2), excludes holders within this process only: ok is false
// when another holder in this process has the lock on path; release gives it back and
// may be called more than once. No file is opened.
func TryLock(path string) (release func(), ok bool, err error) {
	release, ok = tryLockLocal(path)
	return release, ok, nil
}

//go:build !unix

package sqldb

// tryLockFile, without flock(2), excludes holders within this process only.
func tryLockFile(path string) (release func(), ok bool, err error) {
	release, ok = tryLockLocal(path)
	return release, ok, nil
}

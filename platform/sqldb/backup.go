package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrBackupUnsupported is Backup's answer for a PostgreSQL database, whose backups belong
// to pg_dump or the server's point-in-time recovery.
var ErrBackupUnsupported = errors.New("sqldb: Backup copies SQLite databases; back up PostgreSQL with pg_dump or point-in-time recovery")

// BackupInfo describes a finished backup.
type BackupInfo struct {
	Path  string // the backup file (absolute)
	Bytes int64  // its size
	// LastSeq and LastTime are the change log's head in the copy: the backup holds every
	// change up to and including LastSeq.
	LastSeq  int64
	LastTime time.Time
}

// String says what the backup holds, for people.
func (i BackupInfo) String() string {
	through := "an empty change log"
	if i.LastSeq > 0 {
		through = fmt.Sprintf("change log through seq %d (%s)", i.LastSeq, i.LastTime.Format(time.RFC3339))
	}
	return fmt.Sprintf("backed up to %s: %s, %s", i.Path, mib(i.Bytes), through)
}

// BackupProgress reports a running backup: Written bytes of the copy so far, of about
// Total (the source's pages in use; the copy may end smaller).
type BackupProgress struct {
	Written, Total int64
}

// String is a progress line, for people.
func (p BackupProgress) String() string {
	return fmt.Sprintf("backup: %s written of about %s", mib(p.Written), mib(p.Total))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Backup writes a consistent copy of a SQLite database to path while the database stays
// in use: SQLite's VACUUM INTO reads one snapshot (writers go on; the WAL grows until it
// ends) and writes it out compacted, without the pages earlier deletes freed. The copy
// is written to a temporary file beside path, synced, checked (PRAGMA quick_check) and
// only then linked into place, so path either does not exist or holds a whole, checked
// backup; an existing path is never overwritten. progress, when not nil, is called about
// once a second while the copy is written.
func (db *DB) Backup(ctx context.Context, path string, progress func(BackupProgress)) (BackupInfo, error) {
	if db.Dialect != SQLite {
		return BackupInfo{}, ErrBackupUnsupported
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: backup path %q: %w", path, err)
	}
	if abs == db.path {
		return BackupInfo{}, fmt.Errorf("sqldb: backup path %s is the database itself", abs)
	}
	if _, err := os.Lstat(abs); err == nil {
		return BackupInfo{}, fmt.Errorf("sqldb: backup path %s already exists", abs)
	}
	var total int64
	if err := db.QueryRowContext(ctx, "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()").Scan(&total); err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: backup size: %w", err)
	}
	// VACUUM INTO wants a file that does not exist or is empty: an empty temporary file
	// with a unique name cannot collide with another backup running beside this one.
	tmp, err := os.CreateTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".*.partial")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: backup: %w", err)
	}
	tmpPath := tmp.Name()
	_ = tmp.Close()
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmpPath)
		}
	}()

	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if progress == nil {
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if fi, err := os.Stat(tmpPath); err == nil {
					progress(BackupProgress{Written: fi.Size(), Total: total})
				}
			}
		}
	}()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", tmpPath)
	close(stop)
	<-watched
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: backup: %w", err)
	}
	// VACUUM INTO does not sync what it wrote.
	if err := syncFile(tmpPath); err != nil {
		return BackupInfo{}, err
	}
	info, err := inspectBackup(ctx, tmpPath)
	if err != nil {
		return BackupInfo{}, err
	}
	// A hard link puts the checked copy in place atomically and, unlike a rename, fails
	// when path appeared meanwhile.
	if err := os.Link(tmpPath, abs); err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: backup: %w", err)
	}
	done = true
	_ = os.Remove(tmpPath)
	if err := syncFile(filepath.Dir(abs)); err != nil {
		return BackupInfo{}, err
	}
	info.Path = abs
	return info, nil
}

// inspectBackup checks a finished copy and reads its change-log head, through a
// connection that can neither write to the file nor leave a WAL beside it.
func inspectBackup(ctx context.Context, path string) (BackupInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: backup: %w", err)
	}
	copyDB, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: open backup: %w", err)
	}
	defer func() { _ = copyDB.Close() }()
	var check string
	if err := copyDB.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: check backup: %w", err)
	}
	if check != "ok" {
		return BackupInfo{}, fmt.Errorf("sqldb: the backup failed its check: %s", check)
	}
	info := BackupInfo{Bytes: fi.Size()}
	var logs int
	if err := copyDB.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'changelog_head'").Scan(&logs); err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: read the backup: %w", err)
	}
	if logs == 0 { // a database without the platform's tables (not a service's)
		return info, nil
	}
	var lastTime int64
	err = copyDB.QueryRowContext(ctx, "SELECT last_seq, last_time FROM changelog_head WHERE id = 1").Scan(&info.LastSeq, &lastTime)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("sqldb: read the backup's change log: %w", err)
	}
	if lastTime != 0 {
		info.LastTime = time.Unix(0, lastTime).UTC()
	}
	return info, nil
}

// syncFile flushes a file or directory to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sqldb: sync %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sqldb: sync %s: %w", path, err)
	}
	return nil
}

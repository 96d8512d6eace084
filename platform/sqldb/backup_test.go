package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// openPlatform opens a SQLite database in dir with the platform's tables.
func openPlatform(t *testing.T, path string) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite://"+path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := sqldb.MigratePlatform(ctx, db); err != nil {
		t.Fatal(err)
	}
	return db
}

// appendChange writes one row of payload and advances the change-log head, in one
// transaction, as a service's write does.
func appendChange(ctx context.Context, db *sqldb.DB, payload []byte) error {
	return db.InTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, "SELECT last_seq + 1 FROM changelog_head WHERE id = 1").Scan(&seq); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO changes (seq, id, resource_name, collection, kind, subject, payload, time)
			VALUES (?, ?, 'things/x', 'things', 'UPDATED', 's', ?, ?)`, seq, "c-"+string(rune('a'+seq%26))+"-"+itoa(seq), payload, seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE changelog_head SET last_seq = ?, last_time = ? WHERE id = 1", seq, seq)
		return err
	})
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// TestBackup copies a database that is being written to: the copy is a checked,
// consistent snapshot (its change-log head names exactly the changes it holds), it
// leaves no temporary file behind, and it never replaces an existing file.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openPlatform(t, filepath.Join(dir, "svc.db"))
	payload := []byte(strings.Repeat("x", 2000))
	for range 2000 {
		if err := appendChange(ctx, db, payload); err != nil {
			t.Fatal(err)
		}
	}
	// Writers go on during the backup.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := appendChange(ctx, db, payload); err != nil {
				t.Error(err)
				return
			}
			written.Add(1)
		}
	}()
	var reports []sqldb.BackupProgress
	to := filepath.Join(dir, "backups", "svc-1.db")
	if err := os.Mkdir(filepath.Dir(to), 0o750); err != nil {
		t.Fatal(err)
	}
	info, err := db.Backup(ctx, to, func(p sqldb.BackupProgress) { reports = append(reports, p) })
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if written.Load() == 0 {
		t.Log("no write landed during the backup")
	}
	if info.Path != to || info.LastSeq < 2000 || info.Bytes == 0 {
		t.Fatalf("info = %+v, want path %s, last seq at least 2000", info, to)
	}
	for _, p := range reports {
		if p.Total <= 0 || p.Written < 0 {
			t.Errorf("progress %+v", p)
		}
	}

	// The copy opens as a service database and holds exactly the changes its head names.
	cp := openPlatform(t, to)
	var n, maxSeq, head int64
	if err := cp.QueryRowContext(ctx, "SELECT count(*), coalesce(max(seq), 0) FROM changes").Scan(&n, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if err := cp.QueryRowContext(ctx, "SELECT last_seq FROM changelog_head").Scan(&head); err != nil {
		t.Fatal(err)
	}
	if n != info.LastSeq || maxSeq != info.LastSeq || head != info.LastSeq {
		t.Fatalf("copy holds %d changes up to seq %d with head %d; the backup reported %d", n, maxSeq, head, info.LastSeq)
	}

	entries, err := os.ReadDir(filepath.Dir(to))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), "partial") {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	t.Run("never overwrites", func(t *testing.T) {
		before, err := os.ReadFile(to)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Backup(ctx, to, nil); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("backup over an existing file: err = %v", err)
		}
		after, err := os.ReadFile(to)
		if err != nil {
			t.Fatal(err)
		}
		if string(before) != string(after) {
			t.Fatal("the existing file changed")
		}
	})
	t.Run("not onto itself", func(t *testing.T) {
		if _, err := db.Backup(ctx, filepath.Join(dir, "svc.db"), nil); err == nil {
			t.Fatal("backup onto the database itself succeeded")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		to := filepath.Join(dir, "backups", "cancelled.db")
		if _, err := db.Backup(cctx, to, nil); err == nil {
			t.Fatal("a cancelled backup succeeded")
		}
		if _, err := os.Stat(to); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a cancelled backup left %s: %v", to, err)
		}
	})
}

func TestBackupRefusesPostgres(t *testing.T) {
	db := &sqldb.DB{Dialect: sqldb.Postgres}
	if _, err := db.Backup(context.Background(), filepath.Join(t.TempDir(), "x.db"), nil); !errors.Is(err, sqldb.ErrBackupUnsupported) {
		t.Fatalf("err = %v, want ErrBackupUnsupported", err)
	}
}

// TestTryLock: a lock excludes other holders in this process and through another open
// of the same database (as another process would), and is free again once released.
func TestTryLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "svc.db")
	a := openPlatform(t, path)
	b := openPlatform(t, path)

	release, ok, err := a.TryLock("relay-S")
	if err != nil || !ok {
		t.Fatalf("first TryLock: ok %v, err %v", ok, err)
	}
	if _, ok, err := b.TryLock("relay-S"); err != nil || ok {
		t.Fatalf("second holder: ok %v, err %v; want refused", ok, err)
	}
	if r, ok, err := b.TryLock("relay-T"); err != nil || !ok {
		t.Fatalf("another lock name: ok %v, err %v", ok, err)
	} else {
		r()
	}
	release()
	release() // idempotent
	r, ok, err := b.TryLock("relay-S")
	if err != nil || !ok {
		t.Fatalf("after release: ok %v, err %v", ok, err)
	}
	r()
	for _, bad := range []string{"", "a/b", "a\x00b"} {
		if _, _, err := a.TryLock(bad); err == nil {
			t.Errorf("TryLock(%q) accepted", bad)
		}
	}
}

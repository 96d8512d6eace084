package outbox

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// EnsureCursor creates the stream's relay cursor at 0 unless it exists. Compaction
// never deletes an entry past the lowest cursor, so a service creates its cursor before
// its first compaction: otherwise a history compacted before the relay first ran would
// lose changes the stream never received.
func EnsureCursor(ctx context.Context, db *sqldb.DB, stream string) error {
	_, err := loadCursor(ctx, db, stream)
	return err
}

// loadCursor returns the last seq known to be in the stream, creating the row at 0.
func loadCursor(ctx context.Context, db *sqldb.DB, stream string) (int64, error) {
	_, err := db.ExecContext(ctx, db.Rebind(
		"INSERT INTO outbox_cursor (stream, last_seq) VALUES (?, 0) ON CONFLICT (stream) DO NOTHING"), stream)
	if err != nil {
		return 0, fmt.Errorf("outbox: init cursor: %w", err)
	}
	var seq int64
	if err := db.QueryRowContext(ctx, db.Rebind("SELECT last_seq FROM outbox_cursor WHERE stream = ?"), stream).Scan(&seq); err != nil {
		return 0, fmt.Errorf("outbox: read cursor: %w", err)
	}
	return seq, nil
}

// advanceCursor moves the cursor forward to seq; it never moves it back, so a relay that lost
// its leadership without noticing yet cannot undo a newer leader's progress.
//
// It goes through InTx so that on SQLite it queues for the process's writer slot like any
// other write, instead of spinning in SQLite's busy handler while writers keep winning.
func advanceCursor(ctx context.Context, db *sqldb.DB, stream string, seq int64) error {
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.Rebind(
			"UPDATE outbox_cursor SET last_seq = ? WHERE stream = ? AND last_seq < ?"), seq, stream, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("outbox: save cursor: %w", err)
	}
	return nil
}

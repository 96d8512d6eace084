package outbox

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// ErrNotLeader is returned by Redrive when a relay for the stream is running (holds the
// leadership): stop it first, so the two do not interleave their publishes.
var ErrNotLeader = errors.New("outbox: another relay holds the stream's leadership")

// leadership is one term as the stream's only publisher.
type leadership struct {
	// lost is closed when the term ends without release being called (PostgreSQL: the lock
	// session failed its health check).
	lost    <-chan struct{}
	release func()
}

// tryLead attempts to become the stream's publisher without waiting; ok is false when another
// relay holds it.
//   - PostgreSQL: a session-level advisory lock on a connection taken out of the pool for the
//     term. The server releases it when the session ends, so a crashed replica never blocks
//     the others. The session is pinged every check interval; when a ping fails the term is
//     lost, because the server may already have handed the lock to another replica.
//   - SQLite: a lock file beside the database (sqldb.TryLock), so that a redrive run as its
//     own process while the service runs on the same file is refused, as on PostgreSQL.
func tryLead(ctx context.Context, db *sqldb.DB, stream string, check time.Duration) (l *leadership, ok bool, err error) {
	switch db.Dialect {
	case sqldb.Postgres:
		return tryLeadPostgres(ctx, db, stream, check)
	case sqldb.SQLite:
		release, ok, err := db.TryLock("relay-" + stream)
		if err != nil || !ok {
			return nil, false, err
		}
		return &leadership{release: release}, true, nil
	default:
		return nil, false, fmt.Errorf("outbox: unsupported dialect %s", db.Dialect)
	}
}

func tryLeadPostgres(ctx context.Context, db *sqldb.DB, stream string, check time.Duration) (*leadership, bool, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("outbox: leadership connection: %w", err)
	}
	var locked bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", lockKey(stream)).Scan(&locked); err != nil {
		discard(conn)
		return nil, false, fmt.Errorf("outbox: pg_try_advisory_lock: %w", err)
	}
	if !locked {
		_ = conn.Close() // holds no lock: fine to return to the pool
		return nil, false, nil
	}
	lost := make(chan struct{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(check)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(context.Background(), check)
				err := conn.PingContext(pctx)
				cancel()
				if err != nil {
					close(lost)
					return
				}
			}
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(stop)
			<-done
			// Unlock explicitly: the server frees a closed session's locks only once its backend
			// has exited, a moment after the client hangs up, and a successor (or Redrive) should
			// not have to wait for that. Then end the session anyway: should the unlock have
			// failed, a pooled session would keep holding the lock.
			uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = conn.ExecContext(uctx, "SELECT pg_advisory_unlock($1)", lockKey(stream))
			cancel()
			discard(conn)
		})
	}
	return &leadership{lost: lost, release: release}, true, nil
}

// discard closes conn's session instead of returning it to the pool.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// lockKey is the advisory lock key of a stream's relay.
func lockKey(stream string) int64 { return sqldb.AdvisoryKey("outbox:" + stream) }

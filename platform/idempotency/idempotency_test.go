package idempotency_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/idempotency"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

func save(ctx context.Context, db *sqldb.DB, rec idempotency.Record) error {
	return db.InTx(ctx, func(tx *sql.Tx) error { return idempotency.Save(ctx, tx, db, rec) })
}

func TestSaveLookup(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		first := idempotency.Record{
			Principal: "user:alice", RequestID: "r1", Method: "/guarantor.events.v1.EventsService/CreateEvent",
			Response: []byte("first answer"), Fingerprint: "abc",
		}
		if err := save(ctx, db, first); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, principal, requestID string
			wantFound                  bool
		}{
			{"stored", "user:alice", "r1", true},
			{"other request id", "user:alice", "r2", false},
			{"same request id, other principal", "user:bob", "r1", false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, found, err := idempotency.Lookup(ctx, db, tt.principal, tt.requestID)
				if err != nil {
					t.Fatal(err)
				}
				if found != tt.wantFound {
					t.Fatalf("found = %v, want %v", found, tt.wantFound)
				}
				if found && (got.Method != first.Method || string(got.Response) != string(first.Response) ||
					got.Fingerprint != first.Fingerprint || got.CreatedAt.IsZero()) {
					t.Fatalf("got %+v, want %+v", got, first)
				}
			})
		}
		t.Run("second save is ErrExists and keeps the first answer", func(t *testing.T) {
			second := first
			second.Response = []byte("second answer")
			if err := save(ctx, db, second); !errors.Is(err, idempotency.ErrExists) {
				t.Fatalf("err = %v, want ErrExists", err)
			}
			got, _, err := idempotency.Lookup(ctx, db, "user:alice", "r1")
			if err != nil || string(got.Response) != "first answer" {
				t.Fatalf("Lookup = %q, %v; want the first answer", got.Response, err)
			}
		})
		t.Run("rolled back with its transaction", func(t *testing.T) {
			boom := errors.New("mutation failed")
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				if err := idempotency.Save(ctx, tx, db, idempotency.Record{RequestID: "r3", Method: "M"}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if _, found, _ := idempotency.Lookup(ctx, db, "", "r3"); found {
				t.Fatal("record survived the rollback")
			}
		})
		t.Run("rejects incomplete records", func(t *testing.T) {
			if err := save(ctx, db, idempotency.Record{RequestID: "x"}); err == nil {
				t.Fatal("record without Method accepted")
			}
		})
		t.Run("Purge", func(t *testing.T) {
			old := idempotency.Record{RequestID: "old", Method: "M", CreatedAt: time.Now().Add(-48 * time.Hour)}
			if err := save(ctx, db, old); err != nil {
				t.Fatal(err)
			}
			// More than one batch of old records, so the loop is exercised.
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				for i := range idempotency.PurgeBatch + 10 {
					rec := idempotency.Record{Principal: "user:bob", RequestID: fmt.Sprintf("old-%d", i), Method: "M", CreatedAt: time.Now().Add(-25 * time.Hour)}
					if err := idempotency.Save(ctx, tx, db, rec); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			n, err := idempotency.Purge(ctx, db, time.Now().Add(-24*time.Hour))
			if want := int64(idempotency.PurgeBatch + 11); err != nil || n != want {
				t.Fatalf("Purge = %d, %v; want %d", n, err, want)
			}
			if _, found, _ := idempotency.Lookup(ctx, db, "user:bob", "old-3"); found {
				t.Fatal("old record of the first batch still there")
			}
			if _, found, _ := idempotency.Lookup(ctx, db, "", "old"); found {
				t.Fatal("old record still there")
			}
			if _, found, _ := idempotency.Lookup(ctx, db, "user:alice", "r1"); !found {
				t.Fatal("recent record purged")
			}
		})
	})
}

// Two concurrent requests with one request_id: the one that commits second must get ErrExists
// (and then return the first one's answer), never a second effect.
func TestConcurrentTwins(t *testing.T) {
	sqldbtest.ForEachDialect(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		rec := idempotency.Record{Principal: "p", RequestID: "twin", Method: "M", Response: []byte("one")}
		tx1, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := idempotency.Save(ctx, tx1, db, rec); err != nil {
			t.Fatal(err)
		}
		second := make(chan error, 1)
		go func() {
			twin := rec
			twin.Response = []byte("two")
			second <- save(ctx, db, twin) // blocks on tx1's lock until it commits
		}()
		if err := tx1.Commit(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-second:
			if !errors.Is(err, idempotency.ErrExists) {
				t.Fatalf("twin: err = %v, want ErrExists", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("twin never finished")
		}
		got, _, err := idempotency.Lookup(ctx, db, "p", "twin")
		if err != nil || string(got.Response) != "one" {
			t.Fatalf("Lookup = %q, %v; want the first answer", got.Response, err)
		}
	})
}

// Package changelog is a service's change log: every mutation is appended, inside the
// mutation's own transaction, as an entry with a gapless sequence number in commit order.
// It is the source of truth for history, "as of" reads, the outbox relay and Watch.
//
// Payloads are opaque bytes: the service marshals its own Change message (see Record.Encode).
package changelog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// NotifyChannel is the PostgreSQL NOTIFY channel Append signals on (payload: the new seq).
// NOTIFY is scoped to the database, and each service owns its database, so one name suffices.
const NotifyChannel = "guarantor_changelog"

// ErrCompacted means the history asked for was removed by Compact. Watch maps it to
// OUT_OF_RANGE: the client lists again and watches from the list's version.
var ErrCompacted = errors.New("changelog: history compacted")

// Record is what a service appends. Seq, ID and Time are assigned by Append.
type Record struct {
	// IDPrefix names the service ("events"): entry IDs are IDPrefix-seq ("events-42"). They are
	// also the JetStream Nats-Msg-Id, so they must be unique across the services that publish
	// into one NATS account.
	IDPrefix     string
	ResourceName string // e.g. "events/123"
	Collection   string // e.g. "events": lets a watcher filter without decoding
	Kind         string // e.g. "created", "updated", "deleted"
	Subject      string // the NATS subject the relay publishes the payload on
	Principal    string
	RequestID    string
	TraceParent  string // W3C traceparent of the request that made the change

	// Encode returns the payload, given the values Append assigned, so the service can marshal
	// its Change message with its own sequence, id and time.
	Encode func(seq int64, id string, t time.Time) ([]byte, error)
}

// Entry is a stored change.
type Entry struct {
	Seq          int64
	ID           string
	ResourceName string
	Collection   string
	Kind         string
	Subject      string
	Payload      []byte
	Principal    string
	RequestID    string
	TraceParent  string
	Time         time.Time
}

// LockHead makes tx wait its turn among the log's appenders before it reads what it is
// about to change. A write that reads a row, checks it (etag, lifecycle, references)
// and writes it back must read it after every earlier writer has committed, or it
// checks a stale row and overwrites a committed change. On PostgreSQL, at READ
// COMMITTED, that means taking Append's lock on the head row first: each later
// statement of tx then sees every write committed before. On SQLite the transaction
// began with BEGIN IMMEDIATE and already holds the only write lock.
func LockHead(ctx context.Context, tx *sql.Tx, db *sqldb.DB) error {
	if db.Dialect != sqldb.Postgres {
		return nil
	}
	var seq int64
	if err := db.QueryRowCached(ctx, tx, "SELECT last_seq FROM changelog_head WHERE id = 1 FOR UPDATE").Scan(&seq); err != nil {
		return fmt.Errorf("changelog: lock head: %w", err)
	}
	return nil
}

// Append adds rec to the log inside the caller's transaction tx (begun on db), so the change
// commits or vanishes with the mutation it describes.
//
// It locks the single head row, so concurrent appenders serialise from here until their
// commit: that is what makes sequence numbers gapless and in commit order, so a reader that
// has seen everything up to seq n can never later find a change <= n appear. Call Append as
// late as possible in the transaction to keep that critical section short. Times are made
// strictly increasing along the sequence (a clock step back is absorbed), which keeps AsOf
// well defined.
//
// On PostgreSQL it also queues pg_notify(NotifyChannel, seq), delivered at commit to listeners
// on every replica. Callers signal their own process with notify.Notifier after commit.
func Append(ctx context.Context, tx *sql.Tx, db *sqldb.DB, rec Record) (Entry, error) {
	if err := rec.validate(); err != nil {
		return Entry{}, err
	}
	headQuery := "SELECT last_seq, last_time FROM changelog_head WHERE id = 1"
	if db.Dialect == sqldb.Postgres {
		headQuery += " FOR UPDATE"
	}
	// On SQLite the transaction began with BEGIN IMMEDIATE (sqldb.Open sets _txlock), so it
	// already holds the database's only write lock.
	var lastSeq, lastTime int64
	if err := db.QueryRowCached(ctx, tx, headQuery).Scan(&lastSeq, &lastTime); err != nil {
		return Entry{}, fmt.Errorf("changelog: read head: %w", err)
	}
	now := time.Now().UnixNano()
	if now <= lastTime {
		now = lastTime + 1
	}
	e := Entry{
		Seq:          lastSeq + 1,
		ResourceName: rec.ResourceName,
		Collection:   rec.Collection,
		Kind:         rec.Kind,
		Subject:      rec.Subject,
		Principal:    rec.Principal,
		RequestID:    rec.RequestID,
		TraceParent:  rec.TraceParent,
		Time:         time.Unix(0, now).UTC(),
	}
	e.ID = rec.IDPrefix + "-" + strconv.FormatInt(e.Seq, 10)
	payload, err := rec.Encode(e.Seq, e.ID, e.Time)
	if err != nil {
		return Entry{}, fmt.Errorf("changelog: encode %s: %w", e.ID, err)
	}
	if payload == nil {
		payload = []byte{} // the column is NOT NULL; an empty payload is still a payload
	}
	e.Payload = payload
	args := []any{e.Seq, e.ID, e.ResourceName, e.Collection, e.Kind, e.Subject, e.Payload,
		e.Principal, e.RequestID, e.TraceParent, now}
	if db.Dialect == sqldb.Postgres {
		// The change, the head and the notification in one statement (PostgreSQL runs
		// every data-modifying WITH, referenced or not): on PostgreSQL each statement is a
		// round trip, taken while every other writer waits for the head.
		args = append(args, e.Seq, now, NotifyChannel, strconv.FormatInt(e.Seq, 10))
		if _, err := db.ExecCached(ctx, tx, `WITH c AS (INSERT INTO changes `+changeColumns+` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)),
			h AS (UPDATE changelog_head SET last_seq = ?, last_time = ? WHERE id = 1)
			SELECT pg_notify(?, ?)`, args...); err != nil {
			return Entry{}, fmt.Errorf("changelog: append %s: %w", e.ID, err)
		}
		return e, nil
	}
	if _, err := db.ExecCached(ctx, tx, `INSERT INTO changes `+changeColumns+` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
		return Entry{}, fmt.Errorf("changelog: insert %s: %w", e.ID, err)
	}
	if _, err := db.ExecCached(ctx, tx, "UPDATE changelog_head SET last_seq = ?, last_time = ? WHERE id = 1", e.Seq, now); err != nil {
		return Entry{}, fmt.Errorf("changelog: bump head: %w", err)
	}
	return e, nil
}

// changeColumns are the columns Append writes, in the order of its arguments.
const changeColumns = "(seq, id, resource_name, collection, kind, subject, payload, principal, request_id, trace_parent, time)"

func (r Record) validate() error {
	switch {
	case r.IDPrefix == "":
		return errors.New("changelog: record without IDPrefix")
	case r.ResourceName == "":
		return errors.New("changelog: record without ResourceName")
	case r.Collection == "":
		return errors.New("changelog: record without Collection")
	case r.Kind == "":
		return errors.New("changelog: record without Kind")
	case r.Subject == "":
		return errors.New("changelog: record without Subject")
	case r.Encode == nil:
		return errors.New("changelog: record without Encode")
	case !strings.HasPrefix(r.ResourceName, r.Collection+"/"):
		// LatestAt finds a collection's changes as a range of resource names.
		return fmt.Errorf("changelog: resource %q is not in collection %q", r.ResourceName, r.Collection)
	}
	return nil
}
